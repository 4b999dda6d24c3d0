import { backoffDelay, DEFAULT_BACKOFF, parseRetryAfter, type BackoffOptions } from "./backoff.js";
import { BeaconError } from "./errors.js";
import { SseDecoder, type SseMessage } from "./parser.js";
import { defaultStorage, defaultStorageKey, type StorageLike } from "./storage.js";
import type {
  BeaconEvent,
  ConnectionState,
  ControlEvent,
  EventMap,
  EventOf,
  StateInfo,
} from "./types.js";

/** The subset of the Fetch API the client uses (the global `fetch` fits). */
export type FetchLike = (
  url: string,
  init: { method: string; headers: Record<string, string>; signal: AbortSignal },
) => Promise<ResponseLike>;

/** The subset of `Response` the client reads. */
export interface ResponseLike {
  status: number;
  headers: { get(name: string): string | null };
  body: {
    getReader(): {
      read(): Promise<{ done: boolean; value?: Uint8Array }>;
      cancel(reason?: unknown): Promise<void>;
    };
  } | null;
  text(): Promise<string>;
}

/**
 * Handlers per event type; `"*"` receives every event that has no handler
 * of its own.
 */
export type EventHandlers<M extends EventMap> = {
  [K in keyof M & string]?: (event: BeaconEvent<M[K], K>) => void;
} & { "*"?: (event: EventOf<M>) => void };

export interface SubscribeOptions<M extends EventMap = EventMap> {
  /**
   * Beacon's base URL (`https://beacon.example.com`, or a path such as
   * `/beacon` in a browser), or the stream URL itself (ending in
   * `/v1/stream`). A function is called before every connection attempt, so
   * the address may change between reconnections.
   */
  url: string | URL | (() => string | URL);
  /** The subscriber token (JWT), sent as `Authorization: Bearer …`. */
  token?: string;
  /**
   * Returns a fresh subscriber token. Called when there is no `token`, when
   * the stream ends with `beacon.token_expired`, and once when the server
   * refuses the token (401/403).
   */
  getToken?: () => string | Promise<string>;
  /** Type patterns (`order.*`, `payment.succeeded`, `order.created@1`, `*`); default all. */
  types?: string | readonly string[];
  /** Subject patterns (`order/IE-1`, `user/*`); default all. */
  subjects?: string | readonly string[];
  /** Called for each event, or a handler per type (see {@link EventHandlers}). */
  onEvent?: ((event: EventOf<M>) => void) | EventHandlers<M>;
  /** Called for each control event (`beacon.connected`, `beacon.gap`, …). */
  onControl?: (event: ControlEvent) => void;
  /** Called when the state changes, and before each reconnection attempt. */
  onState?: (state: ConnectionState, info: StateInfo) => void;
  /** Called once when the client gives up (the subscription is then closed). */
  onError?: (error: BeaconError) => void;
  /**
   * Where the last event id is persisted: default `globalThis.localStorage`
   * when present, else memory shared by this JavaScript realm. `null`: keep
   * it only in this subscription.
   */
  storage?: StorageLike | null;
  /** The key under which the id is stored; default derived from the URL and the filters. */
  storageKey?: string;
  /** Resume after this id, whatever the storage holds. */
  lastEventId?: string;
  /** Reconnection delays (see {@link backoffDelay}). */
  backoff?: Partial<BackoffOptions>;
  /**
   * Reconnect when nothing (not even a heartbeat) arrived for this long, in
   * ms; `false` never. Default: three heartbeat intervals as announced by
   * `beacon.connected`, at least 5 s (45 s until it arrives).
   */
  idleTimeoutMs?: number | false;
  /** Extra request headers. */
  headers?: Record<string, string>;
  /** The Fetch implementation; default `globalThis.fetch`. */
  fetch?: FetchLike;
  /** Aborting it closes the subscription. */
  signal?: AbortSignal;
  /** Random numbers in [0, 1) for the jitter; default `Math.random`. */
  random?: () => number;
}

export interface Subscription {
  /** Stops the stream and every reconnection; idempotent. */
  close(): void;
  /** The id the stream would resume after (persisted to the storage). */
  readonly lastEventId: string | undefined;
  readonly state: ConnectionState;
  /** The fatal error, once the client gave up. */
  readonly error: BeaconError | undefined;
  /** Resolves once the subscription is closed, whatever the reason. */
  readonly closed: Promise<void>;
}

