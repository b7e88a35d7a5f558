//! Data IPC: export `/data` (save dialog opened by Rust), import a .tar.gz chosen in an
//! open dialog or dropped on the window (preview first: entries, size, conflicts), kept data of
//! deleted workspaces, and delete keeping data. Progress arrives as `DataProgress` (archive bytes,
//! and `done` of `total` when the total is known) through a Channel.
import { Channel, invoke } from "@tauri-apps/api/core";
import { toAppError } from "./errors";
import type { ArchivePreview } from "./generated/ArchivePreview";
import type { DataProgress } from "./generated/DataProgress";
import type { ExportReport } from "./generated/ExportReport";
import type { ImportReport } from "./generated/ImportReport";
import type { KeptDataInfo } from "./generated/KeptDataInfo";

export type { ArchivePreview } from "./generated/ArchivePreview";
export type { DataProgress } from "./generated/DataProgress";
export type { ExportReport } from "./generated/ExportReport";
export type { ImportReport } from "./generated/ImportReport";
export type { KeptDataInfo } from "./generated/KeptDataInfo";

type OnProgress = (p: DataProgress) => void;

async function call<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(cmd, args);
  } catch (raw) {
    throw toAppError(raw);
  }
}

const channel = (onProgress: OnProgress) => new Channel<DataProgress>(onProgress);

export const data = {
  /** Exports `/data` to a file the user picks; `null` when the dialog was cancelled. */
  export: (bot: string, transferId: string, onProgress: OnProgress) =>
    call<ExportReport | null>("data_export", { bot, transferId, onProgress: channel(onProgress) }),
  cancel: (transferId: string) => call<boolean>("data_cancel", { transferId }),
  /** Opens a file dialog for a .tar.gz and validates it; `null` when cancelled. */
  pickArchive: (bot: string) => call<ArchivePreview | null>("data_pick_archive", { bot }),
  /** Validates a .tar.gz dropped on the window (`files://drop`). */
  previewDrop: (bot: string, dropId: string) => call<ArchivePreview>("data_preview_drop", { bot, dropId }),
  import: (bot: string, archiveId: string, replace: boolean, transferId: string, onProgress: OnProgress) =>
    call<ImportReport>("data_import", { bot, archiveId, replace, transferId, onProgress: channel(onProgress) }),
  kept: (bot: string) => call<KeptDataInfo | null>("data_kept", { bot }),
  keptDelete: (bot: string) => call<boolean>("data_kept_delete", { bot }),
  restore: (bot: string, onProgress: OnProgress) =>
    call<boolean>("data_restore", { bot, onProgress: channel(onProgress) }),
  /** Deletes the workspace; with `keepData` its `/data` is preserved first. */
  deleteKeeping: (bot: string, keepData: boolean, onProgress: OnProgress) =>
    call<KeptDataInfo | null>("workspace_delete_keeping", { bot, keepData, onProgress: channel(onProgress) }),
};
