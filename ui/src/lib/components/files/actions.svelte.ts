//! The Files tab's changes to the folder: new file or folder, rename in place (asking before it
//! replaces), move to a typed path, delete (after the confirm dialog) and extract of archives.
//! Each refreshes the listing when done; errors go to a toast.
import { api, type FileInfo } from "../../ipc";
import { normalisePath } from "../../files/util";
import { t } from "../../i18n/index.svelte";
import { toasts } from "../../stores/toasts.svelte";
import type { FileBrowser } from "./browser.svelte";
import type { OpenedFile } from "./opened.svelte";

export class FileActions {
  creating = $state<"file" | "dir" | null>(null);
  createName = $state("");
  renaming = $state<string | null>(null);
  renameText = $state("");
  moveTarget = $state<FileInfo | null>(null);
  moveText = $state("");
  deleteOpen = $state(false);
  deleteTargets = $state<FileInfo[]>([]);

  readonly #bot: () => string;
  readonly #browser: FileBrowser;
  readonly #opened: OpenedFile;

  constructor(bot: () => string, browser: FileBrowser, opened: OpenedFile) {
    this.#bot = bot;
    this.#browser = browser;
    this.#opened = opened;
  }

  /** True while a name is typed (new entry or rename): the list leaves keys alone. */
  get typing() {
    return !!this.renaming || !!this.creating;
  }

  startCreate(kind: "file" | "dir") {
    this.creating = kind;
    this.createName = "";
  }

  /** Creates what the form names in the current folder; a new file opens in the editor. */
  async create() {
    const kind = this.creating;
    const name = this.createName.trim();
    this.creating = null;
    this.createName = "";
    if (!name || !kind) return;
    const cwd = this.#browser.cwd;
    try {
      if (kind === "dir") await api.files.mkdir(this.#bot(), cwd, name);
      else {
        const f = await api.files.create(this.#bot(), cwd, name);
        this.#opened.file = f.info;
      }
      await this.#browser.load();
    } catch (e) {
      toasts.error(e);
    }
  }

  startRename(entry: FileInfo) {
    this.renaming = entry.path;
    this.renameText = entry.name;
  }

  async finishRename(entry: FileInfo, overwrite = false): Promise<void> {
    if (this.renaming !== entry.path && !overwrite) return;
    this.renaming = null;
    const name = this.renameText.trim();
    if (!name || name === entry.name) return;
    try {
      await api.files.rename(this.#bot(), entry.path, name, overwrite);
      await this.#browser.load();
    } catch (e) {
      if ((e as { code?: string }).code === "AlreadyExists" && !overwrite) {
        if (confirm(t("files.replaceConfirm", { name }))) {
          this.renameText = name;
          return this.finishRename(entry, true);
        }
      } else toasts.error(e);
    }
  }

  startMove(entry: FileInfo) {
    this.moveTarget = entry;
    this.moveText = entry.path.startsWith("/") ? entry.path : "";
  }

  async move() {
    const entry = this.moveTarget;
    this.moveTarget = null;
    if (!entry) return;
    const dest = normalisePath(this.moveText);
    try {
      await api.files.move(this.#bot(), entry.path, dest, false);
      await this.#browser.load();
    } catch (e) {
      toasts.error(e);
    }
  }

  askDelete(entries: FileInfo[]) {
    this.deleteTargets = entries;
    this.deleteOpen = true;
  }

  /** Deletes what `askDelete` named (the dialog confirmed); closes the editor on a deleted file. */
  async remove() {
    const paths = this.deleteTargets.map((e) => e.path);
    try {
      await api.files.delete(this.#bot(), paths, true);
      if (this.#opened.file && paths.includes(this.#opened.file.path)) this.#opened.file = null;
      await this.#browser.load();
    } catch (e) {
      toasts.error(e);
    }
  }

  async extract(entry: FileInfo) {
    try {
      const r = await api.files.extract(this.#bot(), entry.path);
      toasts.info(t("files.extracted", { files: r.files, dirs: r.dirs }));
      await this.#browser.load();
    } catch (e) {
      toasts.error(e);
    }
  }
}
