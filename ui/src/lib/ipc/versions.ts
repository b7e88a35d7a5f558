//! Versions IPC: save, list, roll back, rename, delete, changes since a version.
import { invoke } from "@tauri-apps/api/core";
import { toAppError } from "./errors";
import type { RollbackResult } from "./generated/RollbackResult";
import type { VersionChanges } from "./generated/VersionChanges";
import type { VersionInfo } from "./generated/VersionInfo";
import type { VersionList } from "./generated/VersionList";

export type { RollbackResult } from "./generated/RollbackResult";
export type { VersionChangeKind } from "./generated/VersionChangeKind";
export type { VersionChanges } from "./generated/VersionChanges";
export type { VersionFileChange } from "./generated/VersionFileChange";
export type { VersionInfo } from "./generated/VersionInfo";
export type { VersionList } from "./generated/VersionList";
export type { VersionSource } from "./generated/VersionSource";

async function call<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(cmd, args);
  } catch (raw) {
    throw toAppError(raw);
  }
}

export const versions = {
  /** The workspace's versions; `available: false` when the backend has no native snapshots. */
  list: (bot: string) => call<VersionList>("version_list", { bot }),
  save: (bot: string, name: string | null) => call<VersionInfo>("version_save", { bot, name }),
  /** With `save`, the current state is first saved as a version ("before rollback to vN"). */
  rollback: (bot: string, version: number, save: boolean) =>
    call<RollbackResult>("version_rollback", { bot, version, save }),
  rename: (bot: string, version: number, name: string | null) =>
    call<VersionInfo>("version_rename", { bot, version, name }),
  delete: (bot: string, version: number) => call<null>("version_delete", { bot, version }),
  changes: (bot: string, version: number) => call<VersionChanges>("version_changes", { bot, version }),
};
