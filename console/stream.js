// The tenant's live stream: one subscription to `GET /v1/stream`, kept open
// across drops and server restarts, resuming with `Last-Event-ID`, by the
// Beacon client's reconnect loop (`subscribe` from `beacon-client.js`, built
// from clients/js: its stream parser, backoff and token renewal).
//
// - A subscriber token is minted with the tenant key (`POST /v1/tokens`) and
//   sent as `Authorization: Bearer`; the client asks for a new one when the
//   stream ends with `beacon.token_expired` or a connection attempt answers
//   401. A key that may not mint tokens ends the stream.
// - The stream starts from now on each `start()`: no id is kept across page
//   loads.
// - Counters: `received` (events), `reconnects` (connections re-established
//   after a drop), `replayed` (events the server read back from its log on a
//   resumed connection: published before that connection opened, by the
//   envelope's `time` and the server clock estimated from `Date` headers),
//   `gaps` (`beacon.gap`: the position could not be resumed exactly).

import { api, observeClock, serverNow } from "./api.js";
import { subscribe } from "./beacon-client.js";

/** Events kept in memory for the viewer. */
export const KEEP = 500;

/** `fetch` for the client: no HTTP cache, and every answer's `Date` feeds the server clock. */
async function fetchObservingClock(url, init) {
  const sentAt = Date.now();
  const response = await fetch(url, { ...init, cache: "no-store" });
  observeClock(response, sentAt);
  return response;
}

/** A comma-separated filter, tidied: `" a, ,b "` → `"a,b"`. */
function clean(text) {
  return text.split(",").map((s) => s.trim()).filter(Boolean).join(",");
}

export class LiveStream extends EventTarget {
  constructor() {
    super();
    this.filters = { types: "", subjects: "" };
    /** idle | connecting | open | reconnecting | closed */
    this.state = "idle";
    this.reason = "";
    this.events = [];
    this.counters = { received: 0, reconnects: 0, replayed: 0, gaps: 0 };
    this.lastEventId = null;
    /** What the latest `beacon.connected` said, and the `Last-Event-ID` sent for it. */
    this.connection = null;
    this.sub = `console-${Math.random().toString(36).slice(2, 8)}`;
    this.seq = 0;
    /** The current subscription and what is known of it; `null` when idle. */
    this.run = null;
  }

  /** Opens the stream with `filters` (`{types, subjects}`, comma-separated), from now on. */
  start(filters = this.filters) {
    this.stop();
    this.filters = { ...filters };
    this.events = [];
    this.counters = { received: 0, reconnects: 0, replayed: 0, gaps: 0 };
    this.lastEventId = null;
    this.connection = null;
    const run = {
      subscription: null,
      /** `beacon.connected` seen so far: every one after the first is a reconnection. */
      connections: 0,
      /** The `Last-Event-ID` of the connection being attempted. */
      sent: null,
      /** The current connection resumed a position: events published before it opened were replayed. */
      replaying: false,
      openedAt: 0,
      /** Why the stream ended, when the console or the server ended it. */
      stopReason: null,
    };
    this.run = run;
    this.setState("connecting", "");
    run.subscription = subscribe({
      url: "/v1/stream",
      types: clean(this.filters.types),
      subjects: clean(this.filters.subjects),
      storage: null,
      fetch: fetchObservingClock,
      getToken: () => this.mintToken(run),
      onState: (state, info) => this.onState(run, state, info),
      onControl: (event) => this.onControl(run, event),
      onEvent: (envelope) => this.onEvent(run, envelope),
      onError: (error) => {
        run.stopReason ??= error.message;
      },
    });
    this.emit("reset");
  }

  stop() {
    const run = this.run;
    this.run = null;
    run?.subscription?.close();
    this.setState("idle", "");
  }

  emit(name, detail) {
    this.dispatchEvent(new CustomEvent(name, { detail }));
  }

