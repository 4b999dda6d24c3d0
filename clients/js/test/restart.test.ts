/** Server restarts and outages: resume by Last-Event-ID, backoff while down. */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";

import {
  backoffDelay,
  subscribe,
  type ConnectionState,
  type ControlEvent,
  type FetchLike,
  type StateInfo,
} from "@beacon/client";

import { sleep, until } from "./support/fake.js";
import { BeaconServer } from "./support/server.js";

const servers: BeaconServer[] = [];
after(async () => {
  for (const s of servers) await s.stop();
});

/** A fixed sequence of "random" numbers, so the expected delays are known. */
function sequence(values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length]!;
}

describe("server restarts and outages", () => {
  it("resumes after a crash and restart: what was published meanwhile arrives exactly once", async () => {
    const server = await BeaconServer.start(["--retry", "100ms"]);
    servers.push(server);
    const tenant = await server.createTenant();
    const token = await server.token(tenant, { sub: "restart", ttl_s: 3600 });

    // Reconnection attempts wait at this gate while it is closed.
    let gate: Promise<void> | undefined;
    const requests: Record<string, string>[] = [];
    const fetch: FetchLike = async (url, init) => {
      requests.push({ url, ...init.headers });
      if (gate) await gate;
      return globalThis.fetch(url, init);
    };
    const got: string[] = [];
    const controls: ControlEvent[] = [];
    const states: ConnectionState[] = [];
    const sub = subscribe({
      url: () => server.url, // read at each attempt: the port may change on restart
      token,
      types: "restart.*",
      storage: null,
      fetch,
      backoff: { initialMs: 50, maxMs: 500 },
      onEvent: (e) => got.push(e.id),
      onControl: (c) => controls.push(c),
      onState: (s) => states.push(s),
    });
    await until(() => controls.length === 1, 10_000, "beacon.connected");
    const before = await server.publish(tenant, [
      { type: "restart.a", data: { n: 1 } },
      { type: "restart.a", data: { n: 2 } },
    ]);
    await until(() => got.length === 2, 10_000, "the first two events");

    let openGate!: () => void;
    gate = new Promise((resolve) => (openGate = resolve));
    await server.restart(); // SIGKILL, then the same data directory
    await until(() => requests.length >= 2, 10_000, "a reconnection attempt");
    const meanwhile = await server.publish(tenant, [
      { type: "restart.a", data: { n: 3 } },
      { type: "restart.b", data: { n: 4 } },
      { type: "restart.a", data: { n: 5 } },
    ]);
    gate = undefined;
    openGate();
    await until(() => got.length === 5, 15_000, "the events published during the outage");
    const live = await server.publish(tenant, [{ type: "restart.a", data: { n: 6 } }]);
    await until(() => got.length === 6, 10_000, "a live event after the restart");
    await sleep(300);

    assert.deepEqual(got, [...before, ...meanwhile, ...live], "each event exactly once, in order");
    assert.equal(new Set(got).size, got.length);
    const resumeRequest = requests.find((r, i) => i > 0 && r["Last-Event-ID"] !== undefined)!;
    assert.equal(resumeRequest["Last-Event-ID"], before[1]);
    const connected = controls.filter((c) => c.type === "beacon.connected");
    assert.equal(connected.length, 2);
    const resumed = connected[1]!;
    assert.ok(resumed.type === "beacon.connected");
    assert.equal(resumed.data.resume, "exact");
    assert.equal(resumed.data.last_event_id, before[1]);
    assert.deepEqual(states.slice(0, 3), ["connecting", "open", "reconnecting"]);
    assert.equal(states.at(-1), "open");
    sub.close();
    await sub.closed;
  });

  it("while the server is down, attempts follow the full-jitter bounds, and close() stops them", async () => {
    const server = await BeaconServer.start(["--retry", "100ms"]);
    servers.push(server);
    const tenant = await server.createTenant();
    const token = await server.token(tenant, { sub: "backoff" });
    const backoff = { initialMs: 40, maxMs: 400 };
    const randoms = [0.9, 0.2, 0.99, 0.5, 0.7, 0.05, 0.8];

    const attempts: number[] = [];
    const fetch: FetchLike = (url, init) => {
      attempts.push(performance.now());
      return globalThis.fetch(url, init);
    };
    const delays: StateInfo[] = [];
    const controls: ControlEvent[] = [];
    const sub = subscribe({
      url: server.url,
      token,
      storage: null,
      fetch,
      backoff,
      random: sequence(randoms),
      onControl: (c) => controls.push(c),
      onState: (s, info) => {
        if (s === "reconnecting") delays.push(info);
      },
    });
    await until(() => controls.length === 1, 10_000, "beacon.connected");
    await server.kill(); // and it stays down
    const count = 7;
    await until(() => attempts.length >= 1 + count, 20_000, `${count} reconnection attempts`);
    sub.close();
    const atClose = attempts.length;
    await sub.closed;
    await sleep(600);
    assert.equal(attempts.length, atClose, "no attempt after close()");
    assert.equal(sub.state, "closed");

    // The server said `retry: 100`: that is the floor; the jitter window doubles from 40 ms up to max.
    for (let n = 0; n < count; n++) {
      const expected = backoffDelay(n, backoff, 100, () => randoms[n % randoms.length]!);
      const window = Math.min(backoff.maxMs - 100, backoff.initialMs * 2 ** n);
      assert.ok(expected >= 100 && expected <= 100 + window, `bounds of attempt ${n}`);
      assert.equal(delays[n]!.attempt, n);
      assert.equal(delays[n]!.delayMs, expected, `announced delay of attempt ${n}`);
      if (n >= 1) {
        // Between two refused attempts: the delay, plus the time a refused connection takes.
        const measured = attempts[n + 1]! - attempts[n]!;
        assert.ok(measured >= expected - 2, `attempt ${n}: waited ${measured} ms, expected ${expected}`);
        // Generous: timers fire late on a loaded machine, never early.
        assert.ok(measured <= expected + 500, `attempt ${n}: waited ${measured} ms, expected ${expected}`);
      }
    }
  });

  it("a client that never connected uses full jitter from zero", async () => {
    // A port where nothing listens: start a server, note its address, stop it.
    const server = await BeaconServer.start();
    servers.push(server);
    const url = server.url;
    await server.kill();
    const backoff = { initialMs: 20, maxMs: 100 };
    const randoms = [0.5, 0.0, 0.999, 0.25, 0.75];
    const delays: number[] = [];
    const sub = subscribe({
      url,
      token: "x",
      storage: null,
      backoff,
      random: sequence(randoms),
      onState: (s, info) => {
        if (s === "reconnecting") delays.push(info.delayMs!);
      },
    });
    await until(() => delays.length >= 5, 10_000, "five delays");
    sub.close();
    const expected = randoms.map((r, n) => Math.round(r * Math.min(100, 20 * 2 ** n)));
    assert.deepEqual(delays.slice(0, 5), expected);
  });
});
