//! App settings held by the backend (SQLite). Loaded once; `save` returns the normalised value.
import { api, type Settings } from "../ipc";
import { toasts } from "./toasts.svelte";

class SettingsStore {
  value = $state<Settings | null>(null);

  async load() {
    try {
      this.value = await api.settingsGet();
    } catch (e) {
      toasts.error(e);
    }
  }

  /** Throws the AppError so the form can show it next to the fields. */
  async save(next: Settings): Promise<Settings> {
    this.value = await api.settingsSet(next);
    return this.value;
  }
}

export const settings = new SettingsStore();
