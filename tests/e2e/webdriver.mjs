// A minimal W3C WebDriver client over global fetch (Node 20), enough to drive the Berth window
// through tauri-driver + WebKitWebDriver. No dependencies on purpose: nothing to `npm ci`.

const ELEMENT = "element-6066-11e4-a52e-4f735466cecf";

export const Keys = { ENTER: "\uE007", ESCAPE: "\uE00C" };

export class WebDriverError extends Error {
  constructor(method, path, status, value) {
    super(`${method} ${path} -> ${status}: ${value?.error ?? "?"}: ${value?.message ?? JSON.stringify(value)}`);
    this.status = status;
    this.error = value?.error;
  }
}

async function call(base, method, path, body, timeoutMs = 60_000) {
  const res = await fetch(base + path, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json; charset=utf-8" },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  let json;
  try {
    json = text ? JSON.parse(text) : {};
  } catch {
    throw new WebDriverError(method, path, res.status, { error: "bad json", message: text.slice(0, 500) });
  }
  if (!res.ok) throw new WebDriverError(method, path, res.status, json.value);
  return json.value;
}

/** Poll `fn` until it returns a truthy value (returned) or `timeoutMs` passes (throws with
 *  the last value / error, and `what` to say what we were waiting for). An error with
 *  `fatal: true` stops the polling at once. */
export async function waitFor(what, fn, { timeoutMs = 10_000, intervalMs = 100 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  let lastErr;
  for (;;) {
    try {
      last = await fn();
      lastErr = undefined;
      if (last) return last;
    } catch (e) {
      if (e.fatal) throw e; // the condition can never come true: stop polling
      lastErr = e;
    }
    if (Date.now() > deadline) {
      const detail = lastErr ? `last error: ${lastErr.message}` : `last value: ${JSON.stringify(last)}`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${detail})`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Wait until a WebDriver server answers GET /status. */
export async function waitForServer(base, timeoutMs = 10_000) {
  return waitFor(`WebDriver server at ${base}`, async () => {
    const res = await fetch(base + "/status", { signal: AbortSignal.timeout(1000) });
    return res.ok;
  }, { timeoutMs, intervalMs: 50 });
}

export class Session {
  /** Start a session. `capabilities` goes into alwaysMatch (tauri-driver maps tauri:options). */
  static async create(base, capabilities) {
    const value = await call(base, "POST", "/session", { capabilities: { alwaysMatch: capabilities, firstMatch: [{}] } }, 120_000);
    return new Session(base, value.sessionId, value.capabilities);
  }

  constructor(base, id, capabilities) {
    this.base = base;
    this.id = id;
    this.capabilities = capabilities;
  }

  cmd(method, path, body) {
    return call(this.base, method, `/session/${this.id}${path}`, body);
  }

  async delete() {
    await call(this.base, "DELETE", `/session/${this.id}`);
  }

  /** CSS selector by default; pass using = "xpath" for text matches. Throws if absent. */
  async find(selector, using = "css selector") {
    return (await this.cmd("POST", "/element", { using, value: selector }))[ELEMENT];
  }

  async findAll(selector, using = "css selector") {
    return (await this.cmd("POST", "/elements", { using, value: selector })).map((e) => e[ELEMENT]);
  }

  /** Wait until the selector matches (and, by default, the element is displayed). */
  async waitForElement(selector, { timeoutMs = 10_000, using = "css selector", displayed = true } = {}) {
    return waitFor(`element ${selector}`, async () => {
      const els = await this.findAll(selector, using);
      for (const el of els) if (!displayed || (await this.displayed(el))) return el;
      return null;
    }, { timeoutMs });
  }

  click(el) {
    return this.cmd("POST", `/element/${el}/click`, {});
  }
  clear(el) {
    return this.cmd("POST", `/element/${el}/clear`, {});
  }
  sendKeys(el, text) {
    return this.cmd("POST", `/element/${el}/value`, { text });
  }
  text(el) {
    return this.cmd("GET", `/element/${el}/text`);
  }
  attribute(el, name) {
    return this.cmd("GET", `/element/${el}/attribute/${encodeURIComponent(name)}`);
  }
  property(el, name) {
    return this.cmd("GET", `/element/${el}/property/${encodeURIComponent(name)}`);
  }
  enabled(el) {
    return this.cmd("GET", `/element/${el}/enabled`);
  }
  displayed(el) {
    return this.cmd("GET", `/element/${el}/displayed`);
  }

  /** Run `script` (a function body; use `arguments[i]`) in the page and return its value. */
  execute(script, args = []) {
    return this.cmd("POST", "/execute/sync", { script, args });
  }

  /** Like execute, but the script calls its last argument (a callback) with the result. */
  executeAsync(script, args = []) {
    return this.cmd("POST", "/execute/async", { script, args });
  }

  title() {
    return this.cmd("GET", "/title");
  }

  /** PNG of the webview as a Buffer. */
  async screenshot() {
    return Buffer.from(await this.cmd("GET", "/screenshot"), "base64");
  }
}
