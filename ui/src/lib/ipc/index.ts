//! The UI's only door to the Rust side. Nothing outside `lib/ipc/` imports `@tauri-apps/*`:
//! components and stores call `api.*`, get typed results and, on failure, an `AppError`.
import { Channel, invoke } from "@tauri-apps/api/core";
import { listen } from "@tauri-apps/api/event";
import { toAppError } from "./errors";
import { agents, skills } from "./agents";
import { data } from "./data";
import { files } from "./files";
import { terminal } from "./terminal";
import { versions } from "./versions";
import type { ActivityEntry } from "./generated/ActivityEntry";
import type { BotSummary } from "./generated/BotSummary";
import type { CreateEvent } from "./generated/CreateEvent";
import type { Limits } from "./generated/Limits";
import type { LimitsApply } from "./generated/LimitsApply";
import type { NetworkApply } from "./generated/NetworkApply";
import type { PullPolicy } from "./generated/PullPolicy";
import type { Settings } from "./generated/Settings";
import type { SystemStatus } from "./generated/SystemStatus";
import type { WorkspaceChanged } from "./generated/WorkspaceChanged";
import type { WorkspaceInfo } from "./generated/WorkspaceInfo";
import type { WorkspaceStats } from "./generated/WorkspaceStats";

export { AppError, toAppError } from "./errors";
export type * from "./types";
export type { TerminalInfo, TerminalStatus, TerminalView } from "./terminal";
export type * from "./versions";
export type * from "./files";
export type * from "./data";
export type * from "./agents";

/** Name of the event Rust emits whenever a workspace changes state. */
export const WORKSPACE_CHANGED = "workspace://changed";

async function call<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(cmd, args);
  } catch (raw) {
    throw toAppError(raw);
  }
}

export const api = {
  systemStatus: () => call<SystemStatus>("system_status"),
  managedContainerdStart: () => call<SystemStatus>("managed_containerd_start"),
  managedContainerdStop: () => call<SystemStatus>("managed_containerd_stop"),

  settingsGet: () => call<Settings>("settings_get"),
  settingsSet: (settings: Settings) => call<Settings>("settings_set", { settings }),

  botList: () => call<BotSummary[]>("bot_list"),
  botCreate: (name: string) => call<BotSummary>("bot_create", { name }),
  botRename: (name: string, newName: string) => call<BotSummary>("bot_rename", { name, newName }),
  botDelete: (name: string) => call<null>("bot_delete", { name }),
  /** Gives the bot's next workspace the host's network (`true`) or the isolated bridge. */
  botSetNetwork: (bot: string, host: boolean) => call<null>("bot_set_network", { bot, host }),
  /** Sets the bot's resource limits (`null`: the default); says when they take effect. */
  botSetBlockPrivate: (bot: string, blocked: boolean) =>
    call<NetworkApply>("bot_set_block_private", { bot, blocked }),
  botSetLimits: (bot: string, limits: Limits) => call<LimitsApply>("bot_set_limits", { bot, limits }),

  workspaceInfo: (bot: string) => call<WorkspaceInfo>("workspace_info", { bot }),
  /** Creates the bot's workspace. Progress arrives through `onProgress` (a Tauri Channel, pushed by
   *  Rust); the promise resolves with the final info after `complete`, or rejects with an
   *  `AppError` (code `Cancelled` after `workspaceCancel`). */
  /** A running workspace's usage; the CPU share is measured since the previous call. */
  workspaceStats: (bot: string) => call<WorkspaceStats>("workspace_stats", { bot }),
  workspaceCreate: (
    bot: string,
    image: string | null,
    pullPolicy: PullPolicy | null,
    onProgress: (event: CreateEvent) => void,
  ) => {
    const channel = new Channel<CreateEvent>(onProgress);
    return call<WorkspaceInfo>("workspace_create", { bot, image, pullPolicy, onProgress: channel });
  },
  /** Recreates the bot's workspace on `image` keeping /data: the same phases as create plus
   *  `preserving` and `removingOld`, through `onProgress`; `workspaceCancel` cancels it. */
  workspaceChangeImage: (
    bot: string,
    image: string,
    pullPolicy: PullPolicy | null,
    onProgress: (event: CreateEvent) => void,
  ) => {
    const channel = new Channel<CreateEvent>(onProgress);
    return call<WorkspaceInfo>("workspace_change_image", { bot, image, pullPolicy, onProgress: channel });
  },
  workspaceCancel: (bot: string) => call<null>("workspace_cancel", { bot }),
  workspaceStart: (bot: string) => call<WorkspaceInfo>("workspace_start", { bot }),
  workspaceStop: (bot: string) => call<WorkspaceInfo>("workspace_stop", { bot }),
  workspaceDelete: (bot: string) => call<null>("workspace_delete", { bot }),

  activityList: (bot: string) => call<ActivityEntry[]>("activity_list", { bot }),
  imageRecent: () => call<string[]>("image_recent"),

  /** Terminal sessions (owned by Rust; see ./terminal.ts). */
  terminal,

  /** Workspace versions (snapshots; see ./versions.ts). */
  versions,

  /** Workspace files (browse, edit, transfer, watch; see ./files.ts). */
  files,

  /** Data in and out: export, import, kept data (see ./data.ts). */
  data,

  /** Skills in /data/.skills (see ./agents.ts). */
  skills,

  /** Local agents' configuration and the in-workspace MCP servers (see ./agents.ts). */
  agents,

  /** Subscribes to `workspace://changed`. Returns a synchronous unsubscribe so it can be used
   *  directly as an `$effect` cleanup; `listen` itself resolves later, so an unsubscribe that
   *  comes first is remembered and applied when it does. */
  onWorkspaceChanged(handler: (change: WorkspaceChanged) => void): () => void {
    let stopped = false;
    let unlisten: (() => void) | null = null;
    listen<WorkspaceChanged>(WORKSPACE_CHANGED, (event) => {
      if (!stopped) handler(event.payload);
    }).then(
      (fn) => {
        if (stopped) fn();
        else unlisten = fn;
      },
      (raw) => console.error("listen failed", toAppError(raw)),
    );
    return () => {
      stopped = true;
      unlisten?.();
      unlisten = null;
    };
  },
};

export type Api = typeof api;
