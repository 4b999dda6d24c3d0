// The web console in headless Chromium against a real `beacon serve`.
// One server and one browser page for the whole file; the tests run in
// order and build on each other (sign in, stream, restart, plugins, admin).

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import { Beacon, PLUGINS, eventually, launchBrowser, numberIn, screenshot } from "./harness.mjs";

const server = new Beacon();
let browser;
let page;
let tenant;
/** While false, the page's stream connection attempts are refused (see the restart test). */
let streamGate = true;
const problems = [];
let orders = 0;

function order(prefix) {
  orders += 1;
  const id = `${prefix}-${orders}`;
  return {
    id,
    event: {
      type: "order.created",
      subject: `order/${id}`,
      data: {
        orderId: id, title: "Leather sandals", total: 85000, currency: "KES", buyerId: "u-42",
        items: [{ sku: "SND-41", quantity: 1, unitPrice: 85000 }], createdAt: "2026-11-23T11:09:12Z",
      },
    },
  };
}

async function publish(event) {
  return server.expect(201, "POST", "/v1/events", { credential: tenant.api_key, json: event });
}

async function go(route) {
  await page.goto(`${server.url}/${route}`);
}

before(async () => {
  await server.start();
  tenant = await server.createTenant("acme");
  // A second version of a catalogue contract, for the schema diff.
  const v1 = await server.expect(200, "GET", "/v1/schemas/order.created/versions/1", { credential: server.adminToken });
  const v2 = structuredClone(v1.schema);
  v2.properties.giftNote = { type: "string", maxLength: 500, description: "A note for the recipient." };
  await server.expect(201, "POST", "/v1/schemas/order.created/versions", { credential: server.adminToken, json: v2 });

  browser = await launchBrowser();
  page = browser.context.pages()[0] ?? (await browser.context.newPage());
  page.setDefaultTimeout(15_000);
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    const text = message.text();
    if (message.type() === "error" && !/Failed to load resource|net::ERR_/.test(text)) problems.push(`console: ${text}`);
    if (/Content Security Policy/i.test(text)) problems.push(`CSP: ${text}`);
  });
  // The gate stands for "the node is still down" from the browser's side.
  await browser.context.route("**/v1/stream*", (route) => (streamGate ? route.continue() : route.abort("connectionrefused")));
});

after(async () => {
  await browser?.close();
  if (process.exitCode) console.error(server.logs());
  await server.cleanup();
});

