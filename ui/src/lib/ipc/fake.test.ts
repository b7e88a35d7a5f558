// The fake backend is what the e2e tests and `vite --mode mock` run against, so its create
// stream must obey the same contract the real one does.
import { afterEach, describe, expect, it } from "vitest";
import { clearMocks } from "@tauri-apps/api/mocks";
import { api } from "./index";
import { installFakeBackend, normaliseImage } from "./fake";
import { newOperation, reduce } from "../operation";
import type { CreateEvent } from "./types";

describe("fake backend", () => {
  afterEach(() => clearMocks());

  it("normalises image references like the reference system", () => {
    expect(normaliseImage("debian")).toBe("docker.io/library/debian:latest");
    expect(normaliseImage("acme/bot:1")).toBe("docker.io/acme/bot:1");
    expect(normaliseImage("localhost:5000/x")).toBe("localhost:5000/x:latest");
    expect(normaliseImage("ghcr.io/a/b@sha256:00")).toBe("ghcr.io/a/b@sha256:00");
  });

  it("streams a create that reduces to a complete operation", async () => {
    installFakeBackend("?speed=0.05");
    const events: CreateEvent[] = [];
    const info = await api.workspaceCreate("nova", null, null, (e) => events.push(e));
    expect(info.state).toBe("running");
    const phases = [...new Set(events.map((e) => e.phase))];
    expect(phases).toEqual(["resolving", "pulling", "unpacking", "creating", "starting", "waitingBridge", "complete"]);
    const op = events.reduce(reduce, newOperation("nova", null, null));
    expect(op.outcome).toBe("complete");
    expect(op.percent).toBe(100);
    expect((await api.workspaceInfo("nova")).state).toBe("running");
  });

  it("honours cancel with a Cancelled rejection", async () => {
    installFakeBackend("?speed=0.2");
    const events: CreateEvent[] = [];
    const pending = api.workspaceCreate("nova", null, null, (e) => {
      events.push(e);
      if (e.phase === "pulling" && events.length === 3) api.workspaceCancel("nova");
    });
    await expect(pending).rejects.toMatchObject({ code: "Cancelled" });
    expect(events.some((e) => e.phase === "creating")).toBe(false);
    expect((await api.workspaceInfo("nova")).state).toBe("absent");
  });

  it("validates bot names and refuses duplicates", async () => {
    installFakeBackend("");
    await expect(api.botCreate("Bad")).rejects.toMatchObject({ code: "InvalidArgument" });
    await expect(api.botCreate("atlas")).rejects.toMatchObject({ code: "AlreadyExists" });
    await expect(api.botCreate("ok-1")).resolves.toMatchObject({ name: "ok-1", state: "absent" });
  });
});
