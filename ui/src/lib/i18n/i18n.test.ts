import { describe, expect, it } from "vitest";
import { en } from "./en";
import { zh } from "./zh";
import { translate } from "./index.svelte";

describe("dictionaries", () => {
  it("have the same keys", () => {
    expect(Object.keys(zh).sort()).toEqual(Object.keys(en).sort());
  });
  it("have no empty strings", () => {
    for (const dict of [en, zh]) for (const [k, v] of Object.entries(dict)) expect(v, k).not.toBe("");
  });
  it("use the same placeholders in both languages", () => {
    const names = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
    for (const key of Object.keys(en) as (keyof typeof en)[]) expect(names(zh[key]), key).toEqual(names(en[key]));
  });
});

describe("translate", () => {
  it("fills placeholders and leaves unknown ones", () => {
    expect(translate("en", "prog.unpacking", { layer: 2, layers: 4 })).toBe("Unpacking layer 2 of 4");
    expect(translate("zh", "prog.eta", { eta: "0:12" })).toBe("剩余 0:12");
    expect(translate("en", "prog.eta")).toBe("ETA {eta}");
  });
});
