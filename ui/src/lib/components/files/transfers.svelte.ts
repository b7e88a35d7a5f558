//! The Files tab's transfers: uploads of files picked with the button (streamed from the web
//! view) or dropped on the window (walked on the Rust side), and downloads through the native
//! save dialog. Every file is a row with progress, cancel and error; names that exist already
//! are put to the user first (replace / skip / keep both, or cancel everything).
import { api, type DroppedFiles, type FileInfo, type OnExists, type TransferItem } from "../../ipc";
import { newTransferId } from "../../ipc/files";
import { isDirLike } from "../../files/util";
import { t } from "../../i18n/index.svelte";
import { toasts } from "../../stores/toasts.svelte";

/** A row of the transfer list: `key` is `<transfer id>:<item id>`. */
export type TransferRow = TransferItem & { key: string; transferId: string | null };

export interface TransferContext {
  bot: () => string;
  /** The folder shown: where uploads go unless dropped on a folder. */
  cwd: () => string;
  /** Refreshes the listing after an upload. */
  refresh: () => Promise<void>;
  /** Asks what to do with names that exist; `null` = cancel everything. */
  ask: (names: string[]) => Promise<OnExists | null>;
}

export class Transfers {
  items = $state<Record<string, TransferRow>>({});
  readonly rows = $derived(Object.values(this.items));
  /** Keys of the button's upload rows cancelled by the user (each is checked between chunks). */
  #cancelled = new Set<string>();
  readonly #ctx: TransferContext;

  constructor(ctx: TransferContext) {
    this.#ctx = ctx;
  }

  async download(entries: FileInfo[]) {
    if (!entries.length) return;
    const single = entries.length === 1 ? entries[0] : null;
    const name = single ? (isDirLike(single) ? `${single.name}.tar.gz` : single.name) : "workspace-selection.tar.gz";
    const transferId = newTransferId();
    try {
      await api.files.download(this.#ctx.bot(), entries.map((e) => e.path), name, transferId, (item) => this.#track(transferId, item));
    } catch (e) {
      toasts.error(e);
    }
  }

  /** Uploads files from the button's file input into the current folder, one after another. */
  async uploadPicked(picked: File[]) {
    if (!picked.length) return;
    const dir = this.#ctx.cwd();
    let onExists: OnExists | null;
    try {
      onExists = await this.#ctx.ask(await api.files.existing(this.#ctx.bot(), dir, picked.map((f) => f.name)));
    } catch (e) {
      toasts.error(e);
      return;
    }
    if (!onExists) return;
    const batch = newTransferId();
    picked.forEach((f, i) => this.#track(batch, { id: i + 1, target: dir, name: f.name, state: "queued", done: 0, total: f.size, error: null }));
    for (const [i, f] of picked.entries()) {
      const key = `${batch}:${i + 1}`;
      const row = (patch: Partial<TransferItem>) => (this.items[key] = { ...this.items[key], ...patch });
      if (this.#cancelled.has(key)) {
        row({ state: "cancelled" });
        continue;
      }
      row({ state: "running" });
      try {
        const r = await api.files.uploadFile(this.#ctx.bot(), dir, f, onExists, (done) => row({ done }), () => this.#cancelled.has(key));
        row(r ? { state: "done", done: f.size } : { state: "skipped", error: t("files.skippedExists") });
      } catch (e) {
        const err = e as { code?: string; message: string };
        row(err.code === "Cancelled" ? { state: "cancelled" } : { state: "failed", error: err.message });
      }
    }
    await this.#ctx.refresh();
  }

  /** Native drops (real paths) upload into the folder row under the pointer, else here. */
  async uploadDropped(d: DroppedFiles) {
    const el = document.elementFromPoint(d.x, d.y)?.closest<HTMLElement>("[data-drop-dir]");
    const dir = el?.dataset.dropDir ?? this.#ctx.cwd();
    let onExists: OnExists | null;
    try {
      onExists = await this.#ctx.ask(await api.files.dropConflicts(this.#ctx.bot(), d.dropId, dir));
    } catch (e) {
      toasts.error(e);
      return;
    }
    if (!onExists) return;
    const transferId = newTransferId();
    try {
      const sum = await api.files.uploadDropped(this.#ctx.bot(), d.dropId, transferId, dir, onExists, (item) => this.#track(transferId, item));
      if (sum.failed) toasts.info(t("files.uploadFailedSome", { n: sum.failed }));
    } catch (e) {
      toasts.error(e);
    }
    await this.#ctx.refresh();
  }

  cancel(row: TransferRow) {
    this.#cancelled.add(row.key);
    if (row.transferId) api.files.cancel(row.transferId).catch(() => {});
  }

  clearFinished() {
    this.items = Object.fromEntries(Object.entries(this.items).filter(([, r]) => r.state === "running" || r.state === "queued"));
  }

  #track(transferId: string, item: TransferItem) {
    const key = `${transferId}:${item.id}`;
    this.items[key] = { ...item, key, transferId };
  }
}
