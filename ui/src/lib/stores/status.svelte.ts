//! containerd connection status. Polled slowly only while disconnected, so the banner goes away
//! by itself once the user starts containerd.
import { api, type SystemStatus } from "../ipc";
import type { BackendFeature } from "../ipc/generated/BackendFeature";
import { toasts } from "./toasts.svelte";

const POLL_MS = 5000;

class Status {
  value = $state<SystemStatus | null>(null);
  starting = $state(false);
  #timer: ReturnType<typeof setTimeout> | null = null;

  get connected(): boolean {
    return this.value?.connected ?? false;
  }

  /** Why the backend cannot do `feature`, or null when it can (or is not connected). */
  lacks(feature: BackendFeature): string | null {
    return this.value?.limitations.find((l) => l.feature === feature)?.reason ?? null;
  }

  /** The backend is containerd (the only one whose network and limits Berth describes itself). */
  get containerd(): boolean {
    return (this.value?.backend ?? "containerd") === "containerd";
  }

  async refresh() {
    try {
      this.value = await api.systemStatus();
    } catch (e) {
      toasts.error(e);
    }
    this.#schedule();
  }

  startManaged() {
    return this.#manage(() => api.managedContainerdStart());
  }

  stopManaged() {
    return this.#manage(() => api.managedContainerdStop());
  }

  /** Starts or stops Berth's own containerd; the status it reports afterwards. */
  async #manage(call: () => Promise<SystemStatus>) {
    this.starting = true;
    try {
      this.value = await call();
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
