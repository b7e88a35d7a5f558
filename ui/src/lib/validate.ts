//! Client-side validation that mirrors the backend's rules, so most mistakes are caught before a
//! round trip. The backend still validates; its messages are shown too.

export const BOT_NAME_MAX = 63;

export type NameProblem = "empty" | "tooLong" | "badStart" | "badChars";

/** Bot names become container ids (`berth-<name>`) and paths: 1–63 of [a-z0-9-], not starting
 *  with '-'. */
export function botNameProblem(name: string): NameProblem | null {
  if (name.length === 0) return "empty";
  if (name.length > BOT_NAME_MAX) return "tooLong";
  if (!/^[a-z0-9]/.test(name)) return "badStart";
  if (!/^[a-z0-9-]+$/.test(name)) return "badChars";
  return null;
}

export type SettingsField = "containerdSocket" | "namespace" | "defaultImage";

export function settingsProblems(s: {
  containerdSocket: string;
  namespace: string;
  defaultImage: string;
}): Partial<Record<SettingsField, "socket" | "namespace" | "image">> {
  const out: Partial<Record<SettingsField, "socket" | "namespace" | "image">> = {};
  const sock = s.containerdSocket.trim();
  if (!sock.startsWith("/") && !sock.startsWith("unix:///")) out.containerdSocket = "socket";
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(s.namespace.trim())) out.namespace = "namespace";
  if (!s.defaultImage.trim() || /\s/.test(s.defaultImage.trim())) out.defaultImage = "image";
  return out;
}

/** `KEY=VALUE` lines (blank lines ignored) as an environment, or the first bad line. Names as
 *  the backend checks them: letters, digits and '_', not starting with a digit. */
export function parseEnvLines(text: string): { env: Record<string, string> } | { error: string } {
  const env: Record<string, string> = {};
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    const eq = line.indexOf("=");
    const key = eq < 0 ? line.trim() : line.slice(0, eq).trim();
    if (eq < 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) return { error: `not KEY=VALUE: ${line}` };
    env[key] = line.slice(eq + 1);
  }
  return { env };
}
