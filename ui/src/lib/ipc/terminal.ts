//! Terminal IPC: sessions live in Rust; a view opens or attaches with a `Channel` that carries
//! raw output bytes (ArrayBuffer) and status changes (TerminalInfo JSON) on one ordered stream.
import { Channel, invoke } from "@tauri-apps/api/core";
import { toAppError } from "./errors";
import type { TerminalInfo } from "./generated/TerminalInfo";

export type { TerminalInfo } from "./generated/TerminalInfo";
export type { TerminalStatus } from "./generated/TerminalStatus";

async function call<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(cmd, args);
  } catch (raw) {
    throw toAppError(raw);
  }
}

/** What a view receives. `detach()` stops delivery to it (the session keeps running). */
export interface TerminalView {
  onData: (bytes: Uint8Array) => void;
  onStatus: (info: TerminalInfo) => void;
}

/** Splits a channel message into output bytes or a status (exported for tests). */
export function routeMessage(msg: unknown, view: TerminalView): void {
  if (msg instanceof ArrayBuffer) view.onData(new Uint8Array(msg));
  else if (msg instanceof Uint8Array) view.onData(msg);
  else if (Array.isArray(msg)) view.onData(Uint8Array.from(msg as number[]));
  else if (typeof msg === "string") view.onStatus(JSON.parse(msg) as TerminalInfo);
  else if (msg && typeof msg === "object" && "id" in msg) view.onStatus(msg as TerminalInfo);
}

function channel(view: TerminalView): { channel: Channel<unknown>; detach: () => void } {
  let live = true;
  const channel = new Channel<unknown>((msg) => {
    if (live) routeMessage(msg, view);
  });
  return { channel, detach: () => (live = false) };
}

export const terminal = {
  /** Starts the workspace's shell at the given size; output flows to `view`. */
  async open(bot: string, rows: number, cols: number, view: TerminalView) {
    const c = channel(view);
    const info = await call<TerminalInfo>("terminal_open", { bot, rows, cols, onOutput: c.channel });
    return { info, detach: c.detach };
  },
  /** Re-attaches to a session: the scrollback arrives first, then live output. */
  async attach(id: string, view: TerminalView) {
    const c = channel(view);
    const info = await call<TerminalInfo>("terminal_attach", { id, onOutput: c.channel });
    return { info, detach: c.detach };
  },
  write: (id: string, data: string) => call<null>("terminal_write", { id, data }),
  resize: (id: string, rows: number, cols: number) => call<null>("terminal_resize", { id, rows, cols }),
  rename: (id: string, title: string) => call<TerminalInfo>("terminal_rename", { id, title }),
  close: (id: string) => call<null>("terminal_close", { id }),
  list: (bot: string | null) => call<TerminalInfo[]>("terminal_list", { bot }),
  /** Opens an http(s) link in the system browser. */
  openLink: (url: string) => call<null>("terminal_open_link", { url }),
};
