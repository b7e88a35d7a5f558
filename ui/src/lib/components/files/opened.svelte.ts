//! The file open beside the Files list: a text file in the editor (with the "changed on disk"
//! flag that watch events raise) or an image shown from an object URL, which is revoked when the
//! preview goes away.
import { api, type FileInfo } from "../../ipc";
import { displayName, isImage, languageFor } from "../../files/util";
import { t } from "../../i18n/index.svelte";
import { toasts } from "../../stores/toasts.svelte";

export class OpenedFile {
  /** The file in the editor; it wins over a preview while both are set. */
  file = $state<FileInfo | null>(null);
  changed = $state(false);
  preview = $state<{ file: FileInfo; url: string } | null>(null);

  readonly #bot: () => string;

  constructor(bot: () => string) {
    this.#bot = bot;
  }

  get shown() {
    return !!this.file || !!this.preview;
  }

  /** Opens a file (not a folder): images as a preview, known text in the editor, else a note. */
  async show(entry: FileInfo) {
    if (isImage(entry.name)) {
      try {
        const bytes = await api.files.readBytes(this.#bot(), entry.path);
        const type = entry.name.toLowerCase().endsWith(".svg") ? "image/svg+xml" : "";
        if (this.preview) URL.revokeObjectURL(this.preview.url);
        this.preview = { file: entry, url: URL.createObjectURL(new Blob([bytes as BlobPart], { type })) };
        this.file = null;
      } catch (e) {
        toasts.error(e);
      }
      return;
    }
    if (languageFor(entry.name) === null && entry.size > 0) {
      toasts.info(t("files.noPreview", { name: displayName(entry.name) }));
      return;
    }
    this.closePreview();
    this.changed = false;
    this.file = entry;
  }

  closePreview() {
    if (this.preview) URL.revokeObjectURL(this.preview.url);
    this.preview = null;
  }
}
