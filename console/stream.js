// The tenant's live stream: one connection to `GET /v1/stream`, kept open
// across drops and server restarts, resuming with `Last-Event-ID`.
//
// - A subscriber token is minted with the tenant key (`POST /v1/tokens`) and
//   sent as `Authorization: Bearer`; a new one is minted when the stream ends
//   with `beacon.token_expired` or a connection attempt answers 401.
// - After a drop the console waits the server's `retry:` hint (then twice
//   as long after each failed attempt, at most 30 s) and reconnects with the
//   last id it received, as `EventSource` does.
// - Counters: `received` (events), `reconnects` (connections re-established
//   after a drop), `replayed` (events the server read back from its log on a
//   resumed connection: published before that connection opened, by the
//   envelope's `time` and the server clock estimated from `Date` headers),
//   `gaps` (`beacon.gap`: the position could not be resumed exactly).

import { api, observeClock, serverNow } from "./api.js";
import { SseParser } from "./sse.js";

/** Events kept in memory for the viewer. */
export const KEEP = 500;
const MAX_BACKOFF_MS = 30_000;
/** Renew the subscriber token when it has less than this left. */
const TOKEN_MARGIN_MS = 60_000;

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
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
    /** What the latest `beacon.connected` said. */
    this.connection = null;
    this.retryMs = 2000;
    this.token = null;
    this.tokenExpiresAt = 0;
    this.sub = `console-${Math.random().toString(36).slice(2, 8)}`;
    this.seq = 0;
    this.run = null;
  }

  /** Opens the stream with `filters` (`{types, subjects}`, comma-separated), from now on. */
  start(filters = this.filters) {
    this.stop();
    this.filters = { ...filters };
    this.token = null;
    this.events = [];
    this.counters = { received: 0, reconnects: 0, replayed: 0, gaps: 0 };
    this.lastEventId = null;
    this.connection = null;
    const run = new AbortController();
    this.run = run;
    this.loop(run.signal);
    this.emit("reset");
  }

  stop() {
    if (this.run) {
      this.run.abort();
      this.run = null;
    }
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

  async loop(signal) {
    let failures = 0;
    let dropped = false;
    while (!signal.aborted) {
      this.setState(dropped ? "reconnecting" : "connecting", this.reason);
      const outcome = await this.connect(signal, dropped);
      if (signal.aborted) return;
      if (outcome.connected) failures = 0;
      if (outcome.stop) {
        this.setState("closed", outcome.reason);
        return;
      }
      dropped = true;
      failures += outcome.connected ? 0 : 1;
      const backoff = Math.min(this.retryMs * 2 ** Math.max(0, failures - 1), MAX_BACKOFF_MS);
      const delay = outcome.delay ?? backoff;
      this.setState("reconnecting", outcome.reason);
      if (delay > 0) await sleep(delay, signal);
    }
  }

  async ensureToken() {
    if (this.token && this.tokenExpiresAt * 1000 - serverNow() > TOKEN_MARGIN_MS) return this.token;
    const minted = await api("/v1/tokens", { method: "POST", json: { sub: this.sub, ttl_s: 3600 } });
    this.token = minted.token;
    this.tokenExpiresAt = minted.expires_at;
    return this.token;
  }

  url() {
    const params = new URLSearchParams();
    const clean = (text) => text.split(",").map((s) => s.trim()).filter(Boolean).join(",");
    if (clean(this.filters.types)) params.set("types", clean(this.filters.types));
    if (clean(this.filters.subjects)) params.set("subjects", clean(this.filters.subjects));
    const query = params.toString();
    return query ? `/v1/stream?${query}` : "/v1/stream";
  }

  /**
   * One connection, until it ends. Answers `{connected, stop, delay, reason}`:
   * whether `beacon.connected` arrived, whether to give up, how long to wait.
   */
  async connect(runSignal, reconnecting) {
    let token;
    try {
      token = await this.ensureToken();
    } catch (error) {
      if (error.status === 403 || error.status === 401) {
        return { stop: true, reason: `cannot mint a subscriber token: ${error.message}` };
      }
      return { reason: `cannot mint a subscriber token: ${error.message}` };
    }
    const attempt = new AbortController();
    const abort = () => attempt.abort();
    runSignal.addEventListener("abort", abort, { once: true });
    const headers = { authorization: `Bearer ${token}`, accept: "text/event-stream" };
    const sentLastEventId = this.lastEventId;
    if (sentLastEventId) headers["last-event-id"] = sentLastEventId;
    const result = { connected: false };
    let watchdog = 0;
    const arm = (ms) => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => {
        result.reason = "no heartbeat from the server";
        result.delay = 0;
        attempt.abort();
      }, ms);
    };
    try {
      const sentAt = Date.now();
      arm(30_000);
      const response = await fetch(this.url(), { headers, cache: "no-store", signal: attempt.signal });
      observeClock(response, sentAt);
      if (!response.ok) {
        let body = {};
        try {
          body = await response.json();
        } catch {
          // Not JSON: keep the status.
        }
        const message = `${response.status} ${body.error ?? ""}: ${body.message ?? response.statusText}`;
        if (response.status === 401) {
          // The token expired while we were away: mint a new one at once.
          this.token = null;
          return { reason: message, delay: reconnecting ? undefined : 0 };
        }
        if (response.status === 400 || response.status === 403) return { stop: true, reason: message };
        const retryAfter = Number(response.headers.get("retry-after"));
        return { reason: message, delay: retryAfter > 0 ? retryAfter * 1000 : undefined };
      }
      let replaying = false;
      let openedAt = 0;
      const parser = new SseParser({
        onRetry: (ms) => { this.retryMs = ms; },
        onEvent: ({ type, data, id }) => {
          if (id) this.lastEventId = id;
          if (type.startsWith("beacon.")) {
            let payload = {};
            try {
              payload = JSON.parse(data);
            } catch {
              payload = { raw: data };
            }
            if (type === "beacon.connected") {
              result.connected = true;
              if (reconnecting) this.counters.reconnects += 1;
              this.connection = { ...payload, sentLastEventId };
              replaying = payload.resume !== "none";
              openedAt = serverNow();
              arm(Math.max(payload.heartbeat_s ?? 15, 1) * 3000 + 2000);
              this.setState("open", "");
              this.emit("counters");
              return;
            }
            this.control(type, payload, result, attempt);
            return;
          }
          let envelope;
          try {
            envelope = JSON.parse(data);
          } catch {
            envelope = { type, data };
          }
          const published = Date.parse(envelope.time ?? "");
          const replayed = replaying && Number.isFinite(published) && published < openedAt;
          this.counters.received += 1;
          if (replayed) this.counters.replayed += 1;
          const item = {
            seq: ++this.seq,
            id,
            type: envelope.type ?? type,
            envelope,
            replayed,
            receivedAt: Date.now(),
          };
          this.events.push(item);
          if (this.events.length > KEEP) this.events.splice(0, this.events.length - KEEP);
          this.emit("event", item);
          this.emit("counters");
        },
      });
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        arm(result.connected ? Math.max(this.connection?.heartbeat_s ?? 15, 1) * 3000 + 2000 : 30_000);
        parser.push(value);
      }
      result.reason ??= "the server closed the stream";
      return result;
    } catch (error) {
      if (runSignal.aborted) return { stop: true, reason: "stopped" };
      result.reason ??= error?.name === "AbortError" ? "aborted" : "the connection was lost";
      return result;
    } finally {
      clearTimeout(watchdog);
      runSignal.removeEventListener("abort", abort);
    }
  }

  /** A control event other than `beacon.connected`. */
  control(type, payload, result, attempt) {
    switch (type) {
      case "beacon.gap":
        this.counters.gaps += 1;
        this.emit("counters");
        this.notice("warn", `Gap (${payload.reason}): events after ${payload.requested ?? "the requested id"} are no longer all available; delivery goes on from the oldest kept.`);
        break;
      case "beacon.token_expired":
        this.token = null;
        if (payload.last_event_id) this.lastEventId = payload.last_event_id;
        result.reason = "the subscriber token expired; renewing it";
        result.delay = 0;
        this.notice("info", "Subscriber token expired: a new one was minted and the stream resumed.");
        attempt.abort();
        break;
      case "beacon.overflow":
        if (payload.last_event_id) this.lastEventId = payload.last_event_id;
        result.reason = "the console fell behind; resuming";
        result.delay = 0;
        this.notice("warn", "The console fell behind the stream and was cut off; it resumed from its last event.");
        attempt.abort();
        break;
      case "beacon.closed":
        result.stop = true;
        result.reason = payload.reason === "replaced"
          ? "closed: a newer connection of the same user replaced it"
          : `closed: ${payload.reason}`;
        attempt.abort();
        break;
      case "beacon.shutdown":
        result.reason = "the server is shutting down";
        this.notice("info", "The server is shutting down; the console will reconnect.");
        break;
      case "beacon.incompatible":
        this.notice("warn", `${payload.type} v${payload.published} cannot be shown as v${payload.wanted}: ${payload.reason}`);
        break;
      default:
        this.notice("info", `${type}: ${JSON.stringify(payload)}`);
    }
  }
}

/** The one stream of a signed-in tenant. */
export const liveStream = new LiveStream();
