//! The create operation as data: a pure reducer over CreateEvents. Kept free of Svelte and IPC
//! so its rules (percent never goes back, phases only move forward, terminal states stick) are
//! unit-tested directly; `stores/operations.svelte.ts` holds one of these per bot.
import type { CreateEvent, ErrorBody, PullPolicy, PullProgress, WorkspaceInfo } from "./ipc";
import { percentOf } from "./format";

export type Phase = "resolving" | "pulling" | "unpacking" | "creating" | "starting" | "waitingBridge" | "restoring" | "complete";
export type Outcome = "active" | "complete" | "failed" | "cancelled";

export interface Operation {
  bot: string;
  /** What the user asked for, so "Try again" repeats it exactly. */
  requestedImage: string | null;
  pullPolicy: PullPolicy | null;
  /** The resolved reference, once the backend said it. */
  image: string | null;
  phase: Phase;
  outcome: Outcome;
  pull: PullProgress | null;
  /** Overall percent; only ever grows, null while unknown (hidden in the UI). */
  percent: number | null;
  unpack: { layer: number; layers: number } | null;
  error: ErrorBody | null;
  info: WorkspaceInfo | null;
  cancelling: boolean;
}

const ORDER: Phase[] = ["resolving", "pulling", "unpacking", "creating", "starting", "waitingBridge", "restoring", "complete"];

/** Stepper steps; each phase belongs to one. */
export const STEPS = ["pull", "unpack", "create", "start", "ready"] as const;
export type Step = (typeof STEPS)[number];

export function stepOf(phase: Phase): number {
  switch (phase) {
    case "resolving":
    case "pulling":
      return 0;
    case "unpacking":
      return 1;
    case "creating":
      return 2;
    case "starting":
    case "waitingBridge":
    case "restoring":
      return 3;
    case "complete":
      return 4;
  }
}

export function newOperation(bot: string, image: string | null, pullPolicy: PullPolicy | null): Operation {
  return {
    bot,
    requestedImage: image,
    pullPolicy,
    image,
    phase: "resolving",
    outcome: "active",
    pull: null,
    percent: null,
    unpack: null,
    error: null,
    info: null,
    cancelling: false,
  };
}

function grow(prev: number | null, next: number | null): number | null {
  if (next === null) return prev;
  return prev === null ? next : Math.max(prev, next);
}

export function reduce(op: Operation, ev: CreateEvent): Operation {
  if (op.outcome !== "active") return op; // terminal states stick: late events change nothing
  if (ev.phase === "failed") return fail(op, ev.error);
  // A phase never goes back; a stale event from an earlier phase is dropped.
  if (ORDER.indexOf(ev.phase) < ORDER.indexOf(op.phase)) return op;
  const next: Operation = { ...op, phase: ev.phase };
  switch (ev.phase) {
    case "resolving":
      next.image = ev.image;
      break;
    case "pulling": {
      const { phase: _phase, ...pull } = ev;
      next.pull = pull;
      next.image = pull.image;
      next.percent = grow(op.percent, percentOf(pull.doneBytes, pull.totalBytes));
      break;
    }
    case "unpacking":
      next.unpack = { layer: ev.layer, layers: ev.layers };
      break;
    case "complete":
      next.outcome = "complete";
      next.info = ev.info;
      next.cancelling = false;
      break;
    default:
      break;
  }
  // Once the pull is over every byte is here, whatever the last snapshot said; on complete the
  // bar shows 100 % (the last visual state is kept rather than dropping back to 0).
  if (ev.phase !== "pulling" && ev.phase !== "resolving" && (next.pull || ev.phase === "complete")) {
    next.percent = 100;
  }
  return next;
}

/** The create call rejected (or a `failed` event came): failed, or cancelled for `Cancelled`. */
export function fail(op: Operation, error: ErrorBody): Operation {
  if (op.outcome !== "active") return op;
  return {
    ...op,
    outcome: error.code === "Cancelled" ? "cancelled" : "failed",
    error,
    cancelling: false,
  };
}

/** Finishes with the info the create call resolved with (in case `complete` was not seen). */
export function complete(op: Operation, info: WorkspaceInfo): Operation {
  if (op.outcome === "complete") return { ...op, info };
  return reduce(op, { phase: "complete", info });
}