type Outcome =
  | { kind: "stopped" }
  | { kind: "fatal"; error: BeaconError }
  | { kind: "refresh"; error: BeaconError }
  | { kind: "retry"; error: unknown; retryAfterMs?: number };

/** Responses worth retrying: the server is busy, overloaded or restarting. */
function retryable(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || status >= 500;
}

const DEFAULT_IDLE_MS = 45_000;

/** Builds the stream URL: base URL, `/v1/stream`, filters. */
export function streamUrl(
  url: string | URL,
  types?: string | readonly string[],
  subjects?: string | readonly string[],
): URL {
  const base = (globalThis as { location?: { href?: string } }).location?.href;
  const u = new URL(String(url), base);
  if (!/\/v1\/stream\/?$/.test(u.pathname)) {
    u.pathname = u.pathname.replace(/\/?$/, "/v1/stream");
  }
  const list = (v: string | readonly string[] | undefined) =>
    v === undefined ? "" : typeof v === "string" ? v : v.join(",");
  const t = list(types);
  const s = list(subjects);
  if (t) u.searchParams.set("types", t);
  if (s) u.searchParams.set("subjects", s);
  return u;
}

/** The function `onEvent` asks to call for an event of type `type`, if any. */
export function handlerFor<M extends EventMap>(
  onEvent: SubscribeOptions<M>["onEvent"],
  type: string,
): ((event: EventOf<M>) => void) | undefined {
  if (typeof onEvent === "function") return onEvent;
  if (!onEvent) return undefined;
  const handlers = onEvent as Record<string, ((event: EventOf<M>) => void) | undefined>;
  const own = (name: string) =>
    Object.prototype.hasOwnProperty.call(handlers, name) ? handlers[name] : undefined;
  return own(type) ?? own("*");
}

/** Reports an exception thrown by an application callback without stopping the stream. */
function reportCallbackError(error: unknown): void {
  const report = (globalThis as { reportError?: (e: unknown) => void }).reportError;
  if (typeof report === "function") {
    report(error);
  } else {
    console.error("beacon: a callback threw", error);
  }
}

async function errorBody(response: ResponseLike): Promise<{ code?: string; message?: string }> {
  try {
    const text = await response.text();
    try {
      const json = JSON.parse(text) as { error?: unknown; message?: unknown };
      return {
        code: typeof json.error === "string" ? json.error : undefined,
        message: typeof json.message === "string" ? json.message : undefined,
      };
    } catch {
      return { message: text.slice(0, 200) || undefined };
    }
  } catch {
    return {};
  }
}

/**
 * Opens a Beacon event stream and keeps it open: Server-Sent Events over
 * `fetch` (so the token travels in the `Authorization` header), resumed with
 * `Last-Event-ID` after every drop and across page loads, reconnecting with
 * exponential backoff and full jitter until `close()` or the signal.
 */
export function subscribe<M extends EventMap = EventMap>(
  options: SubscribeOptions<M>,
): Subscription {
  return new Client<M>(options).subscription;
}

class Client<M extends EventMap> {
  readonly subscription: Subscription;
  private readonly fetchFn: FetchLike;
  private readonly backoff: BackoffOptions;
  private readonly random: () => number;
  private readonly storage: StorageLike | null;
  private readonly storageKey: string;

  private state: ConnectionState = "connecting";
  private lastEventId: string | undefined;
  private error: BeaconError | undefined;
  private token: string | undefined;
  private stopped = false;
  /** Failed attempts since the last successful connection. */
  private attempt = 0;
  /** A 401/403 already made the client fetch a new token (reset by a successful connection). */
  private refreshedForRefusal = false;
  /** The server's `retry:` hint, the floor of every delay. */
  private retryFloorMs = 0;
  private heartbeatMs: number | undefined;
  private controller: AbortController | undefined;
  private wake: (() => void) | undefined;
  private resolveClosed!: () => void;
  private readonly onAbort = () => this.close();

