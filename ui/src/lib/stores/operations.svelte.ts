//! Create and change-of-image operations, one per bot, kept here rather than in a component so
//! leaving the Overview (another bot, another tab) and coming back shows the same live progress.
import { api, toAppError, type CreateEvent, type PullPolicy, type WorkspaceInfo } from "../ipc";
import { shortImage } from "../format";
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

  create(bot: string, image: string | null, pullPolicy: PullPolicy | null) {
    return this.#run(newOperation(bot, image, pullPolicy), (onProgress) =>
      api.workspaceCreate(bot, image, pullPolicy, onProgress),
    );
  }

  /** Recreates the bot's workspace on `image`, keeping /data (one operation, like create). */
  changeImage(bot: string, image: string, pullPolicy: PullPolicy | null) {
    return this.#run(newOperation(bot, image, pullPolicy, "changeImage"), (onProgress) =>
      api.workspaceChangeImage(bot, image, pullPolicy, onProgress),
    );
  }

  async #run(start: Operation, call: (onProgress: (ev: CreateEvent) => void) => Promise<WorkspaceInfo>) {
    const bot = start.bot;
    if (this.isActive(bot)) return;
    this.byBot[bot] = start;
    const update = (f: (op: Operation) => Operation) => {
      const op = this.byBot[bot];
      if (op) this.byBot[bot] = f(op);
    };
    try {
      const info = await call((ev) => update((op) => reduce(op, ev)));
      update((op) => complete(op, info));
      workspaces.set(info);
      if (start.kind === "changeImage") toasts.info(t("prog.changed", { name: bot, image: shortImage(info.image) }));
      else toasts.info(t("prog.created", { name: bot }));
      if (info.dataRestored && start.kind === "create") toasts.info(t("data.createdRestored"));
      setTimeout(() => {
        if (this.byBot[bot]?.outcome === "complete") delete this.byBot[bot];
      }, COMPLETE_LINGER_MS);
    } catch (raw) {
      const err = toAppError(raw);
      update((op) => fail(op, { code: err.code, message: err.message }));
      if (err.code === "Cancelled") {
        // Back to the form (or the workspace, when a change of image had not deleted it yet).
        delete this.byBot[bot];
        if (start.kind === "changeImage") toasts.info(t("prog.changeCancelled", { name: bot }));
        else toasts.info(t("prog.cancelled", { name: bot }));
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

  /** Repeats a failed operation. A change of image that failed after deleting the old
   *  workspace is repeated as a create, which restores the kept /data. */
  retry(bot: string) {
    const op = this.byBot[bot];
    if (!op || op.outcome === "active") return;
    delete this.byBot[bot];
    const hasWorkspace = (workspaces.byBot[bot]?.state ?? "absent") !== "absent";
    if (op.kind === "changeImage" && hasWorkspace && op.requestedImage) {
      return this.changeImage(bot, op.requestedImage, op.pullPolicy);
    }
    return this.create(bot, op.requestedImage, op.pullPolicy);
  }

  dismiss(bot: string) {
    if (!this.isActive(bot)) delete this.byBot[bot];
  }
}

export const operations = new Operations();
