//! In-memory backend for `vite --mode mock`, vitest and the Chromium e2e tests. It answers every
//! Tauri command through `mockIPC`, streams CreateEvents through the real `Channel` callback path
//! and emits `workspace://changed`. Never part of the production bundle: main.ts imports it only
//! in mock mode, and e2e/bundle.test.mjs checks `dist/` for the marker below.
//!
//! Query parameters (mock builds only): `?speed=N` slows every step N times, `?containerd=down`
//! starts disconnected, `?network=host` pretends no CNI plugins exist, `?empty=1` starts with no bots.
import { mockIPC, mockWindows } from "@tauri-apps/api/mocks";
import { emit } from "@tauri-apps/api/event";
import { AppError } from "./errors";
import { playData, playPull, playStart, type CreatePlan } from "./fake-create";
import { fakeTerminalCommands } from "./fake-terminal";
import { fakeFileCommands } from "./fake-files";
import { fakeVersionCommands } from "./fake-versions";
import { fakeDataCommands } from "./fake-data";
import { fakeAgentCommands } from "./fake-agents";
import type { ActivityEntry } from "./generated/ActivityEntry";
import type { BotSummary } from "./generated/BotSummary";
import type { CreateEvent } from "./generated/CreateEvent";
import type { PullPolicy } from "./generated/PullPolicy";
import type { Settings } from "./generated/Settings";
import type { SystemStatus } from "./generated/SystemStatus";
import type { WorkspaceInfo } from "./generated/WorkspaceInfo";
import type { WorkspaceState } from "./generated/WorkspaceState";

export const FAKE_BACKEND_MARKER = "berth-fake-backend:3b1f0c";

interface FakeBot {
  name: string;
  createdAt: string;
  ws: WorkspaceInfo;
  activity: ActivityEntry[];
  cancel: (() => void) | null;
}

type Args = Record<string, unknown>;
type Internals = { runCallback: (id: number, data: unknown) => void };

const NAME_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;

export function normaliseImage(ref: string): string {
  let r = ref.trim();
  const first = r.split("/")[0];
  const hasRegistry = r.includes("/") && (first.includes(".") || first.includes(":") || first === "localhost");
  if (!hasRegistry) r = `docker.io/${r.includes("/") ? "" : "library/"}${r}`;
  const last = r.split("/").pop() ?? "";
  if (!last.includes(":") && !r.includes("@")) r += ":latest";
  return r;
}

