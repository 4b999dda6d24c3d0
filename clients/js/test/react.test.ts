/** `useBeacon` and its reducer. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import type { BeaconEvent } from "@beacon/client";
import { beaconReducer, initialBeaconView, useBeacon, type BeaconView } from "@beacon/client/react";
import { createElement } from "react";
import TestRenderer from "react-test-renderer";

import { connected, eventFrame, fakeFetch, until, type FakeStream } from "./support/fake.js";

const event = (n: number): BeaconEvent => ({
  id: `e_${n}-0`,
  type: "a.b",
  source: "/tenants/t",
  time: "2026-01-01T00:00:00.000Z",
  data: { n },
});

describe("beaconReducer", () => {
  it("keeps the newest `max` events", () => {
    let view = initialBeaconView();
    for (let n = 1; n <= 5; n++) {
      view = beaconReducer(view, { type: "event", event: event(n), max: 3, lastEventId: `e_${n}-0` });
    }
    assert.deepEqual(view.events.map((e) => e.id), ["e_3-0", "e_4-0", "e_5-0"]);
    assert.equal(view.lastEventId, "e_5-0");
    view = beaconReducer(view, { type: "event", event: event(6), max: 1, lastEventId: "e_6-0" });
    assert.deepEqual(view.events.map((e) => e.id), ["e_6-0"], "a smaller max trims at once");
    view = beaconReducer(view, { type: "event", event: event(7), max: 0, lastEventId: "e_7-0" });
    assert.deepEqual(view.events, []);
  });

  it("tracks the state and the error, cleared when the stream opens", () => {
    const failure = new Error("down");
    let view = beaconReducer(initialBeaconView(), { type: "state", state: "open" });
    view = beaconReducer(view, { type: "state", state: "reconnecting", error: failure });
    assert.equal(view.state, "reconnecting");
    assert.equal(view.error, failure);
    view = beaconReducer(view, { type: "state", state: "open" });
    assert.equal(view.error, undefined);
    const same = beaconReducer(view, { type: "position", lastEventId: view.lastEventId });
    assert.equal(same, view, "no change, same object (no re-render)");
    assert.deepEqual(beaconReducer(view, { type: "reset" }), initialBeaconView());
  });
});

describe("useBeacon", () => {
  it("renders the newest events and the state, and closes the stream on unmount", async () => {
    (globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = false;
    let stream!: FakeStream;
    const { fetch, calls } = fakeFetch([{ stream: (s) => (stream = s) }]);
    let view!: BeaconView<{ "a.b": { n: number } }>;
    const seen: number[] = [];
    function Feed(): null {
      view = useBeacon<{ "a.b": { n: number } }>({
        url: "http://beacon.test",
        token: "t",
        types: ["a.*"],
        storage: null,
        fetch,
        max: 2,
        // A new function on every render: the stream is not reopened for it.
        onEvent: (e) => seen.push(e.data.n),
      });
      return null;
    }
    // react-test-renderer is deprecated in React 19 but still the lightest way to run effects
    // without a DOM; its notice is not a test failure.
    const error = console.error;
    console.error = (...args: unknown[]) => {
      if (!String(args[0]).includes("react-test-renderer is deprecated")) error(...args);
    };
    let renderer!: TestRenderer.ReactTestRenderer;
    try {
      renderer = TestRenderer.create(createElement(Feed));
    } finally {
      console.error = error;
    }
    await until(() => calls.length === 1 && stream !== undefined, 5000, "the stream");
    stream.write(connected("e_0-0"));
    await until(() => view.state === "open" && view.lastEventId === "e_0-0", 5000, "open");
    stream.write(eventFrame("e_1-0", "a.b", { n: 1 }) + eventFrame("e_2-0", "a.b", { n: 2 }));
    stream.write(eventFrame("e_3-0", "a.b", { n: 3 }));
    await until(() => view.lastEventId === "e_3-0", 5000, "three events");
    assert.deepEqual(view.events.map((e) => e.data.n), [2, 3]);
    assert.deepEqual(seen, [1, 2, 3]);
    renderer.update(createElement(Feed));
    assert.equal(calls.length, 1, "re-rendering does not reopen the stream");
    renderer.unmount();
    await until(() => calls[0]!.signal.aborted, 5000, "the stream closed on unmount");
  });
});
