// A backend with less than containerd (the mock's `?backend=apple`, Apple Container's
// limitations as core reports them): each missing feature is shown as unavailable with its
// reason where the user meets it — Settings, the create progress, Versions, Limits — never as a
// broken control; and the backend can be chosen in Settings.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { launch, openPage, serve, shot } from "./harness.mjs";

let server;
let browser;
before(async () => {
  server = await serve();
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.close();
});

test("Apple Container: limitations in Settings, a whole-pull progress, archive versions, limits fixed at create", async () => {
  const { page, problems } = await openPage(browser.context, server.url + "?backend=apple&speed=1.5");

  await page.getByTestId("open-settings").click();
  const lim = page.getByTestId("backend-limitations");
  await lim.waitFor();
  assert.match(await lim.textContent(), /What Apple Container cannot do/);
  for (const f of ["layerProgress", "nativeVersions", "changeLimits", "liveEvents", "hostNetwork", "privateNetworkBlock"]) {
    assert.equal(await lim.locator(`[data-feature="${f}"]`).count(), 1, `${f} is listed`);
  }
  assert.equal(await page.getByTestId("set-backend").inputValue(), "", "the platform's default until chosen");
  await page.getByTestId("set-backend").selectOption("apple");
  await page.getByTestId("set-archive-versions").check();
  await page.getByTestId("save-settings").click();
  await page.getByText("Settings saved").waitFor();
  await shot(page, "settings-apple-limitations");

  // Create: no host network and no private-network block on this backend, each with why.
  await page.locator('[data-bot="nova"]').click();
  assert.equal(await page.getByTestId("host-network").isDisabled(), true);
  assert.match(await page.getByTestId("create-block-private-unavailable").textContent(), /cannot keep a workspace off private networks/);
  // The download as a whole, with its percent; no layer rows, and why.
  await page.getByTestId("create-workspace").click();
  await page.locator('[data-testid="create-progress"][data-phase="pulling"] [data-testid="percent"]').waitFor();
  await page.getByTestId("layers-unavailable").waitFor();
  assert.equal(await page.locator(".layer").count(), 0, "no per-layer rows");
  await shot(page, "create-apple-whole-pull");
  await page.locator('[data-testid="create-progress"][data-outcome="complete"]').waitFor({ timeout: 30_000 });

  // Limits of an existing workspace: fixed at create, said before and after saving.
  await page.locator('[data-bot="atlas"]').click();
  assert.match(await page.getByTestId("network-mode").textContent(), /Its own virtual machine network \(Apple Container\)/);
  await page.getByTestId("block-private-unavailable").waitFor();
  assert.equal(await page.getByTestId("block-private").isDisabled(), true);
  await page.getByTestId("limits-fixed").waitFor();
  await page.getByTestId("limit-memory").fill("2048");
  await page.getByTestId("limits-save").click();
  await page.getByText("apply when it is created again").waitFor();

  // Versions: available, and honest that only /data is captured.
  await page.locator('[data-tab="versions"]').click();
  await page.getByTestId("versions-only-data").waitFor();
  assert.match(await page.getByTestId("versions-only-data").textContent(), /Only \/data is captured/);
  await page.getByTestId("version-save").click();
  await page.locator('[data-testid="version-row"][data-version="1"]').waitFor();
  await shot(page, "versions-apple-only-data");
  assert.deepEqual(problems, []);
});

test("containerd: no limitation is listed and layers are shown", async () => {
  const { page, problems } = await openPage(browser.context, server.url);
  await page.getByTestId("open-settings").click();
  await page.getByTestId("settings-status").waitFor();
  assert.equal(await page.getByTestId("backend-limitations").count(), 0);
  await page.locator('[data-bot="atlas"]').click();
  assert.equal(await page.getByTestId("limits-fixed").count(), 0);
  await page.locator('[data-tab="versions"]').click();
  await page.getByTestId("version-save").waitFor();
  assert.equal(await page.getByTestId("versions-only-data").count(), 0);
  assert.deepEqual(problems, []);
});

test("an x86-64 bridge on Apple silicon: Settings says the workspaces run under Rosetta", async () => {
  const { page, problems } = await openPage(browser.context, server.url + "?backend=apple&rosetta=1");
  await page.getByTestId("open-settings").click();
  await page.getByTestId("backend-note").waitFor();
  assert.match(await page.getByTestId("backend-note").textContent(), /under Rosetta/);
  assert.deepEqual(problems, []);
});

test("Apple Container not running: the banner names it and its fix, no containerd advice", async () => {
  const { page, problems } = await openPage(browser.context, server.url + "?backend=apple&containerd=down");
  const banner = page.getByTestId("containerd-banner");
  await banner.waitFor();
  const text = await banner.textContent();
  assert.match(text, /Apple Container is not connected/);
  assert.match(text, /container system start/);
  assert.doesNotMatch(text, /systemctl|own containerd/);
  assert.equal(await page.getByTestId("run-managed").count(), 0);
  await shot(page, "banner-apple-down");
  assert.deepEqual(problems, []);
});
