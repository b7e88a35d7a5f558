//! Mock data commands for the mock backend: export with DataProgress and cancel (its
//! report leaves out two FIFOs), a previewed archive (chosen or dropped) imported by merge or
//! replace, kept data per bot (restored with progress).
import { AppError } from "./errors";
import type { ArchivePreview } from "./generated/ArchivePreview";
import type { KeptDataInfo } from "./generated/KeptDataInfo";
import type { WorkspaceState } from "./generated/WorkspaceState";

type Args = Record<string, unknown>;
type Internals = { runCallback: (id: number, data: unknown) => void };

export function fakeDataCommands(
  stateOf: (bot: string) => WorkspaceState | undefined,
  internals: () => Internals,
  delay: (ms: number) => Promise<void>,
) {
  const kept = new Map<string, KeptDataInfo>();
  const cancels = new Set<string>();
  const archives = new Map<string, ArchivePreview>();
  let seq = 0;

  const running = (bot: unknown) => {
    const state = stateOf(String(bot));
    if (state === undefined) throw new AppError("NotFound", `no bot named "${bot}"`);
    if (state !== "running") throw new AppError("Conflict", `${bot}'s workspace is not running; start it first`);
  };
  /** Streams `total` bytes of DataProgress in 8 steps (`archive` is the compressed share);
   *  throws Cancelled when asked. */
  const stream = async (a: Args, total: number, archiveShare: number) => {
    const ch = (a.onProgress as { id: number }).id;
    const id = String(a.transferId ?? "");
    for (let i = 1; i <= 8; i++) {
      await delay(120);
      if (cancels.delete(id)) throw new AppError("Cancelled", "cancelled");
      const done = Math.round((total * i) / 8);
      internals().runCallback(ch, { index: i - 1, message: { archive: Math.round(done * archiveShare), done, total } });
    }
    internals().runCallback(ch, { index: 8, end: true });
  };
  const preview = (name: string): ArchivePreview => {
    const p: ArchivePreview = {
      archiveId: `archive-${++seq}`,
      name,
      entries: 42,
      files: 37,
      dirs: 4,
      links: 1,
      bytes: 3_481_600,
      conflicts: 3,
    };
    archives.set(p.archiveId, p);
    return p;
  };

  const commands: Record<string, (a: Args) => unknown> = {
    data_export: async (a) => {
      running(a.bot);
      await stream(a, 3_481_600, 0.36);
      return { bytes: 1_250_000, files: 37, dirs: 4, links: 1, skipped: 2 };
    },
    data_cancel: (a) => {
      cancels.add(String(a.transferId));
      return true;
    },
    data_pick_archive: (a) => {
      running(a.bot);
      return preview(`${a.bot}-data.tar.gz`);
    },
    data_preview_drop: (a) => {
      running(a.bot);
      return preview("dropped.tar.gz");
    },
    data_import: async (a) => {
      running(a.bot);
      const p = archives.get(String(a.archiveId));
      if (!p) throw new AppError("NotFound", "that archive is gone; choose it again");
      // Import reports the archive sent of its size (archive = done).
      await stream(a, Math.round(p.bytes * 0.36), 1);
      archives.delete(p.archiveId);
      return { files: p.files, dirs: p.dirs, links: p.links, bytes: p.bytes, replaced: Boolean(a.replace) };
    },
    data_kept: (a) => kept.get(String(a.bot)) ?? null,
    data_kept_delete: (a) => kept.delete(String(a.bot)),
    data_restore: async (a) => {
      running(a.bot);
      const k = kept.get(String(a.bot));
      if (!k) return false;
      await stream(a, k.size, 1);
      kept.delete(String(a.bot));
      return true;
    },
  };
  /** Records kept data for a workspace being deleted (used by fake.ts's delete). */
  const keep = (bot: string) => {
    const info: KeptDataInfo = { size: 1_250_000, modifiedMs: Date.now() };
    kept.set(bot, info);
    return info;
  };
  /** The kept archive's size, removed as a create restores it; null when there is none. */
  const takeKept = (bot: string) => {
    const k = kept.get(bot);
    kept.delete(bot);
    return k?.size ?? null;
  };
  return { commands, keep, takeKept };
}
