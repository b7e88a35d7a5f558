//! Create operations, one per bot, kept here rather than in a component so leaving the Overview
//! (another bot, another tab) and coming back shows the same live progress.
import { api, toAppError, type PullPolicy } from "../ipc";
import { complete, fail, newOperation, reduce, type Operation } from "../operation";
import { t } from "../i18n/index.svelte";
import { bots } from "./bots.svelte";
import { toasts } from "./toasts.svelte";
import { workspaces } from "./workspaces.svelte";

/** How long a finished operation keeps its 100 % panel before the plain running view. */
export const COMPLETE_LINGER_MS = 3000;

class Operations {
  byBot = $state<Record<string, Operation>>({});

  get(bot: string): Operation | undefined {
    return this.byBot[bot];
  }

  isActive(bot: string): boolean {
    return this.byBot[bot]?.outcome === "active";
  }

  async create(bot: string, image: string | null, pullPolicy: PullPolicy | null) {
    if (this.isActive(bot)) return;
    this.byBot[bot] = newOperation(bot, image, pullPolicy);
    const update = (f: (op: Operation) => Operation) => {
      const op = this.byBot[bot];
      if (op) this.byBot[bot] = f(op);
    };
    try {
      const info = await api.workspaceCreate(bot, image, pullPolicy, (ev) => update((op) => reduce(op, ev)));
      update((op) => complete(op, info));
      workspaces.set(info);
      toasts.info(t("prog.created", { name: bot }));
      if (info.dataRestored) toasts.info(t("data.createdRestored"));
      setTimeout(() => {
        if (this.byBot[bot]?.outcome === "complete") delete this.byBot[bot];
      }, COMPLETE_LINGER_MS);
    } catch (raw) {
      const err = toAppError(raw);
      update((op) => fail(op, { code: err.code, message: err.message }));
      if (err.code === "Cancelled") {
        // Back to the create form, which is the "try again" for a cancel.
        delete this.byBot[bot];
        toasts.info(t("prog.cancelled", { name: bot }));
      }
      await workspaces.load(bot);
    }
    await bots.refresh();
  }

  async cancel(bot: string) {
    const op = this.byBot[bot];
    if (op) op.cancelling = true;
    try {
      await api.workspaceCancel(bot);
    } catch (e) {
      if (op) op.cancelling = false;
      toasts.error(e);
    }
  }

  retry(bot: string) {
    const op = this.byBot[bot];
    if (!op || op.outcome === "active") return;
    delete this.byBot[bot];
    return this.create(bot, op.requestedImage, op.pullPolicy);
  }

  dismiss(bot: string) {
    if (!this.isActive(bot)) delete this.byBot[bot];
  }
}

export const operations = new Operations();
