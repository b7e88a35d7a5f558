import { describe, expect, it } from "vitest";
import type { FileInfo } from "../ipc/files";
import {
  breadcrumbs,
  displayName,
  iconFor,
  isArchive,
  languageFor,
  lineDiff,
  naturalCompare,
  nextIndex,
  normalisePath,
  parentOf,
  relativeTime,
  sortEntries,
} from "./util";

const f = (name: string, kind: FileInfo["kind"] = "file", extra: Partial<FileInfo> = {}): FileInfo => ({
  path: `/d/${name}`,
  name,
  lossy: false,
  kind,
  size: 0,
  mode: 0o644,
  modifiedMs: 0,
  linkTarget: null,
  targetKind: null,
  uid: 0,
  gid: 0,
  ...extra,
});

describe("files util", () => {
  it("orders naturally with directories (and links to them) first", () => {
    const list = [f("file10"), f("b", "dir"), f("File2"), f("link", "symlink", { targetKind: "dir" }), f("a")];
    expect(sortEntries(list, "name", true).map((e) => e.name)).toEqual(["b", "link", "a", "File2", "file10"]);
    expect(sortEntries(list, "name", false).map((e) => e.name)).toEqual(["link", "b", "file10", "File2", "a"]);
    expect(naturalCompare("x9", "x10")).toBeLessThan(0);
  });

  it("sorts by size and time within the files", () => {
    const list = [f("big", "file", { size: 10 }), f("small", "file", { size: 1 }), f("d", "dir", { size: 99 })];
    expect(sortEntries(list, "size", true).map((e) => e.name)).toEqual(["d", "small", "big"]);
    expect(sortEntries(list, "size", false).map((e) => e.name)).toEqual(["d", "big", "small"]);
  });

  it("knows languages, images and archives", () => {
    expect(languageFor("main.rs")).toBe("rust");
    expect(languageFor("notes.txt")).toBe("text");
    expect(languageFor("Makefile")).toBe("text");
    expect(languageFor("photo.png")).toBeNull();
    expect(isArchive("x.tar.gz") && isArchive("y.TGZ") && isArchive("z.zip")).toBe(true);
    expect(isArchive("x.gz")).toBe(false);
    expect(iconFor(f("l", "symlink", { targetKind: null }))).toBe("broken");
    expect(iconFor(f("x.py"))).toBe("code");
    expect(iconFor(f("d", "symlink", { targetKind: "dir" }))).toBe("folder");
  });

  it("splits paths into breadcrumbs and normalises typed paths", () => {
    expect(breadcrumbs("/data/a b")).toEqual([
      { label: "/", path: "/" },
      { label: "data", path: "/data" },
      { label: "a b", path: "/data/a b" },
    ]);
    expect(breadcrumbs("/")).toEqual([{ label: "/", path: "/" }]);
    expect(breadcrumbs("hex:ff", "x")[1]).toEqual({ label: "x", path: "hex:ff" });
    expect(normalisePath(" data//x/../y/ ")).toBe("/data/y");
    expect(normalisePath("/../..")).toBe("/");
    expect(parentOf("/data/x")).toBe("/data");
    expect(parentOf("/")).toBe("/");
    expect(parentOf("hex:ff")).toBeNull();
  });

  it("shows control characters escaped and times relatively", () => {
    expect(displayName("a\nb\tc")).toBe("a\\nb\\tc");
    expect(relativeTime(1_000_000 - 10_000, 1_000_000)).toBe("just now");
    expect(relativeTime(0, 3 * 3600 * 1000)).toBe("3 h ago");
  });

  it("moves the cursor with keys", () => {
    expect(nextIndex("ArrowDown", 0, 3)).toBe(1);
    expect(nextIndex("ArrowDown", 2, 3)).toBe(2);
    expect(nextIndex("Home", 2, 3)).toBe(0);
    expect(nextIndex("x", 0, 3)).toBeNull();
  });

  it("diffs lines", () => {
    expect(lineDiff("a\nb\nc", "a\nx\nc")).toEqual([
      [" ", "a"],
      ["-", "b"],
      ["+", "x"],
      [" ", "c"],
    ]);
  });
});
