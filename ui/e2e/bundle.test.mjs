// The production bundle must not contain the fake backend, and no build may need inline script
// (the app's CSP forbids it). Expects `npm run build` and `npm run build:mock` to have run.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { UI_DIR } from "./harness.mjs";

const MARKER = "berth-fake-backend:";

async function filesUnder(dir) {
  const out = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(join(entry.parentPath ?? entry.path, entry.name));
  }
  return out;
}

async function containsMarker(dir) {
  for (const file of await filesUnder(dir)) {
    if ((await readFile(file, "utf8")).includes(MARKER)) return file;
  }
  return null;
}

for (const name of ["dist", "dist-mock"]) {
  test(`${name} exists`, () => {
    assert.ok(existsSync(join(UI_DIR, name, "index.html")), `run the build that makes ui/${name} first`);
  });
}

test("the production bundle has no fake backend", async () => {
  assert.equal(await containsMarker(join(UI_DIR, "dist")), null);
});

test("the mock bundle does have it (so the check above can see the marker)", async () => {
  assert.notEqual(await containsMarker(join(UI_DIR, "dist-mock")), null);
});

test("index.html has no inline script", async () => {
  for (const name of ["dist", "dist-mock"]) {
    const html = await readFile(join(UI_DIR, name, "index.html"), "utf8");
    const scripts = html.match(/<script\b[^>]*>/g) ?? [];
    assert.ok(scripts.length > 0);
    for (const tag of scripts) assert.match(tag, /\ssrc=/, `${name}: inline script ${tag}`);
    assert.doesNotMatch(html, /\son[a-z]+=/i, `${name}: inline event handler`);
  }
});
