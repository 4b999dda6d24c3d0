/**
 * An event as Beacon delivers it: a CloudEvents 1.0 envelope (JSON format)
 * with Beacon's `version` extension. `T` is the type of `data`, `K` the
 * event type.
 */
export interface BeaconEvent<T = unknown, K extends string = string> {
  /** Opaque, ordered within a tenant; also the SSE `id:` (the resume position). */
  id: string;
  /** The event type, e.g. `order.created`. */
  type: K;
  /** Where the event comes from; default `/tenants/<tenant id>`. */
  source: string;
  /** The routing key given by the publisher, if any. */
  subject?: string;
  /** When the event was accepted: RFC 3339, UTC, milliseconds. */
  time: string;
  /** The contract version `data` conforms to; absent for types without a contract. */
  version?: number;
  /** Always `1.0`. */
  specversion?: string;
  /** Always `application/json`. */
  datacontenttype?: string;
  /** The payload as published (or as the version view asked for). */
  data: T;
}

/**
 * Event types to the type of their `data`, e.g.
 * `{ "order.created": { orderId: string; total: number } }`.
 */
export type EventMap = Record<string, unknown>;

/** The union of the events of a map, discriminated by `type`. */
export type EventOf<M extends EventMap> = {
  [K in keyof M & string]: BeaconEvent<M[K], K>;
}[keyof M & string];

/** How a stream started: see `beacon.connected`. */
export type ResumeMode = "none" | "exact" | "gap";

/** `beacon.connected`: the first event of every stream. */
export interface ConnectedData {
  connection: string;
  tenant: string;
  /** `none` (no id given), `exact` (replaying after the id given) or `gap`. */
  resume: ResumeMode;
  /** The id the client resumed from, if any. */
  last_event_id: string | null;
  /** The server's heartbeat interval, in seconds. */
  heartbeat_s: number;
}

/** `beacon.gap`: the position asked for cannot be resumed from exactly. */
export interface GapData {
  /**
   * `expired` (older than retention), `epoch` (another incarnation of the
   * stream) or `unknown` (never issued); delivery continues from the oldest
   * event still available.
   */
  reason: "expired" | "epoch" | "unknown";
  requested: string | null;
}

/** `beacon.overflow`: the subscriber fell behind and was cut off. */
export interface OverflowData {
  reason: "slow_consumer";
  /** Where to resume from. */
  last_event_id: string | null;
}

/** `beacon.shutdown`: the server is going away; reconnect. */
export interface ShutdownData {
  reason: string;
}

/** `beacon.token_expired`: the token expired; the stream ends. */
export interface TokenExpiredData {
  reason: string;
  /** Where to resume from. */
  last_event_id: string | null;
}

/** `beacon.incompatible`: events of `type` published as `published` cannot be shown as `wanted`. */
export interface IncompatibleData {
  type: string;
  wanted: number;
  published: number;
  reason: string;
}

/** `beacon.closed`: the server ended this stream (`replaced`: the same user opened a newer one). */
export interface ClosedData {
  reason: "replaced" | (string & {});
}

/** Control event names to their data. */
export interface ControlEventMap {
  "beacon.connected": ConnectedData;
  "beacon.gap": GapData;
  "beacon.overflow": OverflowData;
  "beacon.shutdown": ShutdownData;
  "beacon.token_expired": TokenExpiredData;
  "beacon.incompatible": IncompatibleData;
  "beacon.closed": ClosedData;
}

/** A control event: `type` is one of {@link ControlEventMap}'s keys. */
export type ControlEvent = {
  [K in keyof ControlEventMap]: {
    type: K;
    data: ControlEventMap[K];
    /** The SSE `id:` (only `beacon.connected` carries one). */
    id?: string;
  };
}[keyof ControlEventMap];

/** The state of a subscription. */
export type ConnectionState =
  /** The first connection is being made. */
  | "connecting"
  /** The stream is open (`beacon.connected` may still be on its way). */
  | "open"
  /** The stream dropped; waiting before the next attempt, or making it. */
  | "reconnecting"
  /** Ended: by `close()`, the abort signal, or a fatal error (see `error`). */
  | "closed";

/** What {@link SubscribeOptions.onState} learns along with a new state. */
export interface StateInfo {
  /** Reconnection attempts since the last successful connection (0 on the first). */
  attempt: number;
  /** When reconnecting: how long the client waits before the next attempt. */
  delayMs?: number;
  /** Why the stream dropped or the attempt failed (or, when closed, the fatal error). */
  error?: unknown;
}
