//! Transient messages in the corner. Errors show `AppError.message`; nothing branches on text.
import { toAppError } from "../ipc";

export interface Toast {
  id: number;
  kind: "error" | "info";
  text: string;
}

class Toasts {
  items = $state<Toast[]>([]);
  #next = 1;

  show(kind: Toast["kind"], text: string, ms = kind === "error" ? 8000 : 4000) {
    const id = this.#next++;
    this.items.push({ id, kind, text });
    setTimeout(() => this.dismiss(id), ms);
  }

  info(text: string) {
    this.show("info", text);
  }

  error(raw: unknown) {
    this.show("error", toAppError(raw).message);
  }

  dismiss(id: number) {
    this.items = this.items.filter((t) => t.id !== id);
  }
}

export const toasts = new Toasts();
