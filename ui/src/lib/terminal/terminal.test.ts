// The terminal's IPC contract against the mock backend (bytes and statuses on one channel,
// scrollback on re-attach, exit codes, workspace stop) and the small pure helpers.
import { afterEach, describe, expect, it } from "vitest";
import { clearMocks } from "@tauri-apps/api/mocks";
import { api, type TerminalInfo } from "../ipc";
import { installFakeBackend } from "../ipc/fake";
import { routeMessage } from "../ipc/terminal";
import { clampFont, statusLabel, terminalTheme } from "./theme";
import { translate } from "../i18n/index.svelte";

const dec = new TextDecoder();
const until = async (f: () => boolean) => {
  for (let i = 0; i < 200 && !f(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(f()).toBe(true);
};

function recorder() {
  const rec = { text: "", statuses: [] as TerminalInfo[] };
  const view = {
    onData: (b: Uint8Array) => (rec.text += dec.decode(b, { stream: true })),
    onStatus: (i: TerminalInfo) => rec.statuses.push(i),
  };
  return { rec, view };
}

describe("terminal IPC (mock backend)", () => {
  afterEach(() => clearMocks());

  it("opens, echoes, replays scrollback on attach, and reports the exit code", async () => {
    installFakeBackend("?speed=0.05");
    const a = recorder();
    const { info } = await api.terminal.open("atlas", 24, 80, a.view);
    expect(info.status).toBe("running");
    await api.terminal.write(info.id, "echo hel''lo\r");
    await until(() => a.rec.text.includes("hello"));

    const b = recorder();
    await api.terminal.attach(info.id, b.view);
    expect(b.rec.text).toContain("hello");
    await api.terminal.resize(info.id, 40, 120);
    await api.terminal.write(info.id, "stty size\r");
    await until(() => b.rec.text.includes("40 120"));

    expect((await api.terminal.rename(info.id, "build")).title).toBe("build");
    expect((await api.terminal.list("atlas")).map((i) => i.title)).toEqual(["build"]);
    await api.terminal.write(info.id, "exit 3\r");
    await until(() => b.rec.statuses.some((s) => s.status === "exited"));
    expect(b.rec.statuses.at(-1)?.exitCode).toBe(3);
    await api.terminal.close(info.id);
    expect(await api.terminal.list("atlas")).toEqual([]);
  });

  it("refuses a stopped workspace and marks sessions when their workspace stops", async () => {
    installFakeBackend("?speed=0.05");
    await expect(api.terminal.open("scribe", 24, 80, recorder().view)).rejects.toMatchObject({ code: "Conflict" });
    const a = recorder();
    const { info } = await api.terminal.open("atlas", 24, 80, a.view);
    await api.workspaceStop("atlas");
    await until(() => a.rec.statuses.some((s) => s.status === "workspaceStopped"));
    await expect(api.terminal.write(info.id, "x")).rejects.toMatchObject({ code: "Conflict" });
  });
});

describe("helpers", () => {
  it("route raw bytes and JSON statuses", () => {
    const got: unknown[] = [];
    const view = { onData: (b: Uint8Array) => got.push(Array.from(b)), onStatus: (i: TerminalInfo) => got.push(i.id) };
    routeMessage(new Uint8Array([104, 105]).buffer, view);
    routeMessage([1, 2], view);
    routeMessage('{"id":"term-1"}', view);
    routeMessage({ id: "term-2" }, view);
    expect(got).toEqual([[104, 105], [1, 2], "term-1", "term-2"]);
  });

  it("label statuses and clamp the font", () => {
    const t = (k: "term.exited" | "term.killed" | "term.stopped", p?: Record<string, string | number>) => translate("en", k, p);
    expect(statusLabel(null, t)).toBe("");
    expect(statusLabel({ status: "exited", exitCode: 2, exitSignal: null }, t)).toBe("exited 2");
    expect(statusLabel({ status: "exited", exitCode: null, exitSignal: 9 }, t)).toBe("killed by signal 9");
    expect(statusLabel({ status: "workspaceStopped", exitCode: null, exitSignal: null }, t)).toBe("workspace stopped");
    expect(clampFont(100)).toBe(32);
    expect(clampFont(2)).toBe(8);
  });

  it("pick the palette of the current theme", () => {
    document.documentElement.dataset.theme = "dark";
    const dark = terminalTheme();
    document.documentElement.dataset.theme = "light";
    const light = terminalTheme();
    expect(dark.red).not.toBe(light.red);
  });
});
