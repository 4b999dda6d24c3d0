/** The client against a real `beacon serve`. */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import {
  memoryStorage,
  subscribe,
  type BeaconEvent,
  type ControlEvent,
  type FetchLike,
  type Subscription,
} from "@beacon/client";

import { sleep, until } from "./support/fake.js";
import { BeaconServer, type Tenant } from "./support/server.js";

/** Records every request the client makes. */
function recordingFetch(): { fetch: FetchLike; requests: Record<string, string>[] } {
  const requests: Record<string, string>[] = [];
  const fetch: FetchLike = (url, init) => {
    requests.push({ url, ...init.headers });
    return globalThis.fetch(url, init);
  };
  return { fetch, requests };
}

type Orders = {
  "order.created": { orderId: string; total: number };
  "order.paid": { orderId: string; amount: number };
};

describe("against beacon serve", () => {
  let server: BeaconServer;
  let tenant: Tenant;
  const open: Subscription[] = [];

  before(async () => {
    server = await BeaconServer.start();
    tenant = await server.createTenant();
  });

  after(async () => {
    for (const s of open) s.close();
    await server?.stop();
  });

  function track(s: Subscription): Subscription {
    open.push(s);
    return s;
  }

  it("receives published events in order, typed, dispatched per type", async () => {
    const token = await server.token(tenant, { sub: "typed" });
    const all: BeaconEvent[] = [];
    const created: number[] = [];
    const paid: number[] = [];
    const controls: ControlEvent[] = [];
    const sub = track(
      subscribe<Orders>({
        url: server.url,
        token,
        types: ["order.*"],
        storage: null,
        onControl: (c) => controls.push(c),
        onEvent: {
          "order.created": (e) => {
            // `e.data` is typed: { orderId: string; total: number }.
            created.push(e.data.total);
            all.push(e);
          },
          "order.paid": (e) => {
            paid.push(e.data.amount);
            all.push(e);
          },
        },
      }),
    );
    await until(() => sub.state === "open" && controls.length === 1, 10_000, "beacon.connected");
    const connected = controls[0]!;
    assert.equal(connected.type, "beacon.connected");
    if (connected.type === "beacon.connected") {
      assert.equal(connected.data.resume, "none");
      assert.equal(connected.data.heartbeat_s, 1);
      assert.equal(connected.data.tenant, tenant.id);
      assert.equal(sub.lastEventId, connected.id, "the position of beacon.connected is remembered");
    }
    const ids = await server.publish(tenant, [
      { type: "order.created", subject: "order/1", data: { orderId: "1", total: 100 } },
      { type: "other.thing", data: { skipped: true } },
      { type: "order.paid", subject: "order/1", data: { orderId: "1", amount: 100 } },
      { type: "order.created", subject: "order/2", data: { orderId: "2", total: 200 } },
    ]);
    await until(() => all.length === 3, 10_000, "three order events");
    assert.deepEqual(
      all.map((e) => e.id),
      [ids[0], ids[2], ids[3]],
    );
    assert.deepEqual(created, [100, 200]);
    assert.deepEqual(paid, [100]);
    const first = all[0]!;
    assert.equal(first.type, "order.created");
    assert.equal(first.subject, "order/1");
    assert.equal(first.source, `/tenants/${tenant.id}`);
    assert.match(first.time, /^\d{4}-\d\d-\d\dT/);
    assert.equal(sub.lastEventId, ids[3]);
    sub.close();
    await sub.closed;
  });

  it("keeps Last-Event-ID in the storage across subscriptions (a page reload)", async () => {
    const token = await server.token(tenant, { sub: "reload" });
    const storage = memoryStorage();
    const types = ["reload.*"];

    // Page 1 opens the stream and goes away before any event.
    const controls: ControlEvent[] = [];
    const page1 = subscribe({ url: server.url, token, types, storage, onControl: (c) => controls.push(c) });
    await until(() => controls.length === 1, 10_000, "beacon.connected");
    page1.close();
    const [start] = [...storage.map.values()];
    assert.ok(start, "the position of beacon.connected is stored");
    assert.equal([...storage.map.keys()].length, 1);
    assert.match([...storage.map.keys()][0]!, /^beacon:last-event-id:http:\/\/127\.0\.0\.1:\d+\/v1\/stream\?types=reload\.\*$/);

    const e1 = await server.publish(tenant, [{ type: "reload.a", data: { n: 1 } }]);

    // Page 2 resumes from there: it gets e1, which was published while no page was open.
    const got2: string[] = [];
    const rec2 = recordingFetch();
    const page2 = subscribe({ url: server.url, token, types, storage, fetch: rec2.fetch, onEvent: (e) => got2.push(e.id) });
    await until(() => got2.length === 1, 10_000, "e1");
    assert.deepEqual(got2, e1);
    assert.equal(rec2.requests[0]!["Last-Event-ID"], start);
    page2.close();

    const e23 = await server.publish(tenant, [
      { type: "reload.a", data: { n: 2 } },
      { type: "reload.b", data: { n: 3 } },
    ]);

    // Page 3: exactly what it missed, once.
    const got3: string[] = [];
    const controls3: ControlEvent[] = [];
    const rec3 = recordingFetch();
    const page3 = track(
      subscribe({
        url: server.url,
        token,
        types,
        storage,
        fetch: rec3.fetch,
        onEvent: (e) => got3.push(e.id),
        onControl: (c) => controls3.push(c),
      }),
    );
    await until(() => got3.length === 2, 10_000, "e2, e3");
    await sleep(200);
    assert.deepEqual(got3, e23);
    assert.equal(rec3.requests[0]!["Last-Event-ID"], e1[0]);
    const c = controls3[0]!;
    assert.ok(c.type === "beacon.connected" && c.data.resume === "exact");
    assert.equal(storage.map.get([...storage.map.keys()][0]!), e23[1]);
    page3.close();
  });

  it("reports beacon.gap for a position from another stream and continues", async () => {
    const token = await server.token(tenant, { sub: "gap" });
    const controls: ControlEvent[] = [];
    const got: string[] = [];
    const sub = track(
      subscribe({
        url: server.url,
        token,
        types: "gap.*",
        storage: null,
        lastEventId: "zzzzzzzzzz_1-0",
        onControl: (c) => controls.push(c),
        onEvent: (e) => got.push(e.id),
      }),
    );
    await until(() => controls.some((c) => c.type === "beacon.gap"), 10_000, "beacon.gap");
    const gap = controls.find((c) => c.type === "beacon.gap")!;
    assert.ok(gap.type === "beacon.gap" && gap.data.reason === "epoch" && gap.data.requested === "zzzzzzzzzz_1-0");
    const ids = await server.publish(tenant, [{ type: "gap.x", data: {} }]);
    await until(() => got.length === 1, 10_000, "the event after the gap");
    assert.deepEqual(got, ids);
    sub.close();
  });

  it("refreshes an expiring token and loses nothing published around the refresh", async () => {
    const types = ["refresh.*"];
    const first = await server.token(tenant, { sub: "refresh", ttl_s: 2 });
    const published: string[] = [];
    /** How many events had been published when each control event arrived. */
    const publishedAt: number[] = [];
    let refreshes = 0;
    const controls: ControlEvent[] = [];
    const got: string[] = [];
    const rec = recordingFetch();
    const sub = track(
      subscribe({
        url: server.url,
        token: first,
        getToken: async () => {
          refreshes++;
          // A slow token endpoint: events are published while the stream is down.
          await sleep(300);
          return server.token(tenant, { sub: "refresh", ttl_s: 60 });
        },
        types,
        storage: null,
        fetch: rec.fetch,
        onEvent: (e) => got.push(e.id),
        onControl: (c) => {
          controls.push(c);
          publishedAt.push(published.length);
        },
      }),
    );
    await until(() => controls.length === 1, 10_000, "beacon.connected");
    // Publish every 100 ms until the stream has been renewed, and a little after.
    const deadline = Date.now() + 15_000;
    let renewedAt: number | undefined;
    while (Date.now() < deadline) {
      published.push(...(await server.publish(tenant, [{ type: "refresh.tick", data: { n: published.length } }])));
      if (renewedAt === undefined && controls.filter((c) => c.type === "beacon.connected").length === 2) {
        renewedAt = Date.now();
      }
      if (renewedAt !== undefined && Date.now() - renewedAt > 500) break;
      await sleep(100);
    }
    assert.ok(renewedAt, "the stream was renewed");
    await until(() => got.length >= published.length, 10_000, "every published event");
    await sleep(200);
    assert.deepEqual(got, published, "every event exactly once, in order");
    assert.equal(refreshes, 1);
    const types_ = controls.map((c) => c.type);
    assert.deepEqual(types_, ["beacon.connected", "beacon.token_expired", "beacon.connected"]);
    const expired = controls[1]!;
    assert.ok(expired.type === "beacon.token_expired");
    assert.equal(rec.requests.length, 2);
    assert.equal(rec.requests[1]!["Last-Event-ID"], expired.data.last_event_id ?? undefined);
    assert.notEqual(rec.requests[1]!["Authorization"], `Bearer ${first}`);
    assert.ok(publishedAt[2]! - publishedAt[1]! >= 1, `events published while the token was renewed: ${publishedAt}`);
    const resumed = controls[2]!;
    assert.ok(resumed.type === "beacon.connected" && resumed.data.resume === "exact");
    sub.close();
  });

  it("asks getToken once for a refused token, then fails with a clear error", async () => {
    let asked = 0;
    const sub = subscribe({
      url: server.url,
      token: "not-a-token",
      getToken: () => {
        asked++;
        return "still-not-a-token";
      },
      storage: null,
    });
    await sub.closed;
    assert.equal(asked, 1);
    assert.equal(sub.error?.status, 401);
    assert.equal(sub.error?.code, "unauthorized");
    assert.equal(sub.state, "closed");
  });

  it("fails on 400 (an invalid filter) without retrying", async () => {
    const token = await server.token(tenant, { sub: "bad-filter" });
    const rec = recordingFetch();
    const sub = subscribe({ url: server.url, token, types: "bad type", storage: null, fetch: rec.fetch });
    await sub.closed;
    assert.equal(rec.requests.length, 1);
    assert.equal(sub.error?.status, 400);
    assert.equal(sub.error?.code, "invalid_filter");
  });
});
