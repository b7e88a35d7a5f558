//! Mock versions for the mock backend: numbers max+1 never reused, a tree (rollback moves the
//! current position, saving before it by default), delete refused while others build on a
//! version, and a made-up "changes since" list. `?versions=unsupported` pretends the backend has
//! no native snapshots.
import { AppError } from "./errors";
import type { VersionInfo } from "./generated/VersionInfo";
import type { VersionList } from "./generated/VersionList";
import type { WorkspaceState } from "./generated/WorkspaceState";

type Args = Record<string, unknown>;

interface FakeVersions {
  list: VersionInfo[];
  last: number;
  current: number | null;
  dirty: boolean;
}

export function fakeVersionCommands(
  stateOf: (bot: string) => WorkspaceState | undefined,
  delay: (ms: number) => Promise<void>,
  search: string = typeof location === "undefined" ? "" : location.search,
) {
  const q = new URLSearchParams(search);
  const supported = q.get("versions") !== "unsupported";
  // Apple Container: versions are archives of /data.
  const onlyData = q.get("backend") === "apple" ? "Versions are archives of /data here: changes elsewhere in the workspace are not captured." : null;
  const byBot = new Map<string, FakeVersions>();
  const of = (bot: unknown): FakeVersions => {
    const name = String(bot);
    const state = stateOf(name);
    if (state === undefined) throw new AppError("NotFound", `no bot named "${name}"`);
    if (state === "absent") throw new AppError("NotFound", `${name} has no workspace; create one first`);
    let v = byBot.get(name);
    if (!v) byBot.set(name, (v = { list: [], last: 0, current: null, dirty: true }));
    return v;
  };
  const need = () => {
    if (!supported) throw new AppError("Unsupported", "this container backend has no native snapshots yet");
  };
  const find = (v: FakeVersions, n: unknown) => {
    const found = v.list.find((x) => x.version === Number(n));
    if (!found) throw new AppError("NotFound", `no version ${n}`);
    return found;
  };
  const view = (v: FakeVersions): VersionList => ({
    available: supported,
    unavailableReason: supported ? null : "this container backend has no native snapshots yet",
    current: v.current,
    unsavedBytes: onlyData ? null : v.dirty ? 24_576 : 0,
    onlyData,
    versions: v.list.map((x) => ({
      ...x,
      current: x.version === v.current,
      children: v.list.filter((c) => c.parent === x.version).map((c) => c.version),
    })),
  });
  const save = (v: FakeVersions, name: string | null, source: VersionInfo["source"]): VersionInfo => {
    const n = ++v.last;
    const info: VersionInfo = {
      version: n,
      name,
      displayName: name ?? `Version ${n}`,
      source,
      createdAt: new Date().toISOString(),
      size: 4096 * (n + 3),
      parent: v.current,
      children: [],
      current: true,
      missing: false,
    };
    v.list.push(info);
    v.current = n;
    v.dirty = false;
    return info;
  };

  return {
    version_list: (a: Args) => view(of(a.bot)),
    version_save: async (a: Args) => {
      need();
      const v = of(a.bot);
      await delay(400);
      const name = typeof a.name === "string" && a.name.trim() ? a.name.trim() : null;
      return save(v, name, "manual");
    },
    version_rollback: async (a: Args) => {
      need();
      const v = of(a.bot);
      const target = find(v, a.version);
      await delay(500);
      const saved = a.save && v.dirty ? save(v, `before rollback to v${target.version}`, "before-rollback").version : null;
      v.current = target.version;
      v.dirty = false;
      return { rolledBackTo: target.version, saved, state: stateOf(String(a.bot)) };
    },
    version_rename: (a: Args) => {
      const v = of(a.bot);
      const x = find(v, a.version);
      const name = typeof a.name === "string" && a.name.trim() ? a.name.trim() : null;
      x.name = name;
      x.displayName = name ?? `Version ${x.version}`;
      return view(v).versions.find((y) => y.version === x.version);
    },
    version_delete: (a: Args) => {
      const v = of(a.bot);
      const x = find(v, a.version);
      const on = v.list.filter((c) => c.parent === x.version).map((c) => `v${c.version}`);
      if (v.current === x.version) on.push("the workspace's current state");
      if (on.length) throw new AppError("Conflict", `v${x.version} cannot be deleted because ${on.join(" and ")} build on it; delete those first`);
      v.list = v.list.filter((y) => y !== x);
      return null;
    },
    version_changes: (a: Args) => {
      const v = of(a.bot);
      const x = find(v, a.version);
      const changes =
        x.version === v.current && !v.dirty
          ? []
          : [
              { path: "/data/notes.md", kind: "modified", isDir: false, size: 1834 },
              { path: "/data/new-skill.py", kind: "added", isDir: false, size: 912 },
              { path: "/data/old.log", kind: "deleted", isDir: false, size: 20480 },
            ];
      return { version: x.version, changes, truncated: false, elapsedMs: 3 };
    },
  };
}