  constructor(private readonly options: SubscribeOptions<M>) {
    const globalFetch = (globalThis as { fetch?: unknown }).fetch;
    if (!options.fetch && typeof globalFetch !== "function") {
      throw new TypeError("beacon: no fetch implementation (Node 20+, a browser, or options.fetch)");
    }
    this.fetchFn = options.fetch ?? ((globalFetch as FetchLike).bind(globalThis) as FetchLike);
    this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    if (!(this.backoff.initialMs > 0) || !(this.backoff.maxMs >= this.backoff.initialMs)) {
      throw new RangeError("beacon: backoff needs 0 < initialMs <= maxMs");
    }
    this.random = options.random ?? Math.random;
    this.storage = options.storage === undefined ? defaultStorage() : options.storage;
    const initialUrl = typeof options.url === "function" ? options.url() : options.url;
    this.storageKey =
      options.storageKey ?? defaultStorageKey(streamUrl(initialUrl, options.types, options.subjects));
    this.token = options.token;
    this.lastEventId = options.lastEventId || undefined;

    const closed = new Promise<void>((resolve) => {
      this.resolveClosed = resolve;
    });
    const client = this;
    this.subscription = {
      close: () => client.close(),
      get lastEventId() {
        return client.lastEventId;
      },
      get state() {
        return client.state;
      },
      get error() {
        return client.error;
      },
      closed,
    };

    if (options.signal?.aborted) {
      this.close();
      return;
    }
    options.signal?.addEventListener("abort", this.onAbort, { once: true });
    void this.run();
  }

  close(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.options.signal?.removeEventListener("abort", this.onAbort);
    this.controller?.abort();
    this.wake?.();
    this.setState("closed", { attempt: this.attempt, error: this.error });
    this.resolveClosed();
  }

  private fail(error: BeaconError): void {
    if (this.stopped) return;
    this.error = error;
    this.call(() => this.options.onError?.(error));
    this.close();
  }

  private setState(state: ConnectionState, info: StateInfo): void {
    const changed = state !== this.state;
    this.state = state;
    if (changed || state === "reconnecting") {
      this.call(() => this.options.onState?.(state, info));
    }
  }

  /** Runs an application callback; what it throws is reported, not propagated. */
  private call(f: () => void): void {
    try {
      f();
    } catch (error) {
      reportCallbackError(error);
    }
  }

  private async run(): Promise<void> {
    try {
      await this.loadLastEventId();
      if (this.stopped) return;
      this.call(() => this.options.onState?.("connecting", { attempt: 0 }));
      let needToken = this.token === undefined && this.options.getToken !== undefined;
      while (!this.stopped) {
        if (needToken) {
          const ok = await this.refreshToken();
          if (this.stopped) return;
          if (!ok) continue;
          needToken = false;
        }
        const outcome = await this.connect();
        if (this.stopped) return;
        switch (outcome.kind) {
          case "stopped":
            return;
          case "fatal":
            this.fail(outcome.error);
            return;
          case "refresh": {
            if (!this.options.getToken) {
              this.fail(
                new BeaconError(
                  `${outcome.error.message}; pass getToken to subscribe() so the client can fetch a new token`,
                  { code: outcome.error.code, status: outcome.error.status, fatal: true },
                ),
              );
              return;
            }
            if (outcome.error.code !== "token_expired") {
              // One new token per refusal: a second 401/403 is final.
              if (this.refreshedForRefusal) {
                this.fail(
                  new BeaconError(
                    `the server still refuses the subscriber token after getToken() (${outcome.error.status}: ${outcome.error.message})`,
                    { code: outcome.error.code, status: outcome.error.status, fatal: true },
                  ),
                );
                return;
              }
              this.refreshedForRefusal = true;
            }
            // Reconnect at once, from the same Last-Event-ID, with a new token.
            this.setState("reconnecting", { attempt: this.attempt, delayMs: 0, error: outcome.error });
            needToken = true;
            break;
          }
          case "retry": {
            const delay = Math.max(
              backoffDelay(this.attempt, this.backoff, this.retryFloorMs, this.random),
              outcome.retryAfterMs ?? 0,
            );
            this.setState("reconnecting", { attempt: this.attempt, delayMs: delay, error: outcome.error });
            this.attempt++;
            await this.sleep(delay);
            break;
          }
        }
      }
    } catch (error) {
      // A bug in the client itself: give up loudly rather than spin.
      this.fail(
        error instanceof BeaconError
          ? error
          : new BeaconError(`beacon client failed: ${String(error)}`, {
              code: "client_error",
              fatal: true,
              cause: error,
            }),
      );
    }
  }

