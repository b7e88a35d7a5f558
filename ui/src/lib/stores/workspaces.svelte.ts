//! Workspace details per bot, cached so switching bots shows the last known info at once.
import { api, toAppError, type WorkspaceInfo } from "../ipc";
import { toasts } from "./toasts.svelte";

class Workspaces {
  byBot = $state<Record<string, WorkspaceInfo>>({});
  /** Per-bot action in flight ("start", "stop", "delete"), to disable buttons meanwhile. */
  busy = $state<Record<string, string>>({});

  async load(bot: string) {
    try {
      this.byBot[bot] = await api.workspaceInfo(bot);
    } catch (e) {
      // A bot deleted meanwhile is not worth a toast; anything else is.
      if (toAppError(e).code !== "NotFound") toasts.error(e);
      delete this.byBot[bot];
    }
  }

  set(info: WorkspaceInfo) {
    this.byBot[info.bot] = info;
  }

  forget(bot: string) {
    delete this.byBot[bot];
  }

  async #act(bot: string, what: string, run: () => Promise<unknown>) {
    this.busy[bot] = what;
    try {
      await run();
      return true;
    } catch (e) {
      toasts.error(e);
      return false;
    } finally {
      delete this.busy[bot];
      await this.load(bot);
    }
  }

  start(bot: string) {
    return this.#act(bot, "start", () => api.workspaceStart(bot));
  }

  stop(bot: string) {
    return this.#act(bot, "stop", () => api.workspaceStop(bot));
  }

  delete(bot: string) {
    return this.#act(bot, "delete", () => api.workspaceDelete(bot));
  }
}

export const workspaces = new Workspaces();
