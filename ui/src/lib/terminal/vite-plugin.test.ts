// @vitest-environment node
// The real xterm.js module loads under a frozen Object.prototype (Tauri's `freezePrototype`)
// only after the build-time rewrite; without it, loading throws. Runs Node in a child process
// so the freeze cannot affect the test runner.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { xtermFrozenPrototype } from "./vite-plugin";

const require = createRequire(import.meta.url);

function loadsFrozen(file: string): string {
  const script = `Object.freeze(Object.prototype); Object.freeze(Function.prototype);
    try { await import(${JSON.stringify(file)}); console.log("ok"); } catch (e) { console.log(String(e)); }`;
  return execFileSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" }).trim();
}

describe("xterm under freezePrototype", () => {
  it("fails as shipped and loads once rewritten", () => {
    const id = require.resolve("@xterm/xterm").replace(/xterm\.js$/, "xterm.mjs");
    const code = readFileSync(id, "utf8");
    const plugin = xtermFrozenPrototype();
    const ctx = { error: (m: string) => { throw new Error(m); } };
    const transform = plugin.transform as (this: typeof ctx, code: string, id: string) => { code: string } | null;
    const out = transform.call(ctx, code, id);
    expect(out).not.toBeNull();
    expect(transform.call(ctx, code, "/x/other.js")).toBeNull();

    const dir = mkdtempSync(join(tmpdir(), "berth-xterm-"));
    try {
      writeFileSync(join(dir, "orig.mjs"), code);
      writeFileSync(join(dir, "fixed.mjs"), out!.code);
      expect(loadsFrozen(join(dir, "orig.mjs"))).toMatch(/read only property 'toString'/);
      expect(loadsFrozen(join(dir, "fixed.mjs"))).toBe("ok");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