export function installFakeBackend(search: string = location.search): void {
  const q = new URLSearchParams(search);
  const slowdown = Math.max(0.05, Number(q.get("speed") ?? "1") || 1);
  const now = () => new Date().toISOString();
  const ago = (min: number) => new Date(Date.now() - min * 60_000).toISOString();

  let settings: Settings = {
    containerdSocket: "/run/containerd/containerd.sock",
    namespace: "berth",
    defaultImage: "docker.io/library/ubuntu:24.04",
    pullPolicy: "if-not-present",
    managedContainerd: false,
    archiveVersions: false,
    backend: null,
  };
  // `?backend=apple`: Apple Container's limitations, as core reports them there.
  const apple = q.get("backend") === "apple";
  const statsReads = { count: 0 };
  const status: SystemStatus = {
    connected: q.get("containerd") !== "down",
    socket: settings.containerdSocket,
    namespace: settings.namespace,
    version: "1.6.20",
    error: null,
    canManage: true,
    missing: null,
    managed: false,
    rootless: q.get("rootless") === "1",
    ownByDefault: q.get("rootless") === "1",
    resourceLimits: q.get("rootless") !== "1",
    network: q.get("network") === "host" ? "host" : "cni",
    backend: apple ? "Apple Container" : "containerd",
    limitations: apple
      ? [
          { feature: "layerProgress", reason: "Apple Container reports a download as a whole, not per layer" },
          { feature: "nativeVersions", reason: "Apple Container has no snapshots: versions are archives of /data, and changes outside /data are not captured" },
          { feature: "changeLimits", reason: "Apple Container fixes a workspace's limits when it creates it: a change applies when the workspace is created again" },
          { feature: "hostNetwork", reason: "Apple Container runs each workspace in a virtual machine with its own network: it cannot use this computer's network" },
          { feature: "privateNetworkBlock", reason: "Apple Container cannot keep a workspace off private networks (your LAN, VPNs, cloud metadata)" },
          { feature: "liveEvents", reason: "Apple Container has no event stream: Berth checks its containers every few seconds, so a change made outside Berth shows up a little late" },
        ]
      : [],
    // `?backend=apple&rosetta=1`: an x86-64 bridge on Apple silicon.
    notes: apple && q.get("rosetta") === "1" ? ["Workspaces run as linux/amd64 under Rosetta (CONTAINER_DEFAULT_PLATFORM): slower than arm64; with an arm64 bridge (scripts/build-bridge.sh --arch aarch64) they can run natively"] : [],
  };
  if (!status.connected) {
    status.version = null;
    status.error = apple
      ? "Apple's container system service is not running: run `container system start`"
      : `connect ${settings.containerdSocket}: no such file or directory`;
    if (apple) Object.assign(status, { canManage: false, missing: "this backend has no daemon Berth can run", limitations: [] });
  }
  const pulled = new Set(["docker.io/library/debian:bookworm-slim", "docker.io/library/alpine:3.20"]);
  const recent = ["docker.io/library/debian:bookworm-slim", "docker.io/library/alpine:3.20", "ghcr.io/acme/agent-base:1.4"];
  const remembered = new Map<string, string>();
  const bots = new Map<string, FakeBot>();

  const info = (bot: string, state: WorkspaceState, image: string | null, extra: Partial<WorkspaceInfo> = {}): WorkspaceInfo => ({
    bot, state, image,
    containerId: state === "absent" || state === "creating" ? null : `berth-${bot}`,
    network: state === "running" ? status.network : null,
    hostNetwork: false,
    blockPrivateNetworks: false,
    limits: { memory: null, cpuMillis: null, pids: null },
    bridgeVersion: state === "running" ? "0.1.0" : null,
    lastError: null,
    createdAt: state === "absent" ? null : ago(90),
    updatedAt: state === "absent" ? null : ago(5),
    ...extra,
  });
  const seed = (name: string, min: number, state: WorkspaceState, image: string | null, extra?: Partial<WorkspaceInfo>) => {
    bots.set(name, {
      name, createdAt: ago(min), ws: info(name, state, image, extra), cancel: null,
      activity: [{ at: ago(min), kind: "bot.created", message: `Bot ${name} created` }],
    });
    if (image) remembered.set(name, image);
  };
  if (q.get("empty") !== "1") {
    seed("atlas", 3000, "running", "docker.io/library/debian:bookworm-slim");
    seed("scribe", 2000, "stopped", "docker.io/library/alpine:3.20");
    seed("relay", 1500, "error", "ghcr.io/acme/agent-base:1.4", {
      lastError: "Task exited unexpectedly with status 137 (killed: out of memory)",
    });
    seed("nova", 60, "absent", null);
  }

  const log = (b: FakeBot, kind: string, message: string) => b.activity.unshift({ at: now(), kind, message });
  const changed = (b: FakeBot) => void emit("workspace://changed", { bot: b.name, state: b.ws.state });
  const setState = (b: FakeBot, ws: WorkspaceInfo) => {
    b.ws = { ...ws, updatedAt: now() };
    changed(b);
  };
  const summary = (b: FakeBot): BotSummary => ({
    name: b.name, state: b.ws.state, image: b.ws.image ?? remembered.get(b.name) ?? null, createdAt: b.createdAt,
  });
  const bot = (name: unknown): FakeBot => {
    const b = bots.get(String(name));
    if (!b) throw new AppError("NotFound", `Bot "${String(name)}" does not exist`);
    return b;
  };
  const needContainerd = () => {
    if (!status.connected) throw new AppError("Unavailable", `containerd is not reachable at ${status.socket}`);
  };
  const checkName = (name: unknown): string => {
    const n = String(name ?? "");
    if (!NAME_RE.test(n)) {
      throw new AppError("InvalidArgument", `"${n}" is not a valid bot name: use 1–63 lowercase letters, digits or '-', starting with a letter or digit`);
    }
    if (bots.has(n)) throw new AppError("AlreadyExists", `A bot named "${n}" already exists`);
    return n;
  };

  /** Change of image, after the new image is here: /data into the kept archive, the old
   *  workspace deleted (the bot is "creating" from then on). */
  async function replaceOld(b: FakeBot, plan: CreatePlan) {
    await playData(plan, "preserving", 3_481_600);
    fakeData.keep(b.name);
    plan.emit({ phase: "removingOld" });
    setState(b, info(b.name, "creating", plan.image));
    log(b, "workspace.deleted", "Old workspace deleted; its data is kept");
  }

  async function create(a: Args): Promise<WorkspaceInfo> {
    needContainerd();
    const b = bot(a.bot);
    if (a.changeImage) {
      if (b.ws.state === "absent" || b.ws.state === "creating") throw new AppError("NotFound", `${b.name} has no workspace; create one first`);
      if (!String(a.image ?? "").trim()) throw new AppError("InvalidArgument", "an image reference is needed");
    } else if (b.ws.state !== "absent") {
      throw new AppError("Conflict", `The workspace of ${b.name} already exists (${b.ws.state})`);
    }
    const { hostNetwork, blockPrivateNetworks } = b.ws;
    if (!hostNetwork && status.network === "host") {
      throw new AppError(
        "Unavailable",
        `no isolated network for the workspace: the CNI plugins are not installed; or give ${b.name} the host's network`,
      );
    }
    const image = normaliseImage(String(a.image ?? "") || remembered.get(b.name) || settings.defaultImage);
    const policy = (a.pullPolicy as PullPolicy | null) ?? settings.pullPolicy;
    const channel = a.onProgress as { id: number };
    const internals = (window as unknown as { __TAURI_INTERNALS__: Internals }).__TAURI_INTERNALS__;
    let index = 0;
    const send = (event: CreateEvent) => internals.runCallback(channel.id, { index: index++, message: event });
    let cancelled = false;
    b.cancel = () => (cancelled = true);
    const before = b.ws;
    if (!a.changeImage) setState(b, info(b.name, "creating", image, { hostNetwork, blockPrivateNetworks }));
    log(b, "workspace.creating", `${a.changeImage ? "Changing image to" : "Creating workspace from"} ${image}`);
    try {
      const plan: CreatePlan = { image, policy, alreadyPulled: pulled.has(image), wholePull: apple, slowdown, isCancelled: () => cancelled, emit: send };
      await playPull(plan);
      if (a.changeImage) await replaceOld(b, plan);
      await playStart(plan);
      const keptSize = fakeData.takeKept(b.name);
      if (keptSize !== null) await playData(plan, "restoring", keptSize);
      pulled.add(image);
      remembered.set(b.name, image);
      if (!recent.includes(image)) recent.unshift(image);
      const done = info(b.name, "running", image, {
        createdAt: now(),
        dataRestored: keptSize !== null,
        hostNetwork,
        blockPrivateNetworks,
        network: hostNetwork ? "host" : "cni",
      });
      send({ phase: "complete", info: done });
      setState(b, done);
      log(b, "workspace.created", `Workspace created and started (${image})`);
      return b.ws;
    } catch (e) {
      let err = e instanceof AppError ? e : new AppError("Internal", String(e));
      if (a.changeImage && (b.ws.state as WorkspaceState) !== "creating") {
        err = new AppError(err.code, `${err.message}; the workspace is unchanged`);
        // Failed or cancelled before the old workspace went: it is untouched.
        if (err.code !== "Cancelled") send({ phase: "failed", error: { code: err.code, message: err.message } });
        setState(b, before);
      } else if (err.code === "Cancelled") {
        log(b, "workspace.cancelled", "Workspace creation cancelled");
        setState(b, info(b.name, "absent", null));
      } else {
        send({ phase: "failed", error: { code: err.code, message: err.message } });
        log(b, "workspace.failed", err.message);
        setState(b, info(b.name, "absent", null, { lastError: err.message }));
      }
      throw err;
    } finally {
      b.cancel = null;
      internals.runCallback(channel.id, { index, end: true });
    }
  }

  const fakeFiles = fakeFileCommands(
    (name) => bots.get(name)?.ws.state,
    () => (window as unknown as { __TAURI_INTERNALS__: Internals }).__TAURI_INTERNALS__,
  );
  // Test hooks (mock builds only): an OS drop and a change made inside the workspace.
  (window as unknown as { __berthFakeFiles: unknown }).__berthFakeFiles = { drop: fakeFiles.fakeDrop, external: fakeFiles.external };
  // Test hook: how often the Usage panel asked.
  (window as unknown as { __berthFakeStatsReads: unknown }).__berthFakeStatsReads = statsReads;
  const fakeData = fakeDataCommands(
    (name) => bots.get(name)?.ws.state,
    () => (window as unknown as { __TAURI_INTERNALS__: Internals }).__TAURI_INTERNALS__,
    (ms) => new Promise((r) => setTimeout(r, ms * slowdown)),
  );
  const commands: Record<string, (a: Args) => unknown> = {
    system_status: () => ({ ...status }),
    managed_containerd_start: async () => {
      await new Promise((r) => setTimeout(r, 600 * slowdown));
      Object.assign(status, { connected: true, managed: true, version: "1.6.20", error: null });
      return { ...status };
    },
    settings_get: () => ({ ...settings }),
    settings_set: (a) => {
      const s = a.settings as Settings;
      if (!s.containerdSocket.startsWith("/") && !s.containerdSocket.startsWith("unix:///")) {
        throw new AppError("InvalidArgument", "containerd socket must be an absolute path");
      }
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(s.namespace)) throw new AppError("InvalidArgument", "Invalid namespace");
      if (!s.defaultImage.trim()) throw new AppError("InvalidArgument", "Default image must not be empty");
      settings = { ...s, defaultImage: normaliseImage(s.defaultImage) };
      Object.assign(status, { socket: settings.containerdSocket, namespace: settings.namespace });
      return { ...settings };
    },
    bot_list: () => [...bots.values()].map(summary).sort((x, y) => x.name.localeCompare(y.name)),
    bot_create: (a) => {
      const name = checkName(a.name);
      const b: FakeBot = { name, createdAt: now(), ws: info(name, "absent", null), activity: [], cancel: null };
      bots.set(name, b);
      log(b, "bot.created", `Bot ${name} created`);
      return summary(b);
    },
    bot_rename: (a) => {
      const b = bot(a.name);
      const to = checkName(a.newName);
      bots.delete(b.name);
      log(b, "bot.renamed", `Renamed from ${b.name} to ${to}`);
      b.name = to;
      b.ws = { ...b.ws, bot: to };
      bots.set(to, b);
      return summary(b);
    },
    bot_set_network: (a) => {
      const b = bot(a.bot);
      if (a.host && b.ws.blockPrivateNetworks) {
        throw new AppError("InvalidArgument", `${b.name} is kept off private networks, which only the isolated network can do; turn that off first`);
      }
      b.ws = { ...b.ws, hostNetwork: Boolean(a.host) };
      return null;
    },
    bot_set_block_private: (a) => {
      const b = bot(a.bot);
      if (a.blocked && b.ws.hostNetwork) {
        throw new AppError("InvalidArgument", `${b.name} uses the host's network, which cannot be kept off private networks; give it the isolated network first`);
      }
      b.ws = { ...b.ws, blockPrivateNetworks: Boolean(a.blocked) };
      return b.ws.state === "absent" || b.ws.network === "host" ? "nextCreate" : b.ws.state === "running" ? "now" : "nextStart";
    },
    workspace_stats: (a) => {
      statsReads.count += 1;
      const b = bot(a.bot);
      if (status.rootless) {
        throw new AppError("Unsupported", "live CPU and memory use: not available with a rootless containerd on this machine (workspaces get no cgroup of their own without a cgroup tree delegated to your user)");
      }
      if (b.ws.state !== "running") throw new AppError("Conflict", `${b.name}'s workspace is not running; start it first`);
      const memoryLimit = b.ws.limits.memory ?? 8 * 1024 * 1024 * 1024;
      return { cpuPercent: 3.5, cpuNanos: 1e9, memory: 180 * 1024 * 1024, memoryLimit, pids: 12, layerBytes: 42 * 1024 * 1024 };
    },
    bot_set_limits: (a) => {
      const b = bot(a.bot);
      const limits = a.limits as WorkspaceInfo["limits"];
      if (limits.memory !== null && limits.memory < 32 * 1024 * 1024) {
        throw new AppError("InvalidArgument", "a memory limit below 32 MiB cannot run the workspace");
      }
      b.ws = { ...b.ws, limits };
      if (b.ws.state !== "absent" && apple) return "recreate";
      return b.ws.state === "absent" ? "nextCreate" : b.ws.state === "running" ? "restart" : "nextStart";
    },
    bot_delete: (a) => {
      const b = bot(a.name);
      b.cancel?.();
      bots.delete(b.name);
      emit("workspace://changed", { bot: b.name, state: "absent" });
      return null;
    },
    workspace_info: (a) => ({ ...bot(a.bot).ws }),
    workspace_create: create,
    workspace_change_image: (a) => create({ ...a, changeImage: true }),
    workspace_cancel: (a) => {
      const b = bot(a.bot);
      if (!b.cancel) throw new AppError("Conflict", `No workspace creation is running for ${b.name}`);
      b.cancel();
      return null;
    },
    workspace_start: async (a) => {
      needContainerd();
      const b = bot(a.bot);
      if (b.ws.state === "absent" || b.ws.state === "creating") throw new AppError("Conflict", `The workspace of ${b.name} is ${b.ws.state}`);
      await new Promise((r) => setTimeout(r, 300 * slowdown));
      setState(b, info(b.name, "running", b.ws.image, { createdAt: b.ws.createdAt }));
      log(b, "workspace.started", "Workspace started");
      return b.ws;
    },
    workspace_stop: async (a) => {
      needContainerd();
      const b = bot(a.bot);
      if (b.ws.state !== "running") throw new AppError("Conflict", `The workspace of ${b.name} is not running`);
      await new Promise((r) => setTimeout(r, 300 * slowdown));
      setState(b, info(b.name, "stopped", b.ws.image, { createdAt: b.ws.createdAt }));
      log(b, "workspace.stopped", "Workspace stopped");
      return b.ws;
    },
    workspace_delete: async (a) => {
      needContainerd();
      const b = bot(a.bot);
      if (b.ws.state === "creating") throw new AppError("Conflict", "Cancel the running creation first");
      await new Promise((r) => setTimeout(r, 250 * slowdown));
      setState(b, info(b.name, "absent", null));
      log(b, "workspace.deleted", "Workspace deleted");
      return null;
    },
    workspace_delete_keeping: async (a) => {
      const b = bot(a.bot);
      const ch = (a.onProgress as { id: number }).id;
      let kept = null;
      if (a.keepData && b.ws.state !== "absent") {
        const internals = (window as unknown as { __TAURI_INTERNALS__: Internals }).__TAURI_INTERNALS__;
        for (let i = 0; i <= 8; i++) {
          await new Promise((r) => setTimeout(r, 100 * slowdown));
          internals.runCallback(ch, { index: i, message: { archive: 156_250 * i, done: 435_200 * i, total: 3_481_600 } });
        }
        internals.runCallback(ch, { index: 9, end: true });
        kept = fakeData.keep(b.name);
      }
      await commands.workspace_delete({ bot: a.bot });
      return kept;
    },
    activity_list: (a) => bot(a.bot).activity.map((e) => ({ ...e })),
    image_recent: () => [...recent],
    ...fakeTerminalCommands((name) => bots.get(name)?.ws.state === "running"),
    ...fakeVersionCommands((name) => bots.get(name)?.ws.state, (ms) => new Promise((r) => setTimeout(r, ms * slowdown)), search),
    ...fakeFiles.commands,
    ...fakeData.commands,
    ...fakeAgentCommands((name) => bots.get(name)?.ws.state),
  };

  mockWindows("main");
  mockIPC(
    async (cmd, payload) => {
      const handler = commands[cmd];
      try {
        if (!handler) throw new AppError("Internal", `Command ${cmd} not found`);
        return await handler((payload ?? {}) as Args);
      } catch (e) {
        // Reject with the same plain {code, message} shape Rust serialises.
        const err = e instanceof AppError ? e : new AppError("Internal", String(e));
        throw { code: err.code, message: err.message };
      }
    },
    { shouldMockEvents: true },
  );
  console.info(`${FAKE_BACKEND_MARKER} installed`);
}
