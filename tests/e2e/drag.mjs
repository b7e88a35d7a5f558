// A real drag and drop onto the app under Xvfb: a small GTK drag source
// (tests/e2e/drag-source.c) offering a file or folder, moved by xdotool onto the Berth window, so
// the drop goes through the app's native drop handler as a file manager's would.
import { spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { HERE, log, which } from "./harness.mjs";
import { waitFor } from "./webdriver.mjs";

/** Compiles tests/e2e/drag-source.c; null when that is not possible here. */
export function buildDragSource(app) {
  const cc = which("cc");
  if (!cc || !which("pkg-config") || !which("xdotool")) return null;
  const flags = spawnSync("pkg-config", ["--cflags", "--libs", "gtk+-3.0"], { encoding: "utf8" });
  if (flags.status !== 0) return null;
  const out = join(app.tmp, "drag-source");
  const r = spawnSync(cc, ["-o", out, join(HERE, "drag-source.c"), ...flags.stdout.trim().split(/\s+/)], { encoding: "utf8" });
  if (r.status !== 0) {
    log(`drag source did not build: ${r.stderr}`);
    return null;
  }
  return out;
}

/** Shows the drag source at the top-left corner and drags `file` from it to the middle of the
 *  Berth window with xdotool (press, move in steps, release), as a user with a file manager. */
export async function dragOntoApp(app, source, file) {
  const child = spawn(source, [file], { env: app.env, stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  try {
    await waitFor("the drag source", () => out.includes("ready"), { timeoutMs: 10_000 });
    const geo = spawnSync("xdotool", ["search", "--name", "^Berth$", "getwindowgeometry", "--shell"], { encoding: "utf8", env: app.env }).stdout;
    const num = (k) => Number(new RegExp(`^${k}=(\\d+)`, "m").exec(geo)?.[1] ?? 0);
    const [x, y] = [num("X") + Math.round(num("WIDTH") * 0.6), num("Y") + Math.round(num("HEIGHT") * 0.6)];
    const xdo = (...a) => spawnSync("xdotool", a, { env: app.env });
    xdo("mousemove", "80", "80");
    xdo("mousedown", "1");
    for (let i = 1; i <= 20; i++) {
      xdo("mousemove", String(Math.round(80 + ((x - 80) * i) / 20)), String(Math.round(80 + ((y - 80) * i) / 20)));
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 300));
    xdo("mouseup", "1");
    await waitFor("the drop to end", () => out.includes("dropped"), { timeoutMs: 10_000 }).catch(() => log("drag source: no drag-end"));
  } finally {
    child.kill();
  }
}
