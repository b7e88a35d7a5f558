//! Pure helpers of the Files tab: ordering, kinds, icons, breadcrumbs. Paths are the tokens Rust
//! sends (`/…` or `hex:…`); only UTF-8 paths (starting with `/`) are split into breadcrumbs.
import type { FileInfo } from "../ipc/files";

export type SortKey = "name" | "size" | "modified" | "type";

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });

/** Natural order: `file2` before `file10`, case-insensitive. */
export function naturalCompare(a: string, b: string): number {
  return collator.compare(a, b) || (a < b ? -1 : a > b ? 1 : 0);
}

export const isDirLike = (e: FileInfo) => e.kind === "dir" || (e.kind === "symlink" && e.targetKind === "dir");
export const isHidden = (e: FileInfo) => e.name.startsWith(".");

export function extensionOf(name: string): string {
  const i = name.lastIndexOf(".");
  return i > 0 ? name.slice(i + 1).toLowerCase() : "";
}

/** Directories first, then by the key; name breaks ties. */
export function sortEntries(entries: FileInfo[], key: SortKey, ascending: boolean): FileInfo[] {
  const dir = ascending ? 1 : -1;
  const by = (a: FileInfo, b: FileInfo): number => {
    switch (key) {
      case "size":
        return a.size - b.size;
      case "modified":
        return a.modifiedMs - b.modifiedMs;
      case "type":
        return naturalCompare(typeLabel(a), typeLabel(b));
      default:
        return 0;
    }
  };
  return [...entries].sort((a, b) => {
    const d = Number(isDirLike(b)) - Number(isDirLike(a));
    if (d !== 0) return d;
    return dir * (by(a, b) || naturalCompare(a.name, b.name));
  });
}

const IMAGE = new Set(["png", "jpg", "jpeg", "gif", "webp", "svg", "ico", "bmp", "avif"]);
const ARCHIVE_RE = /\.(tar\.gz|tgz|zip)$/i;
const TEXT_NAMES = new Set(["dockerfile", "makefile", "license", "readme", ".gitignore", ".env", ".bashrc", ".profile"]);
const LANG: Record<string, string> = {
  js: "javascript", mjs: "javascript", cjs: "javascript", jsx: "javascript", ts: "typescript", tsx: "typescript",
  py: "python", json: "json", md: "markdown", markdown: "markdown", html: "html", htm: "html", svelte: "html",
  vue: "html", xml: "html", css: "css", scss: "css", yaml: "yaml", yml: "yaml", rs: "rust",
};
const PLAIN = new Set(["txt", "log", "env", "lock", "csv", "tsv", "ini", "cfg", "conf", "toml", "sh", "bash", "zsh",
  "go", "c", "h", "cpp", "hpp", "java", "kt", "rb", "php", "sql", "lua", "pl", "r", "swift", "gitignore", "service"]);

export const isImage = (name: string) => IMAGE.has(extensionOf(name));
export const isArchive = (name: string) => ARCHIVE_RE.test(name);

/** The editor language for a name; `"text"` for plain text, `null` when not text at all. */
export function languageFor(name: string): string | null {
  const ext = extensionOf(name);
  if (LANG[ext]) return LANG[ext];
  if (PLAIN.has(ext) || TEXT_NAMES.has(name.toLowerCase()) || ext === "") return "text";
  return null;
}

export function typeLabel(e: FileInfo): string {
  if (e.kind === "dir") return "folder";
  if (e.kind === "symlink") return "link";
  if (e.kind === "other") return "special";
  return extensionOf(e.name) || "file";
}

export type IconKind = "folder" | "file" | "code" | "image" | "archive" | "link" | "broken" | "special";

/** Which icon a row gets (drawn by FileIcon.svelte). */
export function iconFor(e: FileInfo): IconKind {
  if (e.kind === "symlink") return e.targetKind === null ? "broken" : e.targetKind === "dir" ? "folder" : "link";
  if (e.kind === "dir") return "folder";
  if (e.kind === "other") return "special";
  if (isImage(e.name)) return "image";
  if (isArchive(e.name)) return "archive";
  const lang = languageFor(e.name);
  if (lang && lang !== "text") return "code";
  return "file";
}

export interface Crumb {
  label: string;
  path: string;
}

/** `/data/a b` → `/`, `data`, `a b`. A `hex:` token yields one crumb labelled by `name`. */
export function breadcrumbs(path: string, name = "…"): Crumb[] {
  if (!path.startsWith("/")) return [{ label: "/", path: "/" }, { label: name, path }];
  const parts = path.split("/").filter(Boolean);
  const out: Crumb[] = [{ label: "/", path: "/" }];
  parts.forEach((p, i) => out.push({ label: p, path: "/" + parts.slice(0, i + 1).join("/") }));
  return out;
}

/** The parent of a UTF-8 path (`/` stays `/`); `null` for `hex:` tokens. */
export function parentOf(path: string): string | null {
  if (!path.startsWith("/")) return null;
  const parts = path.split("/").filter(Boolean);
  parts.pop();
  return "/" + parts.join("/");
}

/** Normalises what the user typed in the path bar: absolute, `.`/`..` resolved, no trailing `/`. */
export function normalisePath(input: string): string {
  const out: string[] = [];
  for (const p of input.trim().split("/")) {
    if (!p || p === ".") continue;
    if (p === "..") out.pop();
    else out.push(p);
  }
  return "/" + out.join("/");
}

/** "just now", "5 min ago", "3 h ago", "2 d ago", then a date after 30 days. */
export function relativeTime(ms: number, now = Date.now(), locale = "en"): string {
  const s = Math.round((now - ms) / 1000);
  if (s < 45) return "just now";
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  if (s < 30 * 86400) return `${Math.round(s / 86400)} d ago`;
  return new Intl.DateTimeFormat(locale, { dateStyle: "medium" }).format(new Date(ms));
}

/** A display name safe for one line: control characters shown escaped (`\n`). */
export function displayName(name: string): string {
  // eslint-disable-next-line no-control-regex
  return name.replace(/[\u0000-\u001f\u007f]/g, (c) => (c === "\n" ? "\\n" : c === "\t" ? "\\t" : `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`));
}

/** Keyboard navigation in a list: the next index for a key, or null when the key is not ours. */
export function nextIndex(key: string, current: number, count: number, page = 10): number | null {
  if (count === 0) return null;
  switch (key) {
    case "ArrowDown":
      return Math.min(count - 1, current + 1);
    case "ArrowUp":
      return Math.max(0, current - 1);
    case "Home":
      return 0;
    case "End":
      return count - 1;
    case "PageDown":
      return Math.min(count - 1, current + page);
    case "PageUp":
      return Math.max(0, current - page);
    default:
      return null;
  }
}

/** A line diff (LCS) for the "file changed on disk" view: `[kind, line]` with ' ', '-', '+'. */
export function lineDiff(a: string, b: string): [" " | "-" | "+", string][] {
  const x = a.split("\n");
  const y = b.split("\n");
  if (x.length * y.length > 4_000_000) return [...x.map((l) => ["-", l] as ["-", string]), ...y.map((l) => ["+", l] as ["+", string])];
  const n = x.length;
  const m = y.length;
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) lcs[i][j] = x[i] === y[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  const out: [" " | "-" | "+", string][] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (x[i] === y[j]) {
      out.push([" ", x[i]]);
      i++;
      j++;
    } else if (lcs[i + 1][j] >= lcs[i][j + 1]) out.push(["-", x[i++]]);
    else out.push(["+", y[j++]]);
  }
  while (i < n) out.push(["-", x[i++]]);
  while (j < m) out.push(["+", y[j++]]);
  return out;
}
