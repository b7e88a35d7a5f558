//! Files IPC: browse, edit, upload, download, archive, extract and watch a running
//! workspace. Paths are opaque tokens from Rust (`/…` for UTF-8 paths, `hex:…` otherwise):
//! use `FileInfo.path` as is and build new names with `dir` + `name` arguments.
import { Channel, invoke } from "@tauri-apps/api/core";
import { listen } from "@tauri-apps/api/event";
import { toAppError } from "./errors";
import type { DirListing } from "./generated/DirListing";
import type { ExtractSummary } from "./generated/ExtractSummary";
import type { FileInfo } from "./generated/FileInfo";
import type { FilesChanged } from "./generated/FilesChanged";
import type { OnExists } from "./generated/OnExists";
import type { SavedFile } from "./generated/SavedFile";
import type { TextFile } from "./generated/TextFile";
import type { TransferItem } from "./generated/TransferItem";
import type { TransferSummary } from "./generated/TransferSummary";

export type { DirListing } from "./generated/DirListing";
export type { ExtractSummary } from "./generated/ExtractSummary";
export type { FileInfo } from "./generated/FileInfo";
export type { FileType } from "./generated/FileType";
export type { FilesChanged } from "./generated/FilesChanged";
export type { OnExists } from "./generated/OnExists";
export type { SavedFile } from "./generated/SavedFile";
export type { TextFile } from "./generated/TextFile";
export type { TransferItem } from "./generated/TransferItem";
export type { TransferState } from "./generated/TransferState";
export type { TransferSummary } from "./generated/TransferSummary";

/** What the window hears when the user drops files or folders on it (native event). */
export interface DroppedFiles {
  dropId: string;
  names: string[];
  x: number;
  y: number;
}

export const FILES_DROP = "files://drop";
/** Bytes per upload chunk from the file input. */
export const UPLOAD_CHUNK = 1024 * 1024;

async function call<T>(cmd: string, args?: Record<string, unknown>, options?: { headers: Record<string, string> }): Promise<T> {
  try {
    return await invoke<T>(cmd, args, options);
  } catch (raw) {
    throw toAppError(raw);
  }
}

let transferSeq = 0;
/** A fresh id for `files.cancel`. */
export const newTransferId = () => `t${Date.now().toString(36)}-${++transferSeq}`;

export const files = {
  list: (bot: string, path: string) => call<DirListing>("files_list", { bot, path }),
  stat: (bot: string, path: string) => call<FileInfo>("files_stat", { bot, path }),
  readText: (bot: string, path: string) => call<TextFile>("files_read_text", { bot, path }),
  /** Raw bytes (image preview). */
  async readBytes(bot: string, path: string): Promise<Uint8Array> {
    const r = await call<ArrayBuffer | number[]>("files_read_bytes", { bot, path });
    return r instanceof ArrayBuffer ? new Uint8Array(r) : Uint8Array.from(r);
  },
  /** With `expectedRevision`, fails with code `Conflict` when the file changed on disk. */
  saveText: (bot: string, path: string, content: string, expectedRevision: string | null) =>
    call<SavedFile>("files_save_text", { bot, path, content, expectedRevision }),
  create: (bot: string, dir: string, name: string) => call<SavedFile>("files_create", { bot, dir, name }),
  mkdir: (bot: string, dir: string, name: string) => call<FileInfo>("files_mkdir", { bot, dir, name }),
  rename: (bot: string, path: string, newName: string, overwrite: boolean) =>
    call<FileInfo>("files_rename", { bot, path, newName, overwrite }),
  move: (bot: string, from: string, to: string, overwrite: boolean) => call<FileInfo>("files_move", { bot, from, to, overwrite }),
  delete: (bot: string, paths: string[], recursive: boolean) => call<null>("files_delete", { bot, paths, recursive }),
  extract: (bot: string, path: string) => call<ExtractSummary>("files_extract", { bot, path }),
  existing: (bot: string, dir: string, names: string[]) => call<string[]>("files_existing", { bot, dir, names }),
  /** Watches directories/files; returns the id to pass to `cancel`. */
  watch: (bot: string, paths: string[], onChange: (c: FilesChanged) => void) =>
    call<string>("files_watch", { bot, paths, onChange: new Channel<FilesChanged>(onChange) }),
  /** Stops a watch or cancels a transfer. */
  cancel: (id: string) => call<null>("files_cancel", { id }),
  /** Watches `paths` until the returned function is called (usable directly as an `$effect`
   *  cleanup): changes after that are not delivered, and a watch that starts later is
   *  stopped as soon as it does. A watch that cannot start is silent (the view still works,
   *  without live updates). */
  follow(bot: string, paths: string[], onChange: (c: FilesChanged) => void): () => void {
    let stopped = false;
    let id: string | null = null;
    files
      .watch(bot, paths, (c) => {
        if (!stopped) onChange(c);
      })
      .then((w) => {
        if (stopped) files.cancel(w).catch(() => {});
        else id = w;
      })
      .catch(() => {});
    return () => {
      stopped = true;
      if (id) files.cancel(id).catch(() => {});
    };
  },
  dropConflicts: (bot: string, dropId: string, dir: string) => call<string[]>("files_drop_conflicts", { bot, dropId, dir }),
  uploadDropped: (
    bot: string,
    dropId: string,
    transferId: string,
    destDir: string,
    onExists: OnExists,
    onProgress: (t: TransferItem) => void,
  ) =>
    call<TransferSummary>("files_upload_dropped", {
      bot,
      dropId,
      transferId,
      destDir,
      onExists,
      onProgress: new Channel<TransferItem>(onProgress),
    }),
  /** Uploads a file from an `<input type=file>` in chunks; `null` when skipped. `isCancelled`
   *  is checked between chunks (the upload is then abandoned and nothing changes). */
  async uploadFile(
    bot: string,
    dir: string,
    file: File,
    onExists: OnExists,
    onProgress: (done: number) => void,
    isCancelled: () => boolean = () => false,
  ): Promise<SavedFile | null> {
    const id = await call<string | null>("files_upload_begin", { bot, dir, name: file.name, onExists });
    if (id === null) return null;
    try {
      let done = 0;
      while (done < file.size) {
        if (isCancelled()) throw toAppError({ code: "Cancelled", message: "cancelled" });
        const chunk = new Uint8Array(await file.slice(done, done + UPLOAD_CHUNK).arrayBuffer());
        await call<null>("files_upload_chunk", chunk as unknown as Record<string, unknown>, { headers: { "x-upload-id": id } });
        done += chunk.length;
        onProgress(done);
      }
      return await call<SavedFile | null>("files_upload_end", { id, abort: false });
    } catch (e) {
      await call<SavedFile | null>("files_upload_end", { id, abort: true }).catch(() => null);
      throw toAppError(e);
    }
  },
  /** Opens a native save dialog (Rust side) and downloads there; `null` if the dialog was cancelled. */
  download: (bot: string, paths: string[], suggestedName: string, transferId: string, onProgress: (t: TransferItem) => void) =>
    call<TransferSummary | null>("files_download", {
      bot,
      paths,
      suggestedName,
      transferId,
      onProgress: new Channel<TransferItem>(onProgress),
    }),
  /** Subscribes to native drops; returns a synchronous unsubscribe. */
  onDrop(handler: (d: DroppedFiles) => void): () => void {
    let stopped = false;
    let unlisten: (() => void) | null = null;
    listen<DroppedFiles>(FILES_DROP, (e) => {
      if (!stopped) handler(e.payload);
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
    };
  },
};
