//! Mock files for the mock backend: an in-memory tree per bot with the same rules as
//! the bridge (read-only /opt/berth and /run/berth, `/` not deletable, revisions, rename without
//! overwrite refused), chunked uploads, watch notifications after every change, and a
//! `fakeDrop()` helper for tests. Only for `vite --mode mock`, vitest and the mock e2e tests.
import { emit } from "@tauri-apps/api/event";
import { AppError } from "./errors";
import type { FileInfo } from "./generated/FileInfo";
import type { WorkspaceState } from "./generated/WorkspaceState";

type Args = Record<string, unknown>;
type Internals = { runCallback: (id: number, data: unknown) => void };

interface Node {
  kind: "file" | "dir" | "symlink";
  data: Uint8Array;
  mode: number;
  mtime: number;
  target?: string;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

async function sha(bytes: Uint8Array): Promise<string> {
  const h = await crypto.subtle.digest("SHA-256", bytes as BufferSource);
  return "sha256:" + [...new Uint8Array(h)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function norm(p: unknown): string {
  const s = String(p ?? "");
  if (!s.startsWith("/")) throw new AppError("InvalidArgument", `${JSON.stringify(s)} is not a container path`);
  const out: string[] = [];
  for (const part of s.split("/")) {
    if (!part || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return "/" + out.join("/");
}

const parent = (p: string) => (p === "/" ? "/" : p.slice(0, p.lastIndexOf("/")) || "/");
const base = (p: string) => (p === "/" ? "/" : p.slice(p.lastIndexOf("/") + 1));
const join = (d: string, n: unknown) => {
  const name = String(n ?? "");
  if (!name || name.includes("/") || name === "." || name === "..") throw new AppError("InvalidArgument", `"${name}" is not a valid name`);
  return d === "/" ? `/${name}` : `${d}/${name}`;
};
const readOnly = (p: string) => ["/opt/berth", "/run/berth"].some((r) => p === r || p.startsWith(r + "/"));

function seed(): Map<string, Node> {
  const t = Date.now();
  const fs = new Map<string, Node>();
  const dir = (p: string, age = 0) => fs.set(p, { kind: "dir", data: new Uint8Array(), mode: 0o755, mtime: t - age });
  const file = (p: string, text: string, age = 0) => fs.set(p, { kind: "file", data: enc.encode(text), mode: 0o644, mtime: t - age });
  for (const d of ["/", "/data", "/etc", "/tmp", "/opt", "/opt/berth", "/run", "/run/berth", "/data/notes", "/data/projects", "/data/.cache"]) dir(d);
  file("/data/README.md", "# My bot\n\nFiles the bot works on live in /data.\n", 3_600_000);
  file("/data/config.json", '{\n  "model": "small",\n  "temperature": 0.2\n}\n', 86_400_000);
  file("/data/agent.py", "def main():\n    print('hello from the bot')\n\nif __name__ == '__main__':\n    main()\n", 7_200_000);
  file("/data/notes/todo.txt", "- read the docs\n- ship it\n");
  file("/data/notes/file2.txt", "two\n");
  file("/data/notes/file10.txt", "ten\n");
  file("/data/bundle.tar.gz", "not really an archive");
  file("/etc/hostname", "bot\n");
  fs.set("/data/etc-link", { kind: "symlink", data: new Uint8Array(), mode: 0o777, mtime: t, target: "/etc" });
  return fs;
}

export function fakeFileCommands(stateOf: (bot: string) => WorkspaceState | undefined, internals: () => Internals) {
  const trees = new Map<string, Map<string, Node>>();
  const watches = new Map<string, { bot: string; paths: string[]; channel: number; index: number }>();
  const uploads = new Map<string, { bot: string; path: string; chunks: Uint8Array[] }>();
  const dropped = new Map<string, string[]>();
  let seq = 0;

  const tree = (bot: unknown): Map<string, Node> => {
    const name = String(bot);
    const state = stateOf(name);
    if (state === undefined) throw new AppError("NotFound", `no bot named "${name}"`);
    if (state !== "running") throw new AppError("Conflict", `${name}'s workspace is not running; start it first`);
    let t = trees.get(name);
    if (!t) trees.set(name, (t = seed()));
    return t;
  };
  const resolve = (fs: Map<string, Node>, p: string): string => {
    // follow a symlink at any component (the mock has only absolute link targets)
    const parts = p.split("/").filter(Boolean);
    let cur = "/";
    for (const part of parts) {
      cur = cur === "/" ? `/${part}` : `${cur}/${part}`;
      const n = fs.get(cur);
      if (n?.kind === "symlink" && n.target) cur = n.target;
    }
    return cur;
  };
  const info = (fs: Map<string, Node>, p: string): FileInfo => {
    const n = fs.get(p);
    if (!n) throw new AppError("NotFound", `cannot stat "${p}": No such file or directory`);
    const target = n.kind === "symlink" ? fs.get(resolve(fs, p)) : undefined;
    return {
      path: p,
      name: base(p),
      lossy: false,
      kind: n.kind,
      size: n.kind === "dir" ? 4096 : n.kind === "symlink" ? (n.target ?? "").length : n.data.length,
      mode: n.mode,
      modifiedMs: n.mtime,
      linkTarget: n.target ?? null,
      targetKind: target ? target.kind : null,
      uid: 0,
      gid: 0,
    };
  };
  const writable = (p: string) => {
    if (readOnly(p)) throw new AppError("InvalidArgument", `"${p}" is read-only: /opt/berth and /run/berth are Berth's own mounts`);
  };
  const children = (fs: Map<string, Node>, dir: string) =>
    [...fs.keys()].filter((k) => k !== "/" && parent(k) === dir);
  const changed = (bot: string, paths: string[]) => {
    for (const w of watches.values()) {
      if (w.bot !== bot) continue;
      const hit = paths.filter((p) => w.paths.includes(parent(p)) || w.paths.includes(p));
      if (hit.length) internals().runCallback(w.channel, { index: w.index++, message: { paths: hit, overflow: false } });
    }
  };
  const put = async (bot: string, fs: Map<string, Node>, path: string, data: Uint8Array) => {
    const real = resolve(fs, path);
    writable(real);
    const old = fs.get(real);
    if (old?.kind === "dir") throw new AppError("InvalidArgument", `"${real}" is a directory`);
    if (!fs.has(parent(real))) throw new AppError("NotFound", `the directory "${parent(real)}" does not exist`);
    fs.set(real, { kind: "file", data, mode: old?.mode ?? 0o644, mtime: Date.now() });
    changed(bot, [real]);
    return { info: info(fs, real), revision: await sha(data) };
  };

  /** Simulates a change made inside the workspace (a bot, a terminal). */
  const external = async (bot: string, path: string, text: string) => {
    const fs = tree(bot);
    await put(bot, fs, norm(path), enc.encode(text));
  };

  const commands: Record<string, (a: Args) => unknown> = {
    files_list: (a) => {
      const fs = tree(a.bot);
      const p = resolve(fs, norm(a.path));
      const n = fs.get(p);
      if (!n) throw new AppError("NotFound", `cannot list "${p}": No such file or directory`);
      if (n.kind !== "dir") throw new AppError("InvalidArgument", `"${p}" is not a directory`);
      return { dir: info(fs, norm(a.path)), entries: children(fs, p).map((c) => ({ ...info(fs, c), path: norm(a.path) === p ? c : `${norm(a.path)}/${base(c)}` })) };
    },
    files_stat: (a) => info(tree(a.bot), norm(a.path)),
    files_read_text: async (a) => {
      const fs = tree(a.bot);
      const p = resolve(fs, norm(a.path));
      const n = fs.get(p);
      if (!n) throw new AppError("NotFound", `"${p}" does not exist`);
      if (n.kind === "dir") throw new AppError("InvalidArgument", `"${p}" is a directory`);
      return { info: info(fs, norm(a.path)), content: dec.decode(n.data), revision: await sha(n.data) };
    },
    files_read_bytes: (a) => {
      const fs = tree(a.bot);
      const n = fs.get(resolve(fs, norm(a.path)));
      if (!n) throw new AppError("NotFound", "no such file");
      return [...n.data];
    },
    files_save_text: async (a) => {
      const fs = tree(a.bot);
      const p = resolve(fs, norm(a.path));
      if (a.expectedRevision) {
        const n = fs.get(p);
        const now = n ? await sha(n.data) : "deleted";
        if (now !== a.expectedRevision) throw new AppError("Conflict", `"${p}" changed on disk since it was read`);
      }
      return put(String(a.bot), fs, p, enc.encode(String(a.content)));
    },
    files_create: async (a) => {
      const fs = tree(a.bot);
      const p = join(norm(a.dir), a.name);
      if (fs.has(p)) throw new AppError("AlreadyExists", `"${p}" already exists`);
      return put(String(a.bot), fs, p, new Uint8Array());
    },
    files_mkdir: (a) => {
      const fs = tree(a.bot);
      const p = join(norm(a.dir), a.name);
      writable(p);
      if (fs.has(p)) throw new AppError("AlreadyExists", `${a.name} already exists`);
      fs.set(p, { kind: "dir", data: new Uint8Array(), mode: 0o755, mtime: Date.now() });
      changed(String(a.bot), [p]);
      return info(fs, p);
    },
    files_rename: (a) => commands.files_move({ bot: a.bot, from: a.path, to: join(parent(norm(a.path)), a.newName), overwrite: a.overwrite }),
    files_move: (a) => {
      const fs = tree(a.bot);
      const from = norm(a.from);
      const to = norm(a.to);
      writable(from);
      writable(to);
      if (!fs.has(from)) throw new AppError("NotFound", `"${from}" does not exist`);
      if (fs.has(to) && !a.overwrite) throw new AppError("AlreadyExists", `"${to}" already exists (use overwrite to replace it)`);
      for (const k of [...fs.keys()]) {
        if (k === from || k.startsWith(from + "/")) {
          const n = fs.get(k)!;
          fs.delete(k);
          fs.set(to + k.slice(from.length), n);
        }
      }
      changed(String(a.bot), [from, to]);
      return info(fs, to);
    },
    files_delete: (a) => {
      const fs = tree(a.bot);
      for (const raw of a.paths as string[]) {
        const p = norm(raw);
        if (p === "/") throw new AppError("InvalidArgument", "cannot delete the root directory /");
        writable(p);
        if (children(fs, p).length && !a.recursive) throw new AppError("InvalidArgument", `"${p}" is not empty`);
        for (const k of [...fs.keys()]) if (k === p || k.startsWith(p + "/")) fs.delete(k);
        changed(String(a.bot), [p]);
      }
      return null;
    },
    files_extract: (a) => {
      const fs = tree(a.bot);
      const p = norm(a.path);
      const dir = p.replace(/\.(tar\.gz|tgz|zip)$/i, "");
      if (dir === p) throw new AppError("InvalidArgument", `"${p}" is not a .tar.gz, .tgz or .zip archive`);
      if (fs.has(dir)) throw new AppError("AlreadyExists", `"${dir}" already exists`);
      fs.set(dir, { kind: "dir", data: new Uint8Array(), mode: 0o755, mtime: Date.now() });
      fs.set(`${dir}/extracted.txt`, { kind: "file", data: enc.encode("from the archive\n"), mode: 0o644, mtime: Date.now() });
      changed(String(a.bot), [dir]);
      return { dir, files: 1, dirs: 1 };
    },
    files_existing: (a) => {
      const fs = tree(a.bot);
      return (a.names as string[]).filter((n) => fs.has(join(norm(a.dir), n)));
    },
    files_watch: (a) => {
      tree(a.bot);
      const id = `watch-${++seq}`;
      watches.set(id, { bot: String(a.bot), paths: (a.paths as string[]).map(norm), channel: (a.onChange as { id: number }).id, index: 0 });
      return id;
    },
    files_cancel: (a) => {
      watches.delete(String(a.id));
      return null;
    },
    files_upload_begin: (a) => {
      const fs = tree(a.bot);
      const dir = norm(a.dir);
      let p = join(dir, a.name);
      if (fs.has(p)) {
        if (a.onExists === "skip") return null;
        if (a.onExists === "fail") throw new AppError("AlreadyExists", `"${p}" already exists`);
        if (a.onExists === "keep-both") {
          const name = String(a.name);
          const dot = name.lastIndexOf(".");
          for (let n = 2; fs.has(p); n++) p = join(dir, dot > 0 ? `${name.slice(0, dot)} (${n})${name.slice(dot)}` : `${name} (${n})`);
        }
      }
      writable(p);
      const id = `upload-${++seq}`;
      uploads.set(id, { bot: String(a.bot), path: p, chunks: [] });
      return id;
    },
    // mockIPC does not pass headers: a chunk belongs to the most recently begun upload.
    files_upload_chunk: (a) => fakeUploadChunk(a, undefined),
    files_upload_end: async (a) => {
      const u = uploads.get(String(a.id));
      uploads.delete(String(a.id));
      if (!u) throw new AppError("NotFound", "no such upload");
      if (a.abort) return null;
      const all = new Uint8Array(u.chunks.reduce((s, c) => s + c.length, 0));
      let o = 0;
      for (const c of u.chunks) {
        all.set(c, o);
        o += c.length;
      }
      return put(u.bot, tree(u.bot), u.path, all);
    },
    files_drop_conflicts: (a) => commands.files_existing({ bot: a.bot, dir: a.dir, names: dropped.get(String(a.dropId)) ?? [] }),
    files_upload_dropped: async (a) => {
      const names = dropped.get(String(a.dropId));
      if (!names) throw new AppError("NotFound", "that drop is gone; drop the files again");
      dropped.delete(String(a.dropId));
      const ch = (a.onProgress as { id: number }).id;
      let index = 0;
      let done = 0;
      let skipped = 0;
      for (const [i, name] of names.entries()) {
        const fs = tree(a.bot);
        const p = join(norm(a.destDir), name);
        if (fs.has(p) && a.onExists === "skip") {
          skipped++;
          internals().runCallback(ch, { index: index++, message: { id: i + 1, target: p, name, state: "skipped", done: 0, total: 0, error: "already exists: skipped" } });
          continue;
        }
        const data = enc.encode(`dropped ${name}\n`);
        internals().runCallback(ch, { index: index++, message: { id: i + 1, target: p, name, state: "running", done: 0, total: data.length, error: null } });
        await put(String(a.bot), fs, p, data);
        done++;
        internals().runCallback(ch, { index: index++, message: { id: i + 1, target: p, name, state: "done", done: data.length, total: data.length, error: null } });
      }
      return { done, skipped, failed: 0, bytes: 0, cancelled: false };
    },
    files_download: async (a) => {
      const ch = (a.onProgress as { id: number }).id;
      const name = String(a.suggestedName);
      internals().runCallback(ch, { index: 0, message: { id: 1, target: `~/Downloads/${name}`, name, state: "done", done: 1, total: 1, error: null } });
      return { done: 1, skipped: 0, failed: 0, bytes: 1, cancelled: false };
    },
  };

  /** Pretends the OS dropped `names` on the window. */
  const fakeDrop = (names: string[], x = 1, y = 1) => {
    const dropId = `drop-${++seq}`;
    dropped.set(dropId, names);
    void emit("files://drop", { dropId, names, x, y });
    return dropId;
  };
  /** The raw-body chunk path (mockIPC hands a Uint8Array payload and the headers). */
  const fakeUploadChunk = (payload: unknown, headers: Record<string, string> | undefined) => {
    const id = headers?.["x-upload-id"] ?? [...uploads.keys()].pop();
    const u = id ? uploads.get(id) : undefined;
    if (!u) throw new AppError("NotFound", "no such upload");
    u.chunks.push(payload instanceof Uint8Array ? payload : new Uint8Array(payload as ArrayBuffer));
    return null;
  };
  return { commands, fakeDrop, fakeUploadChunk, external };
}
