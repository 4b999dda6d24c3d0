// The console's pure modules, in Node: the SSE parser (the JavaScript
// client's, bundled into beacon-client.js), the schema diff and the
// Prometheus text parser.

import assert from "node:assert/strict";
import fs from "node:fs";
import { describe, test } from "node:test";

/**
 * Loads a console module as the browser does, as an ES module (the
 * console has no package.json saying so; these modules import nothing).
 */
async function load(name) {
  const source = fs.readFileSync(new URL(`../../console/${name}`, import.meta.url));
  return import(`data:text/javascript;base64,${source.toString("base64")}`);
}

const { diff } = await load("diff.js");
const { bucketDelta, buckets, byLabel, parseMetrics, quantile, sum } = await load("prometheus.js");
const { SseParser, subscribe } = await load("beacon-client.js");

/** Events as `{type, data, id}`: the event's name, its data, the last event id in force. */
function parse(chunks) {
  const events = [];
  const retries = [];
  const parser = new SseParser({
    onMessage: (m) => events.push({ type: m.event, data: m.data, id: m.lastEventId ?? "" }),
    onRetry: (ms) => retries.push(ms),
  });
  for (const chunk of chunks) parser.push(chunk);
  return { events, retries };
}

test("the console's client module exports the parser and the reconnect loop", () => {
  assert.equal(typeof SseParser, "function");
  assert.equal(typeof subscribe, "function");
});

describe("SSE parser", () => {
  test("reads Beacon's frames: comments, retry, ids, named events", () => {
    const { events, retries } = parse([
      ": beacon\n\nretry: 2000\n\n",
      'id: e_1-4\nevent: beacon.connected\ndata: {"resume":"none"}\n\n',
      'id: e_2-0\nevent: order.created\ndata: {"id":"e_2-0"}\n\n',
      "event: beacon.gap\ndata: {}\n\n",
    ]);
    assert.deepEqual(retries, [2000]);
    assert.deepEqual(events, [
      { type: "beacon.connected", data: '{"resume":"none"}', id: "e_1-4" },
      { type: "order.created", data: '{"id":"e_2-0"}', id: "e_2-0" },
      // A control event without an id keeps the last id, as EventSource does.
      { type: "beacon.gap", data: "{}", id: "e_2-0" },
    ]);
  });

  test("frames split anywhere, CRLF and CR line ends, multi-line data", () => {
    const text = "id: 1\r\nevent: a\r\ndata: x\r\ndata: y\r\n\r\nid: 2\revent: b\rdata: z\r\r";
    for (let cut = 0; cut <= text.length; cut++) {
      const { events } = parse([text.slice(0, cut), text.slice(cut)]);
      assert.deepEqual(events, [
        { type: "a", data: "x\ny", id: "1" },
        { type: "b", data: "z", id: "2" },
      ], `cut at ${cut}`);
    }
  });

  test("an event without data is not dispatched; a field without colon is a name", () => {
    const { events } = parse(["event: nothing\n\ndata\n\n"]);
    assert.deepEqual(events, [{ type: "message", data: "", id: "" }]);
  });
});

describe("schema diff", () => {
  test("names added, removed and changed members by JSON pointer", () => {
    const v1 = { type: "object", properties: { a: { type: "string" }, "x/y": { type: "integer" } }, required: ["a"] };
    const v2 = { type: "object", properties: { a: { type: "string", maxLength: 5 }, b: { type: "number" } }, required: ["b", "a"] };
    assert.deepEqual(diff(v1, v2), [
      { op: "added", path: "/properties/a/maxLength", to: 5 },
      { op: "removed", path: "/properties/x~1y", from: { type: "integer" } },
      { op: "added", path: "/properties/b", to: { type: "number" } },
      { op: "added", path: "/required", to: "b", item: true },
    ]);
  });

  test("sets of plain values ignore order; other arrays compare by position", () => {
    assert.deepEqual(diff({ enum: ["a", "b"] }, { enum: ["b", "a"] }), []);
    assert.deepEqual(diff({ allOf: [{ a: 1 }] }, { allOf: [{ a: 2 }, { c: 3 }] }), [
      { op: "changed", path: "/allOf/0/a", from: 1, to: 2 },
      { op: "added", path: "/allOf/1", to: { c: 3 } },
    ]);
    assert.deepEqual(diff(1, "1"), [{ op: "changed", path: "", from: 1, to: "1" }]);
  });
});

describe("Prometheus text", () => {
  const text = [
    "# HELP beacon_publish_requests_total Publish requests, by outcome.",
    "# TYPE beacon_publish_requests_total counter",
    'beacon_publish_requests_total{outcome="accepted"} 7',
    'beacon_publish_requests_total{outcome="invalid"} 2',
    'beacon_publish_requests_total{outcome="contract"} 1',
    "# TYPE beacon_sse_connections_open gauge",
    "beacon_sse_connections_open 3",
    "# TYPE beacon_plugin_call_duration_seconds histogram",
    'beacon_plugin_call_duration_seconds_bucket{tenant="acme",plugin="p",le="0.001"} 50',
    'beacon_plugin_call_duration_seconds_bucket{tenant="acme",plugin="p",le="0.01"} 90',
    'beacon_plugin_call_duration_seconds_bucket{tenant="acme",plugin="p",le="+Inf"} 100',
    'beacon_plugin_call_duration_seconds_count{tenant="acme",plugin="p"} 100',
    'beacon_plugin_call_duration_seconds_bucket{tenant="o\\"ther",plugin="q",le="0.001"} 1',
    'beacon_plugin_call_duration_seconds_bucket{tenant="o\\"ther",plugin="q",le="0.01"} 1',
    'beacon_plugin_call_duration_seconds_bucket{tenant="o\\"ther",plugin="q",le="+Inf"} 1',
    "",
  ].join("\n");

  test("samples, sums and label groups", () => {
    const samples = parseMetrics(text);
    assert.equal(sum(samples, "beacon_sse_connections_open"), 3);
    assert.equal(sum(samples, "beacon_publish_requests_total"), 10);
    assert.equal(sum(samples, "beacon_publish_requests_total", { outcome: "accepted" }), 7);
    assert.deepEqual([...byLabel(samples, "beacon_publish_requests_total", "outcome")], [["accepted", 7], ["invalid", 2], ["contract", 1]]);
    assert.equal(samples.find((s) => s.labels.plugin === "q").labels.tenant, 'o"ther');
  });

  test("histogram quantiles interpolate within the bucket, per tenant", () => {
    const samples = parseMetrics(text);
    const acme = buckets(samples, "beacon_plugin_call_duration_seconds", { tenant: "acme" });
    assert.deepEqual(acme.map((b) => b.count), [50, 90, 100]);
    assert.equal(quantile(0.5, acme), 0.001);
    assert.ok(Math.abs(quantile(0.7, acme) - 0.0055) < 1e-12);
    // Above the last finite bound: the bound itself.
    assert.equal(quantile(0.99, acme), 0.01);
    assert.ok(Number.isNaN(quantile(0.5, bucketDelta(acme, acme))));
    const later = acme.map((b) => ({ ...b, count: b.count + 10 }));
    assert.equal(quantile(0.5, bucketDelta(later, acme)), 0.0005);
  });
});
