import { afterEach, describe, expect, it } from "vitest";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { AppError, toAppError } from "./errors";
import { api } from "./index";

describe("toAppError", () => {
  it("keeps a well-formed backend error", () => {
    const e = toAppError({ code: "NotFound", message: "no such bot" });
    expect(e).toBeInstanceOf(AppError);
    expect(e.code).toBe("NotFound");
    expect(e.message).toBe("no such bot");
  });
  it("makes an unknown code Internal but keeps the message", () => {
    const e = toAppError({ code: "Weird", message: "boom" });
    expect([e.code, e.message]).toEqual(["Internal", "boom"]);
  });
  it("uses the code as message when there is none", () => {
    expect(toAppError({ code: "Conflict" }).message).toBe("Conflict");
  });
  it("wraps strings (Tauri's own errors) and Errors", () => {
    expect(toAppError("command bot_lst not found")).toMatchObject({ code: "Internal", message: "command bot_lst not found" });
    expect(toAppError(new TypeError("x is undefined"))).toMatchObject({ code: "Internal", message: "x is undefined" });
  });
  it("never produces an empty message", () => {
    for (const raw of [undefined, null, "", {}, 42]) expect(toAppError(raw).message).not.toBe("");
  });
  it("returns an AppError unchanged", () => {
    const e = new AppError("Cancelled", "stop");
    expect(toAppError(e)).toBe(e);
  });
});

describe("api", () => {
  afterEach(() => clearMocks());

  it("passes camelCase args and rejects with AppError", async () => {
    const seen: unknown[] = [];
    mockIPC((cmd, args) => {
      seen.push([cmd, args]);
      if (cmd === "bot_rename") throw { code: "AlreadyExists", message: "taken" };
      return null;
    });
    await expect(api.botRename("a", "b")).rejects.toMatchObject({ code: "AlreadyExists", message: "taken" });
    await expect(api.botRename("a", "b")).rejects.toBeInstanceOf(AppError);
    expect(seen[0]).toEqual(["bot_rename", { name: "a", newName: "b" }]);
  });

  it("unsubscribes synchronously even before listen resolved", async () => {
    mockIPC(() => null, { shouldMockEvents: true });
    const got: unknown[] = [];
    const stop = api.onWorkspaceChanged((c) => got.push(c));
    stop(); // before the listen promise settled
    const { emit } = await import("@tauri-apps/api/event");
    await emit("workspace://changed", { bot: "a", state: "running" });
    await new Promise((r) => setTimeout(r, 10));
    expect(got).toEqual([]);
  });

  it("delivers workspace://changed payloads", async () => {
    mockIPC(() => null, { shouldMockEvents: true });
    const got: unknown[] = [];
    const stop = api.onWorkspaceChanged((c) => got.push(c));
    await new Promise((r) => setTimeout(r, 0));
    const { emit } = await import("@tauri-apps/api/event");
    await emit("workspace://changed", { bot: "a", state: "running" });
    expect(got).toEqual([{ bot: "a", state: "running" }]);
    stop();
  });
});
