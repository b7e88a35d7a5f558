import { describe, expect, it } from "vitest";
import type { CreateEvent, LayerProgress, WorkspaceInfo } from "./ipc";
import { complete, fail, newOperation, reduce, stepOf, type Operation } from "./operation";

const layer = (done: number, total = 100): LayerProgress => ({
  digest: `sha256:${"ab".repeat(32)}`,
  total,
  done,
  status: done >= total ? "done" : done > 0 ? "downloading" : "waiting",
});
const pulling = (done: number, total = 200): CreateEvent => ({
  phase: "pulling",
  image: "docker.io/library/debian:12",
  layers: [layer(Math.min(done, 100)), layer(Math.max(0, done - 100))],
  totalBytes: total,
  doneBytes: done,
  bytesPerSecond: 1000,
  etaSeconds: 3,
  percent: null,
  layersUnavailable: null,
});
const info: WorkspaceInfo = {
  bot: "b",
  state: "running",
  image: "docker.io/library/debian:12",
  containerId: "berth-b",
  network: "cni",
  bridgeVersion: "0.1.0",
  lastError: null,
  createdAt: null,
  updatedAt: null,
  hostNetwork: false,
  blockPrivateNetworks: false,
  limits: { memory: null, cpuMillis: null, pids: null },
};
const run = (events: CreateEvent[], op: Operation = newOperation("b", null, null)) => events.reduce(reduce, op);

describe("reduce", () => {
  const sequence: CreateEvent[] = [
    { phase: "resolving", image: "docker.io/library/debian:12" },
    pulling(0),
    pulling(50),
    pulling(120),
    pulling(200),
    { phase: "unpacking", layer: 1, layers: 2 },
    { phase: "unpacking", layer: 2, layers: 2 },
    { phase: "creating" },
    { phase: "starting" },
    { phase: "waitingBridge" },
    { phase: "complete", info },
  ];

  it("walks the whole sequence with phases in order and percent only growing", () => {
    let op = newOperation("b", null, null);
    let lastPercent = -1;
    let lastStep = 0;
    for (const ev of sequence) {
      op = reduce(op, ev);
      expect(op.phase).toBe(ev.phase);
      const p = op.percent ?? 0;
      expect(p).toBeGreaterThanOrEqual(lastPercent);
      expect(stepOf(op.phase)).toBeGreaterThanOrEqual(lastStep);
      lastPercent = p;
      lastStep = stepOf(op.phase);
    }
    expect(op.outcome).toBe("complete");
    expect(op.percent).toBe(100);
    expect(op.info).toEqual(info);
    expect(op.image).toBe("docker.io/library/debian:12");
  });

  it("hides percent while nothing is downloaded, then rounds", () => {
    expect(run([pulling(0)]).percent).toBeNull();
    expect(run([pulling(1, 3)]).percent).toBe(33);
  });

  it("never lets percent go back, even if a snapshot says less", () => {
    const op = run([pulling(150), pulling(90)]);
    expect(op.percent).toBe(75);
    expect(op.pull?.doneBytes).toBe(90); // the rows still show what the backend said
  });

  it("takes a whole-pull backend's own percent when it gives one (bytes unknown)", () => {
    const whole = (percent: number): CreateEvent => ({
      ...(pulling(0, 0) as Extract<CreateEvent, { phase: "pulling" }>),
      layers: [],
      percent,
      layersUnavailable: "reported as a whole",
    });
    expect(run([whole(41.7)]).percent).toBe(41);
    expect(run([whole(60), whole(20)]).percent).toBe(60);
  });

  it("drops a stale event from an earlier phase", () => {
    const op = run([pulling(100), { phase: "unpacking", layer: 1, layers: 2 }, pulling(120)]);
    expect(op.phase).toBe("unpacking");
    expect(op.pull?.doneBytes).toBe(100);
  });

  it("shows the pull as complete once it is over", () => {
    expect(run([pulling(190), { phase: "unpacking", layer: 1, layers: 2 }]).percent).toBe(100);
  });

  it("leaves percent hidden when nothing was pulled", () => {
    expect(run([{ phase: "resolving", image: "x" }, { phase: "creating" }]).percent).toBeNull();
  });

  it("fails on a failed event and then ignores everything", () => {
    const op = run([pulling(50), { phase: "failed", error: { code: "Unavailable", message: "registry down" } }, pulling(150), { phase: "complete", info }]);
    expect(op.outcome).toBe("failed");
    expect(op.error).toEqual({ code: "Unavailable", message: "registry down" });
    expect(op.phase).toBe("pulling"); // where it broke, for the stepper
    expect(op.percent).toBe(25);
  });

  it("turns a Cancelled rejection into cancelled, not failed", () => {
    let op = run([pulling(50)]);
    op = { ...op, cancelling: true };
    op = fail(op, { code: "Cancelled", message: "cancelled" });
    expect(op.outcome).toBe("cancelled");
    expect(op.cancelling).toBe(false);
    expect(fail(op, { code: "Internal", message: "late" }).outcome).toBe("cancelled");
  });

  it("completes from the resolved promise when the event was missed", () => {
    const op = complete(run([pulling(200), { phase: "waitingBridge" }]), info);
    expect(op.outcome).toBe("complete");
    expect(op.percent).toBe(100);
    expect(op.info).toEqual(info);
  });

  it("maps phases to the five steps", () => {
    expect(["resolving", "pulling", "unpacking", "creating", "starting", "waitingBridge", "complete"].map((p) => stepOf(p as Operation["phase"]))).toEqual([
      0, 0, 1, 2, 3, 3, 4,
    ]);
  });

  it("restoring kept data in a create belongs to the start step", () => {
    expect(stepOf("restoring")).toBe(3);
  });
});

describe("change of image", () => {
  const progress = (done: number, total = 1000): CreateEvent => ({ phase: "dataTransfer", archive: done / 2, done, total });
  const sequence: CreateEvent[] = [
    { phase: "resolving", image: "docker.io/library/debian:12" },
    pulling(200),
    { phase: "unpacking", layer: 1, layers: 2 },
    { phase: "preserving" },
    progress(400),
    progress(1000),
    { phase: "removingOld" },
    { phase: "creating" },
    { phase: "starting" },
    { phase: "waitingBridge" },
    { phase: "restoring" },
    progress(300, 600),
    progress(600, 600),
  ];
  const start = () => newOperation("b", "debian:12", null, "changeImage");

  it("walks the seven steps in the backend's order", () => {
    let op = start();
    const steps: number[] = [];
    for (const ev of sequence) {
      op = reduce(op, ev);
      steps.push(stepOf(op.phase, op.kind));
    }
    expect(steps).toEqual([0, 0, 1, 2, 2, 2, 2, 3, 4, 4, 5, 5, 5]);
    expect(stepOf("complete", "changeImage")).toBe(6);
  });

  it("keeps the data phase's bytes and clears them when the phase ends", () => {
    let op = sequence.slice(0, 6).reduce(reduce, start());
    expect(op.data).toEqual({ archive: 500, done: 1000, total: 1000 });
    op = reduce(op, { phase: "removingOld" });
    expect(op.data).toBeNull();
    op = sequence.slice(6).reduce(reduce, op);
    expect(op.phase).toBe("restoring");
    expect(op.data).toEqual({ archive: 300, done: 600, total: 600 });
  });

  it("drops data progress outside a data phase", () => {
    const op = reduce(run([pulling(50)]), progress(10));
    expect(op.data).toBeNull();
    expect(op.phase).toBe("pulling");
  });
});
