//! Mock terminal sessions for the mock backend: a tiny line-editing "shell" that understands
//! `echo`, `stty size`, `exit N` and `clear`, keeps a scrollback for re-attaching, and reports
//! when its workspace stops. Output goes through the real Channel callback path as bytes.
import { AppError } from "./errors";
import type { TerminalInfo } from "./generated/TerminalInfo";

type Args = Record<string, unknown>;
type Internals = { runCallback: (id: number, data: unknown) => void };

interface FakeSession {
  info: TerminalInfo;
  scrollback: number[];
  channel: number | null;
  index: number;
  line: string;
}

const enc = new TextEncoder();
const PROMPT = "/data # ";

export function fakeTerminalCommands(isRunning: (bot: string) => boolean) {
  const sessions = new Map<string, FakeSession>();
  /** Links "opened" (the e2e tests read them from `window.__berthOpenedLinks`). */
  const opened: string[] = [];
  (window as unknown as { __berthOpenedLinks?: string[] }).__berthOpenedLinks = opened;
  let next = 1;
  const internals = () => (window as unknown as { __TAURI_INTERNALS__: Internals }).__TAURI_INTERNALS__;

  const send = (s: FakeSession, msg: unknown) => {
    if (s.channel !== null) internals().runCallback(s.channel, { index: s.index++, message: msg });
  };
  const out = (s: FakeSession, text: string) => {
    const bytes = Array.from(enc.encode(text));
    s.scrollback.push(...bytes);
    if (s.scrollback.length > 1 << 20) s.scrollback.splice(0, s.scrollback.length - (1 << 20));
    send(s, new Uint8Array(bytes).buffer);
  };
  const status = (s: FakeSession) => send(s, { ...s.info });
  const get = (id: unknown) => {
    const s = sessions.get(String(id));
    if (!s) throw new AppError("NotFound", `no terminal session ${id}`);
    return s;
  };
  const attachChannel = (s: FakeSession, a: Args) => {
    s.channel = (a.onOutput as { id: number }).id;
    s.index = 0;
  };

  const run = (s: FakeSession, cmd: string) => {
    const words = cmd.trim().split(/\s+/);
    if (words[0] === "") return;
    if (words[0] === "echo") out(s, cmd.trim().slice(5).replace(/''/g, "").replace(/\$TERM/g, "xterm-256color") + "\r\n");
    else if (cmd.trim() === "stty size") out(s, `${s.info.rows} ${s.info.cols}\r\n`);
    else if (words[0] === "clear") out(s, "\x1b[H\x1b[2J");
    else if (words[0] === "exit") {
      s.info.status = "exited";
      s.info.exitCode = Number(words[1] ?? 0) || 0;
      status(s);
    } else out(s, `sh: ${words[0]}: not found\r\n`);
  };

  // Notice stopped workspaces (polling keeps this module free of edits to the bot mock).
  let watch: ReturnType<typeof setInterval> | null = null;
  const watchStops = () => {
    if (watch) return;
    watch = setInterval(() => {
      let live = 0;
      for (const s of sessions.values()) {
        if (s.info.status !== "running") continue;
        if (isRunning(s.info.bot)) live++;
        else {
          s.info.status = "workspaceStopped";
          status(s);
        }
      }
      if (live === 0 && watch) {
        clearInterval(watch);
        watch = null;
      }
    }, 200);
  };

  return {
    terminal_open: (a: Args) => {
      const bot = String(a.bot);
      if (!isRunning(bot)) throw new AppError("Conflict", `${bot}'s workspace is not running; start it first`);
      const id = `term-${next++}`;
      const count = [...sessions.values()].filter((s) => s.info.bot === bot).length + 1;
      const s: FakeSession = {
        info: { id, bot, title: `sh ${count}`, program: "/bin/sh", rows: Number(a.rows), cols: Number(a.cols), status: "running", exitCode: null, exitSignal: null },
        scrollback: [],
        channel: null,
        index: 0,
        line: "",
      };
      sessions.set(id, s);
      watchStops();
      attachChannel(s, a);
      setTimeout(() => out(s, PROMPT), 10);
      return { ...s.info };
    },
    terminal_attach: (a: Args) => {
      const s = get(a.id);
      attachChannel(s, a);
      if (s.scrollback.length) send(s, new Uint8Array(s.scrollback).buffer);
      status(s);
      return { ...s.info };
    },
    terminal_write: (a: Args) => {
      const s = get(a.id);
      if (s.info.status !== "running") throw new AppError("Conflict", `terminal ${s.info.id} has ended`);
      for (const ch of String(a.data)) {
        if (ch === "\r" || ch === "\n") {
          out(s, "\r\n");
          const line = s.line;
          s.line = "";
          run(s, line);
          if (s.info.status === "running") out(s, PROMPT);
        } else if (ch === "\x7f") {
          if (s.line) {
            s.line = s.line.slice(0, -1);
            out(s, "\b \b");
          }
        } else if (ch >= " ") {
          s.line += ch;
          out(s, ch);
        }
      }
      return null;
    },
    terminal_resize: (a: Args) => {
      const s = get(a.id);
      s.info.rows = Number(a.rows);
      s.info.cols = Number(a.cols);
      return null;
    },
    terminal_rename: (a: Args) => {
      const s = get(a.id);
      const title = String(a.title).trim();
      if (!title || title.length > 64) throw new AppError("InvalidArgument", "a terminal title needs 1 to 64 characters");
      s.info.title = title;
      return { ...s.info };
    },
    terminal_close: (a: Args) => {
      get(a.id);
      sessions.delete(String(a.id));
      return null;
    },
    terminal_open_link: (a: Args) => {
      const url = String(a.url);
      if (!/^https?:\/\//i.test(url)) throw new AppError("InvalidArgument", `only http(s) links open from a terminal, not "${url}"`);
      opened.push(url);
      return null;
    },
    terminal_list: (a: Args) =>
      [...sessions.values()].filter((s) => a.bot == null || s.info.bot === a.bot).map((s) => ({ ...s.info })),
  };
}