describe("the web console", () => {
  test("serves the page and its files with a strict content security policy", async () => {
    const index = await fetch(`${server.url}/`);
    assert.equal(index.status, 200);
    assert.equal(index.headers.get("content-type"), "text/html; charset=utf-8");
    const csp = index.headers.get("content-security-policy");
    assert.match(csp, /default-src 'self'/);
    assert.doesNotMatch(csp, /unsafe|https?:/);
    assert.match(await index.text(), /<script type="module" src="\/console\/app.js">/);
    const script = await fetch(`${server.url}/console/app.js`);
    assert.equal(script.headers.get("content-type"), "text/javascript; charset=utf-8");
    assert.equal(script.headers.get("cache-control"), "no-cache");
    const missing = await fetch(`${server.url}/console/nope.js`);
    assert.equal(missing.status, 404);
    assert.equal((await missing.json()).error, "not_found");
  });

  test("signs in with a tenant key and shows a published event live", async () => {
    await go("");
    await page.getByLabel("Tenant API key or admin token").fill(tenant.api_key);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.locator("#who-label", { hasText: "Tenant acme" }).waitFor();
    await page.locator('#live-state[data-state="open"]').waitFor();

    const { id, event } = order("IE-LIVE");
    await publish(event);
    const row = page.locator("#events button.event", { hasText: id });
    await row.waitFor();
    assert.equal(await row.locator(".badge").textContent(), "order.created");
    assert.equal(await row.locator(".subject").textContent(), `order/${id}`);
    assert.match(await row.locator(".data").textContent(), new RegExp(`"orderId":"${id}"`));
    // The badge's colour is the type's, the same on every row.
    const hue = await row.locator(".badge").evaluate((el) => el.style.getPropertyValue("--hue"));
    assert.match(hue, /^\d+$/);

    await row.click();
    const detail = await page.locator("#event-detail").textContent();
    assert.match(detail, new RegExp(`"orderId": "${id}"`));
    assert.match(detail, /"specversion": "1.0"/);
    assert.match(detail, /"source": "\/tenants\/acme"/);
    assert.equal(await numberIn(page, "#count-received"), 1);
    await screenshot(page, "01-live-stream");
  });

  test("reconnects after a server restart and shows what was published meanwhile as replayed", async () => {
    const reconnects = await numberIn(page, "#count-reconnects");
    const replayed = await numberIn(page, "#count-replayed");
    assert.equal(reconnects, 0);

    // Until the missed events are published, the page's attempts fail as
    // they would while the node is down (its retry timing is the server's).
    streamGate = false;
    await server.stop();
    await page.locator('#live-state[data-state="reconnecting"]').waitFor();
    await server.start();
    const missed = [order("IE-MISSED"), order("IE-MISSED"), order("IE-MISSED")];
    for (const { event } of missed) await publish(event);
    streamGate = true;

    await page.locator('#live-state[data-state="open"]').waitFor({ timeout: 20_000 });
    for (const { id } of missed) {
      const row = page.locator("#events button.event", { hasText: id });
      await row.waitFor();
      assert.equal(await row.locator(".tag").textContent(), "replayed", id);
    }
    assert.equal(await numberIn(page, "#count-reconnects"), reconnects + 1);
    assert.ok(await numberIn(page, "#count-replayed") >= replayed + missed.length);
    assert.match(await page.textContent("#live-position"), /resume: exact · Last-Event-ID sent: \S+/);

    // A live event after the resume is not counted as replayed. The console
    // knows the server's clock from `Date` headers (whole seconds), so the
    // event is published more than that uncertainty after the resume.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const live = order("IE-AFTER");
    await publish(live.event);
    const row = page.locator("#events button.event", { hasText: live.id });
    await row.waitFor();
    assert.equal(await row.locator(".tag").count(), 0);
    assert.equal(await numberIn(page, "#count-replayed"), replayed + missed.length);
    await screenshot(page, "02-live-after-restart");
  });

  test("the dashboard's numbers and charts move as events flow", async () => {
    await go("#/dashboard");
    await page.locator("h1", { hasText: "Dashboard" }).waitFor();
    // Let one poll land so the numbers are there.
    const accepted = await eventually(() => numberIn(page, "#dash-publish-accepted"), Number.isFinite, { what: "accepted publishes" });
    const received = await numberIn(page, "#dash-received");
    const published = await numberIn(page, "#dash-published");
    for (let i = 0; i < 5; i++) await publish(order("IE-DASH").event);

    await eventually(() => numberIn(page, "#dash-received"), (n) => n >= received + 5, { what: "events received" });
    await eventually(() => numberIn(page, "#dash-publish-accepted"), (n) => n >= accepted + 5, { what: "accepted publishes", timeout: 10_000 });
    await eventually(() => numberIn(page, "#dash-published"), (n) => n >= published + 5, { what: "events published", timeout: 10_000 });
    // The per-type bars and their legend.
    await page.locator(".legend .badge", { hasText: "order.created" }).waitFor();
    const bars = await eventually(
      () => page.locator("canvas.bars").getAttribute("aria-label"),
      (label) => /peak ([1-9]\d*)/.test(label ?? ""),
      { what: "the events-per-second chart to show a bar" },
    );
    assert.match(bars, /Events per second by type: latest \d+, peak [1-9]/);
    await screenshot(page, "03-dashboard");
  });

  test("the plugin manager uploads, activates and tests a plugin", async () => {
    await go("#/plugins");
    await page.getByText("Upload a version").click();
    await page.getByLabel("Name", { exact: true }).fill("display-amount");
    await page.setInputFiles("#plugin-file", path.join(PLUGINS, "display-amount.wasm"));
    await page.getByLabel("Activate the uploaded version").check();
    await page.getByRole("button", { name: "Upload" }).click();

    const card = page.locator('article[data-plugin="display-amount"]');
    await card.locator(".tag", { hasText: "active v1" }).waitFor();
    assert.match(await card.textContent(), /display-amount 0\.1\.0/);
    assert.match(await card.textContent(), /sha256:[0-9a-f]{12}/);

    await card.getByRole("button", { name: "Test", exact: true }).click();
    await card.getByRole("button", { name: "Run test" }).click();
    const result = card.locator('pre[data-outcome="modify"]');
    await result.waitFor();
    assert.match(await result.textContent(), /"displayAmount": "KSh 850\.00"/);

    // The active plugin now shapes what subscribers see.
    await server.expect(201, "POST", "/v1/events", {
      credential: tenant.api_key,
      json: { type: "payment.succeeded", subject: "order/IE-PAID", data: { orderId: "IE-PAID", amount: 85000, currency: "KES", providerRef: "ch_3PqX9" } },
    });
    await screenshot(page, "04-plugins");
    await go("#/live");
    await page.locator("#events button.event", { hasText: "KSh 850.00" }).waitFor();
  });

  test("dead letters list an event a fail-closed plugin failed on", async () => {
    const wasm = fs.readFileSync(path.join(PLUGINS, "misbehave.wasm"));
    await server.expect(201, "POST", "/v1/plugins/misbehave/versions", { credential: tenant.api_key, body: wasm, contentType: "application/wasm" });
    await server.expect(200, "PUT", "/v1/plugins/misbehave", { credential: tenant.api_key, json: { version: 1, types: ["metrics.alert"], on_error: "fail_closed" } });
    await server.expect(200, "POST", "/v1/events", {
      credential: tenant.api_key,
      json: { type: "metrics.alert", data: { severity: "warning", message: "Flash-sale sneakers: 3 left", source: "inventory", do: "trap" } },
    });
    await go("#/dead-letters");
    const row = page.locator("#dead-letter-rows tr", { hasText: "misbehave v1" });
    await row.waitFor();
    assert.match(await row.textContent(), /metrics\.alert.*trap/);
    await row.click();
    assert.match(await page.textContent("#dead-letter-detail"), /Flash-sale sneakers/);
    await screenshot(page, "05-dead-letters");
  });

  test("on a phone-sized screen the views fit the width", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    try {
      for (const [route, name] of [["#/live", "06-phone-live"], ["#/dashboard", "07-phone-dashboard"]]) {
        await go(route);
        await page.locator("main h1").waitFor();
        await page.waitForTimeout(300);
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
        assert.ok(overflow <= 1, `${route} is ${overflow}px wider than the screen`);
        await screenshot(page, name);
      }
    } finally {
      await page.setViewportSize({ width: 1366, height: 900 });
    }
  });

  test("the admin token shows the node dashboard, the catalogue and a version diff", async () => {
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByLabel("Tenant API key or admin token").fill(server.adminToken);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.locator("#who-label", { hasText: "Admin" }).waitFor();
    assert.deepEqual(await page.locator("#nav a").allTextContents(), ["Dashboard", "Schemas"]);

    const published = await eventually(() => numberIn(page, "#dash-published"), Number.isFinite, { what: "node stats" });
    assert.ok(await numberIn(page, "#dash-connections") >= 0);
    for (let i = 0; i < 3; i++) await publish(order("IE-ADMIN").event);
    await eventually(() => numberIn(page, "#dash-published"), (n) => n >= published + 3, { what: "events published", timeout: 10_000 });
    // A few more seconds of traffic, so the screenshot's charts have a shape.
    for (let i = 0; i < 8; i++) {
      for (let j = 0; j <= i % 4; j++) await publish(order("IE-ADMIN").event);
      await page.waitForTimeout(500);
    }
    await screenshot(page, "08-dashboard-admin");

    await go("#/schemas");
    await page.locator('#schema-list a[data-type="payment.succeeded"]').waitFor();
    assert.ok(await page.locator("#schema-list a").count() >= 20, "the built-in catalogue is listed");
    await page.locator('#schema-list a[data-type="order.created"]').click();
    await page.locator("#schema-detail h2", { hasText: "order.created" }).waitFor();
    assert.equal(await page.locator("#schema-mode").inputValue(), "BACKWARD");
    const added = page.locator("#schema-diff li.op-added", { hasText: "/properties/giftNote" });
    await added.waitFor();
    assert.match(await added.textContent(), /"maxLength":500/);
    assert.equal(await page.locator("#schema-diff li").count(), 1, "only the new field differs");
    assert.match(await page.textContent("#schema-json"), /"giftNote"/);
    await screenshot(page, "09-schemas");
  });

  test("no script error and no content-security-policy violation happened", () => {
    assert.deepEqual(problems, []);
  });
});
