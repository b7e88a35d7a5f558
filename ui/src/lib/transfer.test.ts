import { describe, expect, it } from "vitest";
import { TransferMeter } from "./transfer";

describe("TransferMeter", () => {
  it("gives percent, speed and time left when the total is known", () => {
    const m = new TransferMeter();
    m.push({ archive: 0, done: 0, total: 1000 }, 0);
    const s = m.push({ archive: 100, done: 250, total: 1000 }, 1000);
    expect(s.percent).toBe(25);
    expect(s.bytesPerSecond).toBe(250);
    expect(s.etaSeconds).toBe(3);
  });

  it("counts archive bytes while the total is unknown, with no percent or time left", () => {
    const m = new TransferMeter();
    m.push({ archive: 0, done: 0, total: 0 }, 0);
    const s = m.push({ archive: 500, done: 0, total: 0 }, 500);
    expect(s.done).toBe(500);
    expect(s.percent).toBeNull();
    expect(s.etaSeconds).toBeNull();
    expect(s.bytesPerSecond).toBe(1000);
  });

  it("measures speed over the last seconds only", () => {
    const m = new TransferMeter();
    m.push({ archive: 0, done: 0, total: 10_000 }, 0);
    m.push({ archive: 0, done: 5000, total: 10_000 }, 1000);
    for (let t = 2000; t <= 6000; t += 1000) m.push({ archive: 0, done: 5000 + (t - 1000) / 10, total: 10_000 }, t);
    const s = m.push({ archive: 0, done: 5600, total: 10_000 }, 7000);
    expect(s.bytesPerSecond).toBeCloseTo(100, 0);
  });

  it("starts over when the bytes go back (a new transfer)", () => {
    const m = new TransferMeter();
    m.push({ archive: 0, done: 900, total: 1000 }, 0);
    const s = m.push({ archive: 0, done: 10, total: 1000 }, 1000);
    expect(s.bytesPerSecond).toBe(0);
    expect(s.done).toBe(10);
  });
});