  private async refreshToken(): Promise<boolean> {
    const getToken = this.options.getToken;
    if (!getToken) return true;
    try {
      const token = await getToken();
      if (typeof token !== "string" || token === "") {
        throw new TypeError("getToken() returned no token");
      }
      this.token = token;
      return true;
    } catch (cause) {
      if (this.stopped) return false;
      const error = new BeaconError(`getToken() failed: ${String(cause)}`, {
        code: "get_token_failed",
        cause,
      });
      const delay = backoffDelay(this.attempt, this.backoff, this.retryFloorMs, this.random);
      this.setState("reconnecting", { attempt: this.attempt, delayMs: delay, error });
      this.attempt++;
      await this.sleep(delay);
      return false;
    }
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(timer);
        self.wake = undefined;
        resolve();
      }
      this.wake = done;
    });
  }

  private async loadLastEventId(): Promise<void> {
    if (this.lastEventId !== undefined || !this.storage) return;
    try {
      const stored = await this.storage.getItem(this.storageKey);
      if (typeof stored === "string" && stored !== "") this.lastEventId = stored;
    } catch {
      // Unreadable storage: start without a position.
    }
  }

  private rememberId(id: string): void {
    const next = id === "" ? undefined : id;
    if (next === this.lastEventId) return;
    this.lastEventId = next;
    const storage = this.storage;
    if (!storage) return;
    try {
      const done =
        next === undefined
          ? storage.removeItem?.(this.storageKey)
          : storage.setItem(this.storageKey, next);
      if (done && typeof (done as Promise<void>).catch === "function") {
        (done as Promise<void>).catch(() => {});
      }
    } catch {
      // Full or blocked storage: the id is still kept in memory.
    }
  }

  private currentUrl(): string {
    const url = typeof this.options.url === "function" ? this.options.url() : this.options.url;
    return streamUrl(url, this.options.types, this.options.subjects).href;
  }

  /** One connection attempt and, if it opens, the stream until it ends. */
  private async connect(): Promise<Outcome> {
    const controller = new AbortController();
    this.controller = controller;
    const headers: Record<string, string> = { Accept: "text/event-stream", ...this.options.headers };
    if (this.token) headers["Authorization"] = `Bearer ${this.token}`;
    if (this.lastEventId) headers["Last-Event-ID"] = this.lastEventId;
    let response: ResponseLike;
    try {
      response = await this.fetchFn(this.currentUrl(), {
        method: "GET",
        headers,
        signal: controller.signal,
      });
    } catch (cause) {
      if (this.stopped) return { kind: "stopped" };
      return {
        kind: "retry",
        error: new BeaconError(`cannot reach the server: ${String(cause)}`, {
          code: "network_error",
          cause,
        }),
      };
    }
    if (this.stopped) {
      void response.body?.getReader().cancel().catch(() => {});
      return { kind: "stopped" };
    }
    const status = response.status;
    if (status !== 200) {
      const body = await errorBody(response);
      const code = body.code ?? "http_error";
      const message = `${status} ${code}${body.message ? `: ${body.message}` : ""}`;
      if (status === 401 || status === 403) {
        return { kind: "refresh", error: new BeaconError(message, { code, status }) };
      }
      if (retryable(status)) {
        return {
          kind: "retry",
          error: new BeaconError(message, { code, status }),
          retryAfterMs: parseRetryAfter(response.headers.get("retry-after")),
        };
      }
      return { kind: "fatal", error: new BeaconError(message, { code, status, fatal: true }) };
    }
    const type = response.headers.get("content-type") ?? "";
    if (!/^text\/event-stream\b/i.test(type) || !response.body) {
      void response.body?.getReader().cancel().catch(() => {});
      return {
        kind: "fatal",
        error: new BeaconError(`the server answered ${type || "no content type"}, not text/event-stream`, {
          code: "not_event_stream",
          status,
          fatal: true,
        }),
      };
    }
    // A successful connection: the backoff starts over.
    this.attempt = 0;
    this.refreshedForRefusal = false;
    this.heartbeatMs = undefined;
    this.setState("open", { attempt: 0 });
    return this.read(response.body, controller);
  }

  /** Reads the stream until it ends, the client stops, or a control event ends it. */
  private async read(
    body: NonNullable<ResponseLike["body"]>,
    controller: AbortController,
  ): Promise<Outcome> {
    const reader = body.getReader();
    let ending: Outcome | undefined;
    let idleError: BeaconError | undefined;
    let idleTimer: ReturnType<typeof setTimeout> | undefined;
    const armIdle = () => {
      if (idleTimer !== undefined) clearTimeout(idleTimer);
      const configured = this.options.idleTimeoutMs;
      if (configured === false) return;
      const ms =
        configured ?? (this.heartbeatMs ? Math.max(3 * this.heartbeatMs, 5000) : DEFAULT_IDLE_MS);
      idleTimer = setTimeout(() => {
        idleError = new BeaconError(`no data (not even a heartbeat) for ${ms} ms`, {
          code: "idle_timeout",
        });
        controller.abort(idleError);
      }, ms);
    };

    const decoder = new SseDecoder({
      onRetry: (ms) => {
        this.retryFloorMs = ms;
      },
      onId: (id) => this.rememberId(id),
      onMessage: (message) => {
        if (ending || this.stopped) return;
        const heartbeat = this.heartbeatMs;
        ending = this.dispatch(message);
        // `beacon.connected` announced the heartbeat: the idle limit follows it.
        if (this.heartbeatMs !== heartbeat) armIdle();
      },
    });

    armIdle();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done || this.stopped) break;
        armIdle();
        if (value) decoder.push(value);
        if (ending || this.stopped) break;
      }
    } catch (cause) {
      if (this.stopped) return { kind: "stopped" };
      if (!ending) {
        return {
          kind: "retry",
          error:
            idleError ??
            new BeaconError(`the stream failed: ${String(cause)}`, { code: "network_error", cause }),
        };
      }
    } finally {
      if (idleTimer !== undefined) clearTimeout(idleTimer);
      reader.cancel().catch(() => {});
      controller.abort();
    }
    if (this.stopped) return { kind: "stopped" };
    return (
      ending ?? {
        kind: "retry",
        error: new BeaconError("the server ended the stream", { code: "stream_ended" }),
      }
    );
  }

  /** Hands one message to the application; returns how the stream ends, if it does. */
  private dispatch(message: SseMessage): Outcome | undefined {
    // As with EventSource, the id is the last event id before listeners run.
    if (message.hasId && message.lastEventId !== undefined) this.rememberId(message.lastEventId);
    let data: unknown;
    try {
      data = JSON.parse(message.data);
    } catch (cause) {
      reportCallbackError(
        new BeaconError(`event ${message.event} has data that is not JSON`, {
          code: "invalid_event",
          cause,
        }),
      );
      return undefined;
    }
    if (message.event.startsWith("beacon.")) {
      return this.control(message, data);
    }
    const event = data as EventOf<M>;
    const handler = handlerFor(this.options.onEvent, message.event);
    if (handler) this.call(() => handler(event));
    return undefined;
  }

  private control(message: SseMessage, data: unknown): Outcome | undefined {
    const event = { type: message.event, data } as ControlEvent;
    if (message.hasId && message.lastEventId !== undefined) event.id = message.lastEventId;
    let outcome: Outcome | undefined;
    switch (event.type) {
      case "beacon.connected":
        if (typeof event.data.heartbeat_s === "number" && event.data.heartbeat_s > 0) {
          this.heartbeatMs = event.data.heartbeat_s * 1000;
        }
        break;
      case "beacon.overflow":
        // Everything up to `last_event_id` was sent or filtered out: resume there.
        if (event.data.last_event_id) this.rememberId(event.data.last_event_id);
        outcome = {
          kind: "retry",
          error: new BeaconError("the server cut the stream off: the client fell behind", {
            code: "overflow",
          }),
        };
        break;
      case "beacon.token_expired":
        if (event.data.last_event_id) this.rememberId(event.data.last_event_id);
        outcome = {
          kind: "refresh",
          error: new BeaconError("the subscriber token expired", { code: "token_expired" }),
        };
        break;
      case "beacon.shutdown":
        outcome = {
          kind: "retry",
          error: new BeaconError("the server is shutting down", { code: "shutdown" }),
        };
        break;
      case "beacon.closed":
        outcome = {
          kind: "fatal",
          error: new BeaconError(
            `the server closed the stream (${String(event.data.reason)}); not reconnecting`,
            { code: "closed_by_server", fatal: true },
          ),
        };
        break;
      default:
        // beacon.gap, beacon.incompatible and future notices: tell the app, go on.
        break;
    }
    this.call(() => this.options.onControl?.(event));
    return outcome;
  }
}
