// The Files listing store against the fake backend: order and hidden files, the selection by
// click (plain, ctrl, shift) and by keyboard moves, pruning on reload, and going up a folder.
import { afterEach, describe, expect, it } from "vitest";
import { clearMocks } from "@tauri-apps/api/mocks";
import { installFakeBackend } from "../../ipc/fake";
import { FileBrowser } from "./browser.svelte";

const names = (b: FileBrowser) => b.visible.map((e) => e.name);
const selectedNames = (b: FileBrowser) => b.selection.map((e) => e.name);
const keys = (k: Partial<{ shiftKey: boolean; ctrlKey: boolean; metaKey: boolean }> = {}) => ({ shiftKey: false, ctrlKey: false, metaKey: false, ...k });

describe("FileBrowser", () => {
  afterEach(() => clearMocks());

  it("lists directories first in natural order, hidden files on request, sorts by a column", async () => {
    installFakeBackend();
    const b = new FileBrowser(() => "atlas");
    await b.load();
    expect(names(b).slice(0, 3)).toEqual(["etc-link", "notes", "projects"]);
    expect(names(b)).not.toContain(".cache");
    b.showHidden = true;
    expect(names(b)).toContain(".cache");
    b.setSort("name");
    expect(b.ascending).toBe(false);
    expect(b.sortMark("name")).toBe(" ▼");
    expect(b.sortMark("size")).toBe("");
  });

  it("selects by click, ctrl-click and shift ranges, and by keyboard moves", async () => {
    installFakeBackend();
    const b = new FileBrowser(() => "atlas");
    await b.load();
    b.click(keys(), 1);
    expect(selectedNames(b)).toEqual(["notes"]);
    b.click(keys({ shiftKey: true }), 3);
    expect(selectedNames(b)).toEqual(["notes", "projects", "agent.py"]);
    b.click(keys({ ctrlKey: true }), 2);
    expect(selectedNames(b)).toEqual(["notes", "agent.py"]);
    expect([b.cursor, b.anchor]).toEqual([2, 2]);
    b.moveTo(0, true);
    expect(selectedNames(b)).toEqual(["etc-link", "notes", "projects"]);
    b.moveTo(4, false);
    expect(selectedNames(b)).toEqual(["bundle.tar.gz"]);
    b.selectAll();
    expect(b.selection.length).toBe(b.visible.length);
  });

  it("keeps the selection that still exists on reload; going elsewhere clears it", async () => {
    installFakeBackend();
    const b = new FileBrowser(() => "atlas");
    await b.load();
    b.click(keys(), 1);
    await b.load();
    expect(selectedNames(b)).toEqual(["notes"]);
    b.go("/data/notes");
    await new Promise((r) => setTimeout(r, 50));
    expect(b.cwd).toBe("/data/notes");
    expect(names(b)).toEqual(["file2.txt", "file10.txt", "todo.txt"]);
    expect(b.selection).toEqual([]);
    b.up();
    expect(b.cwd).toBe("/data");
  });
});
