import { describe, expect, it } from "vitest";
import { botNameProblem, settingsProblems } from "./validate";

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
