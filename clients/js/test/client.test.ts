/** The client's behaviour against a scripted fetch: no server needed. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import {
  backoffDelay,
  BeaconError,
  memoryStorage,
  parseRetryAfter,
  subscribe,
  type ConnectionState,
  type ControlEvent,
  type StateInfo,
} from "@beacon/client";

import { connected, eventFrame, fakeFetch, sleep, until } from "./support/fake.js";

describe("backoffDelay", () => {
  const opts = { initialMs: 100, maxMs: 1000 };
  it("is full jitter without a floor: random(0, min(max, initial * 2^attempt))", () => {
    for (let attempt = 0; attempt < 8; attempt++) {
      const cap = Math.min(1000, 100 * 2 ** attempt);
      assert.equal(backoffDelay(attempt, opts, 0, () => 0), 0);
      assert.equal(backoffDelay(attempt, opts, 0, () => 0.5), cap / 2);
      assert.ok(backoffDelay(attempt, opts, 0, () => 0.999999) <= cap);
    }
  });
  it("never undercuts the server's retry, and stays under max", () => {
    assert.equal(backoffDelay(0, opts, 300, () => 0), 300);
    assert.equal(backoffDelay(0, opts, 300, () => 0.5), 350);
    assert.equal(backoffDelay(9, opts, 300, () => 0.999999), 1000);
    assert.equal(backoffDelay(9, opts, 5000, () => 0.7), 5000, "a floor above max wins");
  });
  it("parses Retry-After", () => {
    assert.equal(parseRetryAfter("3"), 3000);
    assert.equal(parseRetryAfter(null), undefined);
    assert.equal(parseRetryAfter("soon"), undefined);
    assert.equal(parseRetryAfter(new Date(10_000).toUTCString(), 4_000), 6_000);
  });
});

describe("subscribe (scripted server)", () => {
  it("sends the token and Last-Event-ID headers and builds the stream URL", async () => {
    const storage = memoryStorage();
    const { fetch, calls } = fakeFetch([
      { stream: (s) => s.write(connected("e_1-0") + eventFrame("e_2-0", "a.b", { n: 1 })) },
    ]);
    const got: unknown[] = [];
    const sub = subscribe({
      url: "http://beacon.test/base/",
      token: "tok",
      types: ["a.*", "c.d@1"],
      subjects: "s/1",
      lastEventId: "e_0-0",
      storage,
      fetch,
      onEvent: (e) => got.push(e.data),
    });
    await until(() => got.length === 1);
    assert.equal(calls[0]!.url, "http://beacon.test/base/v1/stream?types=a.*%2Cc.d%401&subjects=s%2F1");
    assert.equal(calls[0]!.headers["Authorization"], "Bearer tok");
    assert.equal(calls[0]!.headers["Last-Event-ID"], "e_0-0");
    assert.equal(calls[0]!.headers["Accept"], "text/event-stream");
    assert.equal(sub.lastEventId, "e_2-0");
    assert.deepEqual([...storage.map.entries()], [
      ["beacon:last-event-id:http://beacon.test/base/v1/stream?types=a.*%2Cc.d%401&subjects=s%2F1", "e_2-0"],
    ]);
    sub.close();
    await sub.closed;
    assert.equal(sub.state, "closed");
  });

  it("remembers the id of beacon.connected and resumes from it after a drop", async () => {
    const { fetch, calls } = fakeFetch([
      { stream: (s) => { s.write(connected("e_7-0")); s.end(); } },
      { stream: (s) => s.write(connected("e_7-0", "exact")) },
    ]);
    const controls: ControlEvent[] = [];
    const sub = subscribe({
      url: "http://beacon.test",
      storage: null,
      fetch,
      backoff: { initialMs: 1, maxMs: 5 },
      random: () => 0,
      onControl: (c) => controls.push(c),
    });
    await until(() => controls.length === 2);
    assert.equal(calls[1]!.headers["Last-Event-ID"], "e_7-0");
    assert.equal(controls[0]!.type, "beacon.connected");
    assert.equal(controls[0]!.id, "e_7-0");
    sub.close();
  });

  it("surfaces beacon.gap and goes on", async () => {
    const { fetch } = fakeFetch([
      {
        stream: (s) =>
          s.write(
            connected("n_0-0", "gap") +
              'event: beacon.gap\ndata: {"reason":"epoch","requested":"old_1-0"}\n\n' +
              eventFrame("n_1-0", "a.b", 1),
          ),
      },
    ]);
    const order: string[] = [];
    const sub = subscribe({
      url: "http://beacon.test",
      storage: null,
      fetch,
      onControl: (c) => {
        order.push(c.type);
        if (c.type === "beacon.gap") assert.equal(c.data.reason, "epoch");
      },
      onEvent: (e) => order.push(e.type),
    });
    await until(() => order.length === 3);
    assert.deepEqual(order, ["beacon.connected", "beacon.gap", "a.b"]);
    assert.equal(sub.state, "open");
    sub.close();
  });

  it("retries 5xx, network errors and 429 (after Retry-After); fails on 400 with the server's code", async () => {
    const { fetch, calls } = fakeFetch([
      { status: 503, body: '{"error":"unavailable","message":"log down"}' },
      { networkError: true },
      { status: 429, headers: { "retry-after": "1" }, body: '{"error":"rate_limited"}' },
      { status: 400, body: '{"error":"invalid_filter","message":"`bad type` is not a valid pattern"}' },
    ]);
    const states: [ConnectionState, StateInfo][] = [];
    const sub = subscribe({
      url: "http://beacon.test",
      storage: null,
      fetch,
      backoff: { initialMs: 10, maxMs: 20 },
      random: () => 0.5,
      onState: (s, i) => states.push([s, i]),
    });
    await sub.closed;
    assert.equal(calls.length, 4);
    assert.ok(calls[3]!.at - calls[2]!.at >= 990, "Retry-After: 1 is waited for");
    assert.deepEqual(
      states.map(([s, i]) => [s, i.delayMs, (i.error as BeaconError | undefined)?.code]),
      [
        ["connecting", undefined, undefined],
        ["reconnecting", 5, "unavailable"],
        ["reconnecting", 10, "network_error"],
        ["reconnecting", 1000, "rate_limited"],
        ["closed", undefined, "invalid_filter"],
      ],
    );
    assert.equal(sub.error?.status, 400);
    assert.equal(sub.error?.fatal, true);
    assert.match(sub.error!.message, /invalid_filter/);
  });

  it("on 401 calls getToken once, then fails clearly", async () => {
    const { fetch, calls } = fakeFetch([{ status: 401, body: '{"error":"unauthorized","message":"expired"}' }]);
    let asked = 0;
    const errors: BeaconError[] = [];
    const sub = subscribe({
      url: "http://beacon.test",
      token: "old",
      getToken: () => `new-${++asked}`,
      storage: null,
      fetch,
      onError: (e) => errors.push(e),
    });
    await sub.closed;
    assert.equal(asked, 1);
    assert.deepEqual(calls.map((c) => c.headers["Authorization"]), ["Bearer old", "Bearer new-1"]);
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.status, 401);
    assert.match(errors[0]!.message, /still refuses the subscriber token after getToken/);
  });

  it("on 401 without getToken fails at once", async () => {
    const { fetch, calls } = fakeFetch([{ status: 401, body: '{"error":"unauthorized"}' }]);
    const sub = subscribe({ url: "http://beacon.test", token: "t", storage: null, fetch });
    await sub.closed;
    assert.equal(calls.length, 1);
    assert.equal(sub.error?.code, "unauthorized");
    assert.match(sub.error!.message, /getToken/);
  });

  it("refuses an answer that is not an event stream", async () => {
    const { fetch } = fakeFetch([{ stream: () => {}, headers: { "content-type": "text/html" } }]);
    const sub = subscribe({ url: "http://beacon.test", storage: null, fetch });
    await sub.closed;
    assert.equal(sub.error?.code, "not_event_stream");
  });

  it("does not reconnect after beacon.closed (replaced)", async () => {
    const { fetch, calls } = fakeFetch([
      { stream: (s) => s.write(connected("e_1-0") + 'event: beacon.closed\ndata: {"reason":"replaced"}\n\n') },
    ]);
    const sub = subscribe({ url: "http://beacon.test", storage: null, fetch });
    await sub.closed;
    await sleep(50);
    assert.equal(calls.length, 1);
    assert.equal(sub.error?.code, "closed_by_server");
  });

  it("resumes after beacon.overflow from its last_event_id", async () => {
    const { fetch, calls } = fakeFetch([
      {
        stream: (s) =>
          s.write(
            connected("e_1-0") +
              eventFrame("e_2-0", "a.b", 1) +
              'event: beacon.overflow\ndata: {"reason":"slow_consumer","last_event_id":"e_5-0"}\n\n',
          ),
      },
      { stream: (s) => s.write(connected("e_5-0", "exact")) },
    ]);
    const sub = subscribe({
      url: "http://beacon.test",
      storage: null,
      fetch,
      backoff: { initialMs: 1, maxMs: 2 },
    });
    await until(() => calls.length === 2);
    assert.equal(calls[1]!.headers["Last-Event-ID"], "e_5-0");
    sub.close();
  });

  it("reconnects when the stream goes quiet for longer than the idle limit", async () => {
    const { fetch, calls } = fakeFetch([{ stream: (s) => s.write(connected("e_1-0", "none", 1)) }]);
    const sub = subscribe({
      url: "http://beacon.test",
      storage: null,
      fetch,
      idleTimeoutMs: 100,
      backoff: { initialMs: 1, maxMs: 2 },
    });
    await until(() => calls.length >= 2, 5000, "a second attempt");
    assert.ok(calls[1]!.at - calls[0]!.at >= 95);
    sub.close();
  });

  it("keeps going when a handler throws; dispatches per type with a catch-all", async () => {
    const { fetch } = fakeFetch([
      {
        stream: (s) =>
          s.write(
            connected("e_0-0") +
              eventFrame("e_1-0", "order.created", { total: 5 }) +
              eventFrame("e_2-0", "order.paid", { amount: 5 }) +
              eventFrame("e_3-0", "constructor", {}) +
              eventFrame("e_4-0", "order.created", { total: 6 }),
          ),
      },
    ]);
    const seen: string[] = [];
    const reported: unknown[] = [];
    const original = (globalThis as { reportError?: unknown }).reportError;
    (globalThis as { reportError?: unknown }).reportError = (e: unknown) => reported.push(e);
    try {
      const sub = subscribe<{ "order.created": { total: number }; "order.paid": { amount: number } }>({
        url: "http://beacon.test",
        storage: null,
        fetch,
        onEvent: {
          "order.created": (e) => {
            seen.push(`created:${e.data.total}`);
            if (e.data.total === 5) throw new Error("app bug");
          },
          "*": (e) => seen.push(`other:${e.type}`),
        },
      });
      await until(() => seen.length === 4);
      assert.deepEqual(seen, ["created:5", "other:order.paid", "other:constructor", "created:6"]);
      assert.equal(reported.length, 1);
      sub.close();
    } finally {
      (globalThis as { reportError?: unknown }).reportError = original;
    }
  });

  it("close() and the abort signal stop everything, even while waiting", async () => {
    const { fetch, calls } = fakeFetch([{ networkError: true }]);
    const controller = new AbortController();
    const sub = subscribe({
      url: "http://beacon.test",
      storage: null,
      fetch,
      signal: controller.signal,
      backoff: { initialMs: 10_000, maxMs: 10_000 },
      random: () => 0.9,
    });
    await until(() => sub.state === "reconnecting");
    controller.abort();
    await sub.closed;
    assert.equal(sub.state, "closed");
    assert.equal(calls.length, 1);
    assert.equal(sub.error, undefined);
  });
});
