// The mock versions obey the real contract: numbers never reused, rollback saves first only
// when asked, delete refused while others build on a version, unknown versions are NotFound.
import { afterEach, describe, expect, it } from "vitest";
import { clearMocks } from "@tauri-apps/api/mocks";
import { api } from "./index";
import { installFakeBackend } from "./fake";

describe("fake versions", () => {
  afterEach(() => clearMocks());

  it("saves, rolls back into a tree and refuses deletes that would break it", async () => {
    installFakeBackend("?speed=0.01");
    const v1 = await api.versions.save("atlas", "first");
    expect(v1.version).toBe(1);
    const r = await api.versions.rollback("atlas", 1, true);
    expect(r.saved).toBeNull(); // nothing changed since v1
    await api.versions.save("atlas", null);
    await api.versions.rollback("atlas", 1, false);
    await api.versions.save("atlas", null);
    const list = await api.versions.list("atlas");
    expect(list.current).toBe(3);
    expect(list.versions.find((v) => v.version === 1)?.children).toEqual([2, 3]);
    await expect(api.versions.delete("atlas", 1)).rejects.toMatchObject({ code: "Conflict" });
    await api.versions.delete("atlas", 2);
    expect((await api.versions.save("atlas", null)).version).toBe(4);
    await expect(api.versions.rollback("atlas", 99, true)).rejects.toMatchObject({ code: "NotFound" });
  });

  it("reports unsupported backends as unavailable", async () => {
    installFakeBackend("?versions=unsupported");
    const list = await api.versions.list("atlas");
    expect(list.available).toBe(false);
    await expect(api.versions.save("atlas", null)).rejects.toMatchObject({ code: "Unsupported" });
  });
});
