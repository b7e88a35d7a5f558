//! The create (or change-of-image) operation as data: a pure reducer over CreateEvents. Kept
//! free of Svelte and IPC so its rules (percent never goes back, phases only move forward,
//! terminal states stick) are unit-tested directly; `stores/operations.svelte.ts` holds one of
//! these per bot.
import type { CreateEvent, DataProgress, ErrorBody, PullPolicy, PullProgress, WorkspaceInfo } from "./ipc";
import { percentOf } from "./format";

export type Phase =
  | "resolving"
  | "pulling"
  | "unpacking"
  | "preserving"
  | "removingOld"
  | "creating"
  | "starting"
  | "waitingBridge"
  | "restoring"
  | "complete";
export type Outcome = "active" | "complete" | "failed" | "cancelled";
/** A create, or a change of image (the workspace recreated on another image keeping /data). */
export type OperationKind = "create" | "changeImage";

export interface Operation {
  kind: OperationKind;
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
  /** Bytes of the running data phase (preserving, restoring); null outside them. */
  data: DataProgress | null;
  error: ErrorBody | null;
  info: WorkspaceInfo | null;
  cancelling: boolean;
}

const ORDER: Phase[] = [
  "resolving",
  "pulling",
  "unpacking",
  "preserving",
  "removingOld",
  "creating",
  "starting",
  "waitingBridge",
  "restoring",
  "complete",
];

/** Stepper steps of a create; each phase belongs to one (restoring kept data to "start"). */
export const STEPS = ["pull", "unpack", "create", "start", "ready"] as const;
/** Stepper steps of a change of image, in the order the backend runs them. */
export const CHANGE_STEPS = ["pull", "unpack", "preserve", "create", "start", "restore", "ready"] as const;
export type Step = (typeof CHANGE_STEPS)[number];

const STEP_OF: Record<Phase, Step> = {
  resolving: "pull",
  pulling: "pull",
  unpacking: "unpack",
  preserving: "preserve",
  removingOld: "preserve",
  creating: "create",
  starting: "start",
  waitingBridge: "start",
  restoring: "restore",
  complete: "ready",
};

export function stepsOf(kind: OperationKind): readonly Step[] {
  return kind === "changeImage" ? CHANGE_STEPS : STEPS;
}

/** The index of the phase's step among the operation kind's steps. */
export function stepOf(phase: Phase, kind: OperationKind = "create"): number {
  const step = kind === "create" && phase === "restoring" ? "start" : STEP_OF[phase];
  return stepsOf(kind).indexOf(step);
}

export function newOperation(
  bot: string,
  image: string | null,
  pullPolicy: PullPolicy | null,
  kind: OperationKind = "create",
): Operation {
  return {
    kind,
    bot,
    requestedImage: image,
    pullPolicy,
    image,
    phase: "resolving",
    outcome: "active",
    pull: null,
    percent: null,
    unpack: null,
    data: null,
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
  if (ev.phase === "dataTransfer") {
    // Progress of the data phase under way; none belongs to a phase that has ended.
    if (op.phase !== "preserving" && op.phase !== "restoring") return op;
    const { phase: _phase, ...data } = ev;
    return { ...op, data };
  }
  // A phase never goes back; a stale event from an earlier phase is dropped.
  if (ORDER.indexOf(ev.phase) < ORDER.indexOf(op.phase)) return op;
  const next: Operation = { ...op, phase: ev.phase };
  if (ev.phase !== op.phase) next.data = null;
  switch (ev.phase) {
    case "resolving":
      next.image = ev.image;
      break;
    case "pulling": {
      const { phase: _phase, ...pull } = ev;
      next.pull = pull;
      next.image = pull.image;
      // A backend that reports the pull as a whole gives its own percent (bytes may be unknown).
      next.percent = grow(op.percent, pull.percent !== null ? Math.floor(pull.percent) : percentOf(pull.doneBytes, pull.totalBytes));
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
