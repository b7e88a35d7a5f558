import { describe, expect, it } from "vitest";
import { formatBytes, formatEta, formatSpeed, percentOf, shortDigest, shortImage } from "./format";

describe("formatBytes", () => {
  it("uses 1024-based units with one decimal below 100", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(1536)).toBe("1.5 KB");
    expect(formatBytes(12.3 * 1024 * 1024)).toBe("12.3 MB");
    expect(formatBytes(123.4 * 1024 * 1024)).toBe("123 MB");
    expect(formatBytes(2 * 1024 ** 3)).toBe("2.0 GB");
  });
  it("refuses nonsense", () => {
    expect(formatBytes(-1)).toBe("—");
    expect(formatBytes(Number.NaN)).toBe("—");
  });
});

describe("formatSpeed", () => {
  it("is bytes per second", () => {
    expect(formatSpeed(3.4 * 1024 * 1024)).toBe("3.4 MB/s");
  });
});

describe("formatEta", () => {
  it("formats m:ss and h:mm:ss, rounding up", () => {
    expect(formatEta(12)).toBe("0:12");
    expect(formatEta(11.2)).toBe("0:12");
    expect(formatEta(65)).toBe("1:05");
    expect(formatEta(3723)).toBe("1:02:03");
    expect(formatEta(0)).toBe("0:00");
  });
  it("is null when unknown", () => {
    expect(formatEta(null)).toBeNull();
    expect(formatEta(-3)).toBeNull();
    expect(formatEta(Infinity)).toBeNull();
  });
});

describe("percentOf", () => {
  it("rounds and hides zero", () => {
    expect(percentOf(0, 100)).toBeNull();
    expect(percentOf(5, 0)).toBeNull();
    expect(percentOf(1, 3)).toBe(33);
    expect(percentOf(2, 3)).toBe(67);
    expect(percentOf(5, 4)).toBe(100);
  });
});

describe("shortImage", () => {
  it("strips Docker Hub's implicit prefixes only", () => {
    expect(shortImage("docker.io/library/debian:bookworm")).toBe("debian:bookworm");
    expect(shortImage("docker.io/bitnami/redis:7")).toBe("bitnami/redis:7");
    expect(shortImage("ghcr.io/acme/agent:1")).toBe("ghcr.io/acme/agent:1");
    expect(shortImage("localhost:5000/library/x:1")).toBe("localhost:5000/library/x:1");
    expect(shortImage(null)).toBe("");
  });
});

describe("shortDigest", () => {
  it("keeps 12 hex digits", () => {
    expect(shortDigest("sha256:0123456789abcdef0123")).toBe("0123456789ab");
    expect(shortDigest("0123456789abcdef")).toBe("0123456789ab");
  });
});
