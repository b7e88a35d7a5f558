//! The fake backend's `workspace_create` and `workspace_change_image`: plays a realistic
//! CreateEvent sequence (resolve, a pull of three layers sharing bandwidth, unpack, create, start,
//! wait for the bridge; for a change of image also preserving and restoring /data with byte
//! progress) over a few seconds, and stops as soon as the operation is cancelled. Mock builds only.
import { AppError } from "./errors";
import type { CreateEvent } from "./generated/CreateEvent";
import type { LayerProgress } from "./generated/LayerProgress";
import type { PullPolicy } from "./generated/PullPolicy";

export interface CreatePlan {
  image: string;
  policy: PullPolicy;
  alreadyPulled: boolean;
  /** The backend reports the pull as a whole (Apple Container): no layer rows, its percent. */
  wholePull?: boolean;
  /** Multiplies every delay; e2e tests slow the sequence down with `?speed=`. */
  slowdown: number;
  isCancelled: () => boolean;
  emit: (event: CreateEvent) => void;
}

const MiB = 1024 * 1024;

function sleep(ms: number) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Deterministic-looking digests so screenshots are stable. */
function digest(seed: string, i: number): string {
  let h = 2166136261;
  for (const c of `${seed}#${i}`) h = Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0;
  let hex = "";
  while (hex.length < 64) {
    h = Math.imul(h ^ (h >>> 13), 2246822507) >>> 0;
    hex += h.toString(16).padStart(8, "0");
  }
  return `sha256:${hex.slice(0, 64)}`;
}

/** A delay of the plan that throws `Cancelled` once the operation is cancelled. */
function stepper(plan: CreatePlan) {
  return async (ms: number) => {
    await sleep(ms * plan.slowdown);
    if (plan.isCancelled()) throw new AppError("Cancelled", "Workspace creation was cancelled");
  };
}

/** Runs the plan up to the point where the container is running; throws `AppError` on failure
 *  or cancellation. The caller emits `complete` with the final info. */
export async function playCreate(plan: CreatePlan): Promise<void> {
  await playPull(plan);
  await playStart(plan);
}

/** A data phase (`preserving` or `restoring`): `total` bytes in ten reports. */
export async function playData(plan: CreatePlan, phase: "preserving" | "restoring", total: number): Promise<void> {
  const step = stepper(plan);
  plan.emit({ phase });
  for (let i = 0; i <= 10; i++) {
    const done = Math.round((total * i) / 10);
    plan.emit({ phase: "dataTransfer", archive: Math.round(done * 0.4), done, total });
    await step(110);
  }
}

/** Resolve, pull and unpack. */
export async function playPull(plan: CreatePlan): Promise<void> {
  const step = stepper(plan);
  plan.emit({ phase: "resolving", image: plan.image });
  await step(150);

  const sizes = [29_160_042, 12_475_310, 3_512_845];
  const layers: LayerProgress[] = sizes.map((total, i) => ({
    digest: digest(plan.image, i),
    total,
    done: 0,
    status: "waiting",
  }));
  const snapshot = (bps: number): CreateEvent => {
    const totalBytes = layers.reduce((s, l) => s + l.total, 0);
    const doneBytes = layers.reduce((s, l) => s + l.done, 0);
    return {
      phase: "pulling",
      image: plan.image,
      layers: plan.wholePull ? [] : layers.map((l) => ({ ...l })),
      totalBytes,
      doneBytes,
      bytesPerSecond: Math.round(bps),
      etaSeconds: bps > 0 ? Math.ceil((totalBytes - doneBytes) / bps) : null,
      percent: plan.wholePull ? Math.floor((doneBytes / totalBytes) * 100) : null,
      layersUnavailable: plan.wholePull ? "this container backend reports the download as a whole, not per layer" : null,
    };
  };

  if (plan.alreadyPulled && plan.policy !== "always") {
    for (const l of layers) Object.assign(l, { done: l.total, status: "exists" });
    plan.emit(snapshot(0));
    await step(120);
  } else if (plan.policy === "never") {
    throw new AppError(
      "NotFound",
      `Image ${plan.image} is not present locally and the pull policy is "never"`,
    );
  } else {
    plan.emit(snapshot(0));
    const tickMs = 100;
    const failing = plan.image.includes("fail");
    for (let tick = 0; layers.some((l) => l.status !== "done"); tick++) {
      await step(tickMs);
      if (failing && tick === 4) {
        throw new AppError(
          "Unavailable",
          `Pulling ${plan.image} failed: registry answered 404 Not Found for the manifest`,
        );
      }
      // Bandwidth ramps up like a real TCP connection, shared by at most two layers at a time.
      const bps = Math.min(46 * MiB, 12 * MiB + tick * 8 * MiB) * (0.9 + 0.2 * Math.random());
      const budget = (bps * tickMs) / 1000;
      const active = layers.filter((l) => l.status !== "done").slice(0, 2);
      for (const l of active) {
        l.status = "downloading";
        const take = Math.min(l.total - l.done, Math.floor(budget / active.length));
        l.done += take;
        if (l.done >= l.total) l.status = "done";
      }
      plan.emit(snapshot(bps));
    }
  }

  for (let i = 1; i <= layers.length; i++) {
    plan.emit({ phase: "unpacking", layer: i, layers: layers.length });
    await step(160);
  }
}

/** Create the container, start it, wait for the bridge. */
export async function playStart(plan: CreatePlan): Promise<void> {
  const step = stepper(plan);
  plan.emit({ phase: "creating" });
  await step(220);
  plan.emit({ phase: "starting" });
  await step(220);
  plan.emit({ phase: "waitingBridge" });
  await step(260);
}
