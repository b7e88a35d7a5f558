//! The bot list shown in the sidebar. Refreshed on `workspace://changed`; the event's state is
//! applied at once so the badge does not wait for the round trip.
import { api, type BotSummary, type WorkspaceChanged } from "../ipc";
import { toasts } from "./toasts.svelte";

class Bots {
  list = $state<BotSummary[]>([]);
  loaded = $state(false);

  find(name: string): BotSummary | undefined {
    return this.list.find((b) => b.name === name);
  }

  async refresh() {
    try {
      this.list = await api.botList();
      this.loaded = true;
    } catch (e) {
      toasts.error(e);
    }
  }

  applyChange(change: WorkspaceChanged) {
    const bot = this.find(change.bot);
    if (bot) bot.state = change.state;
  }

  /** Throws the AppError so the inline form can show it. */
  async create(name: string): Promise<BotSummary> {
    const bot = await api.botCreate(name);
    await this.refresh();
    return bot;
  }

  async rename(name: string, newName: string): Promise<BotSummary> {
    const bot = await api.botRename(name, newName);
    await this.refresh();
    return bot;
  }

  async remove(name: string) {
    await api.botDelete(name);
    this.list = this.list.filter((b) => b.name !== name);
    await this.refresh();
  }
}

export const bots = new Bots();
