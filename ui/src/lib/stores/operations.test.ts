// The store around the reducer, against the fake backend: state survives as long as the store
// lives (navigation does not touch it), completes at 100 %, and a cancel returns to the form.
import { afterEach, describe, expect, it } from "vitest";
import { clearMocks } from "@tauri-apps/api/mocks";
import { installFakeBackend } from "../ipc/fake";
import { operations } from "./operations.svelte";
import { workspaces } from "./workspaces.svelte";

const until = async (cond: () => boolean, ms = 3000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 5));
  }
};

describe("operations store", () => {
  afterEach(() => clearMocks());

  it("follows a create to completion with percent never going back", async () => {
    installFakeBackend("?speed=0.1");
    const seen: number[] = [];
    const done = operations.create("nova", null, "always");
    await until(() => operations.get("nova")?.phase === "pulling");
    while (operations.isActive("nova")) {
      seen.push(operations.get("nova")?.percent ?? 0);
      await new Promise((r) => setTimeout(r, 3));
    }
    await done;
    expect(seen.length).toBeGreaterThan(3);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    const op = operations.get("nova")!;
    expect(op.outcome).toBe("complete");
    expect(op.percent).toBe(100);
    expect(workspaces.byBot["nova"]?.state).toBe("running");
  });

  it("a cancel removes the operation; a failure keeps it for Try again", async () => {
    installFakeBackend("?speed=0.3");
    const pending = operations.create("nova", null, null);
    await until(() => operations.get("nova")?.phase === "pulling");
    await operations.cancel("nova");
    await pending;
    expect(operations.get("nova")).toBeUndefined();

    const failing = operations.create("nova", "example/fail", null);
    await failing;
    expect(operations.get("nova")?.outcome).toBe("failed");
    expect(operations.get("nova")?.error?.code).toBe("Unavailable");
    expect(operations.get("nova")?.requestedImage).toBe("example/fail");
  });
});
