//! containerd connection status. Polled slowly only while disconnected, so the banner goes away
//! by itself once the user starts containerd.
import { api, type SystemStatus } from "../ipc";
import { toasts } from "./toasts.svelte";

const POLL_MS = 5000;

class Status {
  value = $state<SystemStatus | null>(null);
  starting = $state(false);
  #timer: ReturnType<typeof setTimeout> | null = null;

  get connected(): boolean {
    return this.value?.connected ?? false;
  }

  async refresh() {
    try {
      this.value = await api.systemStatus();
    } catch (e) {
      toasts.error(e);
    }
    this.#schedule();
  }

  async startManaged() {
    this.starting = true;
    try {
      this.value = await api.managedContainerdStart();
    } catch (e) {
      toasts.error(e);
    } finally {
      this.starting = false;
    }
    this.#schedule();
  }

  async stopManaged() {
    this.starting = true;
    try {
      this.value = await api.managedContainerdStop();
    } catch (e) {
      toasts.error(e);
    } finally {
      this.starting = false;
    }
    this.#schedule();
  }

  #schedule() {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.value && !this.value.connected) this.#timer = setTimeout(() => this.refresh(), POLL_MS);
  }
}

export const status = new Status();