  setState(state, reason = "") {
    if (this.state === state && this.reason === reason) return;
    this.state = state;
    this.reason = reason;
    this.emit("state");
  }

  notice(kind, message) {
    this.emit("notice", { kind, message, at: Date.now() });
  }

  /** A subscriber token for the client; a key that may not mint one ends the stream. */
  async mintToken(run) {
    try {
      const minted = await api("/v1/tokens", { method: "POST", json: { sub: this.sub, ttl_s: 3600 } });
      return minted.token;
    } catch (error) {
      const reason = `cannot mint a subscriber token: ${error.message}`;
      if (error.status === 401 || error.status === 403) {
        run.stopReason = reason;
        run.subscription?.close();
      }
      throw new Error(reason);
    }
  }

  /** The client's connection states; `open` waits for `beacon.connected`. */
  onState(run, state, info) {
    if (this.run !== run) return;
    switch (state) {
      case "connecting":
      case "reconnecting":
        run.sent = run.subscription?.lastEventId ?? null;
        this.setState(run.connections > 0 || state === "reconnecting" ? "reconnecting" : "connecting",
          info.error?.message ?? "");
        break;
      case "closed":
        this.setState("closed", run.stopReason ?? info.error?.message ?? "closed");
        break;
      default:
        break;
    }
  }

  /** A control event: `beacon.connected` opens the view, the others are noted. */
  onControl(run, { type, data }) {
    if (this.run !== run) return;
    const payload = data ?? {};
    switch (type) {
      case "beacon.connected":
        if (run.connections > 0) this.counters.reconnects += 1;
        run.connections += 1;
        this.connection = { ...payload, sentLastEventId: run.sent };
        run.replaying = payload.resume !== "none";
        run.openedAt = serverNow();
        this.setState("open", "");
        this.emit("counters");
        break;
      case "beacon.gap":
        this.counters.gaps += 1;
        this.emit("counters");
        this.notice("warn", `Gap (${payload.reason}): events after ${payload.requested ?? "the requested id"} are no longer all available; delivery goes on from the oldest kept.`);
        break;
      case "beacon.token_expired":
        if (payload.last_event_id) this.lastEventId = payload.last_event_id;
        this.notice("info", "Subscriber token expired: a new one was minted and the stream resumed.");
        break;
      case "beacon.overflow":
        if (payload.last_event_id) this.lastEventId = payload.last_event_id;
        this.notice("warn", "The console fell behind the stream and was cut off; it resumed from its last event.");
        break;
      case "beacon.closed":
        run.stopReason = payload.reason === "replaced"
          ? "closed: a newer connection of the same user replaced it"
          : `closed: ${payload.reason}`;
        break;
      case "beacon.shutdown":
        this.notice("info", "The server is shutting down; the console will reconnect.");
        break;
      case "beacon.incompatible":
        this.notice("warn", `${payload.type} v${payload.published} cannot be shown as v${payload.wanted}: ${payload.reason}`);
        break;
      default:
        this.notice("info", `${type}: ${JSON.stringify(payload)}`);
    }
  }

  /** An event: its CloudEvents envelope. */
  onEvent(run, envelope) {
    if (this.run !== run) return;
    if (envelope.id) this.lastEventId = envelope.id;
    const published = Date.parse(envelope.time ?? "");
    const replayed = run.replaying && Number.isFinite(published) && published < run.openedAt;
    this.counters.received += 1;
    if (replayed) this.counters.replayed += 1;
    const item = {
      seq: ++this.seq,
      id: envelope.id,
      type: envelope.type,
      envelope,
      replayed,
      receivedAt: Date.now(),
    };
    this.events.push(item);
    if (this.events.length > KEEP) this.events.splice(0, this.events.length - KEEP);
    this.emit("event", item);
    this.emit("counters");
  }
}

/** The one stream of a signed-in tenant. */
export const liveStream = new LiveStream();
