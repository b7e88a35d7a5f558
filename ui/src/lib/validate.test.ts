import { describe, expect, it } from "vitest";
import { botNameProblem, parseEnvLines, settingsProblems } from "./validate";

describe("botNameProblem", () => {
  it("accepts the documented alphabet", () => {
    for (const ok of ["a", "0", "my-bot", "bot-2", "a".repeat(63), "9lives"]) expect(botNameProblem(ok)).toBeNull();
  });
  it("names what is wrong", () => {
    expect(botNameProblem("")).toBe("empty");
    expect(botNameProblem("a".repeat(64))).toBe("tooLong");
    expect(botNameProblem("-bot")).toBe("badStart");
    expect(botNameProblem("Bot")).toBe("badStart");
    expect(botNameProblem("my_bot")).toBe("badChars");
    expect(botNameProblem("my bot")).toBe("badChars");
  });
});

describe("settingsProblems", () => {
  const good = { containerdSocket: "/run/containerd/containerd.sock", namespace: "berth", defaultImage: "debian" };
  it("passes good settings", () => {
    expect(settingsProblems(good)).toEqual({});
    expect(settingsProblems({ ...good, containerdSocket: "unix:///run/c.sock" })).toEqual({});
  });
  it("flags each field", () => {
    expect(settingsProblems({ containerdSocket: "run/c.sock", namespace: "-x", defaultImage: " " })).toEqual({
      containerdSocket: "socket",
      namespace: "namespace",
      defaultImage: "image",
    });
  });
});

describe("parseEnvLines", () => {
  it("reads KEY=VALUE lines, values as they are", () => {
    expect(parseEnvLines("A=1\n\nB_2= x=y \n")).toEqual({ env: { A: "1", B_2: " x=y " } });
    expect(parseEnvLines("")).toEqual({ env: {} });
  });
  it("names the first bad line", () => {
    expect(parseEnvLines("A=1\nnovalue")).toEqual({ error: "not KEY=VALUE: novalue" });
    expect(parseEnvLines("1A=x")).toEqual({ error: "not KEY=VALUE: 1A=x" });
    expect(parseEnvLines("A-B=x")).toEqual({ error: "not KEY=VALUE: A-B=x" });
  });
});
