//! Pure formatting helpers shared by the screens. 1024-based units with the usual short labels,
//! like the file manager of the reference system, so sizes read the same everywhere in Berth.

const UNITS = ["B", "KB", "MB", "GB", "TB"];

export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return "—";
  let v = n;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  if (u === 0) return `${Math.round(v)} B`;
  // One decimal while it carries information; "123 MB" rather than "123.4 MB".
  const text = v >= 100 ? Math.round(v).toString() : v.toFixed(1);
  return `${text} ${UNITS[u]}`;
}

export function formatSpeed(bytesPerSecond: number): string {
  return `${formatBytes(bytesPerSecond)}/s`;
}

/** "0:12", "4:05", "1:02:03"; null or negative means unknown. */
export function formatEta(seconds: number | null): string | null {
  if (seconds === null || !Number.isFinite(seconds) || seconds < 0) return null;
  const s = Math.ceil(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

/** Percent of a transfer, rounded; null while nothing is known (the UI hides it then). */
export function percentOf(done: number, total: number): number | null {
  if (!(total > 0) || !(done > 0)) return null;
  return Math.min(100, Math.round((done / total) * 100));
}

/** Shortens an image reference for display: Docker Hub's implicit prefixes are noise. */
export function shortImage(ref: string | null | undefined): string {
  if (!ref) return "";
  if (ref.startsWith("docker.io/library/")) return ref.slice("docker.io/library/".length);
  if (ref.startsWith("docker.io/")) return ref.slice("docker.io/".length);
  return ref;
}

/** First 12 hex digits of a digest, without the algorithm, as `docker` prints them. */
export function shortDigest(digest: string): string {
  const hex = digest.includes(":") ? digest.slice(digest.indexOf(":") + 1) : digest;
  return hex.slice(0, 12);
}

export function formatTime(iso: string | null | undefined, locale: string): string {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "medium" }).format(d);
}
