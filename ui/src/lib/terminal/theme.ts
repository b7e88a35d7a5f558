//! xterm.js colours from the app's CSS variables, so the terminal follows the light/dark theme.
import type { ITheme } from "@xterm/xterm";

const LIGHT = {
  black: "#1c1c21", red: "#c4312b", green: "#1f8a4c", yellow: "#946000", blue: "#3559d0", magenta: "#9b36b0", cyan: "#12798a", white: "#8a8a94",
  brightBlack: "#5c5c66", brightRed: "#dc4040", brightGreen: "#28a55f", brightYellow: "#b37a00", brightBlue: "#4f6bed", brightMagenta: "#b54fcc", brightCyan: "#1a95a8", brightWhite: "#b8b8c2",
};
const DARK = {
  black: "#3a3a42", red: "#ff6b6b", green: "#3ccf7a", yellow: "#f0c878", blue: "#6f9bff", magenta: "#d78bff", cyan: "#5fd4e0", white: "#d0d0d8",
  brightBlack: "#6e6e78", brightRed: "#ff8a8a", brightGreen: "#6ee09c", brightYellow: "#ffdc9a", brightBlue: "#94b4ff", brightMagenta: "#e6aaff", brightCyan: "#8ae6ee", brightWhite: "#ffffff",
};

/** Reads `--panel`, `--text`, … from `root` and picks the ANSI palette for its theme. */
export function terminalTheme(root: HTMLElement = document.documentElement): ITheme {
  const css = getComputedStyle(root);
  const v = (name: string, fallback: string) => css.getPropertyValue(name).trim() || fallback;
  const dark = root.dataset.theme === "dark";
  return {
    ...(dark ? DARK : LIGHT),
    background: v("--panel", dark ? "#232328" : "#ffffff"),
    foreground: v("--text", dark ? "#e8e8ed" : "#1c1c21"),
    cursor: v("--accent", "#4f6bed"),
    cursorAccent: v("--panel", "#ffffff"),
    selectionBackground: dark ? "rgba(111, 134, 255, 0.35)" : "rgba(79, 107, 237, 0.25)",
  };
}

/** The monospace stack of the app (no web fonts: the CSP allows none). */
export function terminalFont(root: HTMLElement = document.documentElement): string {
  return getComputedStyle(root).getPropertyValue("--mono").trim() || "monospace";
}

export const FONT_MIN = 8;
export const FONT_MAX = 32;
export const FONT_DEFAULT = 13;

export function clampFont(size: number): number {
  return Math.min(FONT_MAX, Math.max(FONT_MIN, Math.round(size)));
}

/** What a tab shows about its session's state ("" while it runs). */
export function statusLabel(
  info: { status: string; exitCode: number | null; exitSignal: number | null } | null,
  t: (key: "term.exited" | "term.killed" | "term.stopped", p?: Record<string, string | number>) => string,
): string {
  if (!info || info.status === "running") return "";
  if (info.status === "workspaceStopped") return t("term.stopped");
  if (info.exitSignal != null) return t("term.killed", { signal: info.exitSignal });
  return t("term.exited", { code: info.exitCode ?? "?" });
}
