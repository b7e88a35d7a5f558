//! Speed and time left of a byte transfer (export, import, preserve, restore) from its progress
//! reports: the rate over the last few seconds, so a stall shows quickly. Pure and clock-free
//! (the caller passes the time), so it is unit-tested directly.
import type { DataProgress } from "./ipc";

/** How far back the speed looks. */
const WINDOW_MS = 3000;

export interface TransferStats {
  /** Bytes moved: `done` of `total` when the total is known, else the archive bytes. */
  done: number;
  /** 0 while unknown. */
  total: number;
  /** Percent of a known total, else null. */
  percent: number | null;
  bytesPerSecond: number;
  /** Seconds left at the current speed; null when unknown. */
  etaSeconds: number | null;
}

interface Sample {
  at: number;
  done: number;
}

export class TransferMeter {
  #samples: Sample[] = [];

  /** Adds a report received at `at` (ms) and returns the stats after it. */
  push(p: DataProgress, at: number): TransferStats {
    const done = p.total > 0 ? p.done : p.archive;
    const last = this.#samples[this.#samples.length - 1];
    if (last && done < last.done) this.#samples = []; // a new transfer started over
    this.#samples.push({ at, done });
    while (this.#samples.length > 2 && at - this.#samples[0].at > WINDOW_MS) this.#samples.shift();
    const first = this.#samples[0];
    const seconds = (at - first.at) / 1000;
    const bytesPerSecond = seconds > 0 ? Math.max(0, (done - first.done) / seconds) : 0;
    const left = p.total > 0 ? Math.max(0, p.total - done) : null;
    return {
      done,
      total: p.total,
      percent: p.total > 0 ? Math.min(100, (done / p.total) * 100) : null,
      bytesPerSecond,
      etaSeconds: left !== null && bytesPerSecond > 0 ? left / bytesPerSecond : null,
    };
  }
}
