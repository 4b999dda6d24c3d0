export { subscribe, streamUrl } from "./subscribe.js";
export type {
  EventHandlers,
  FetchLike,
  ResponseLike,
  SubscribeOptions,
  Subscription,
} from "./subscribe.js";
export { BeaconError } from "./errors.js";
export { backoffDelay, parseRetryAfter, DEFAULT_BACKOFF } from "./backoff.js";
export type { BackoffOptions } from "./backoff.js";
export { SseParser, SseDecoder } from "./parser.js";
export type { SseMessage, SseParserCallbacks, SseParserOptions } from "./parser.js";
export { memoryStorage, defaultStorage, defaultStorageKey } from "./storage.js";
export type { StorageLike } from "./storage.js";
export type {
  BeaconEvent,
  ClosedData,
  ConnectedData,
  ConnectionState,
  ControlEvent,
  ControlEventMap,
  EventMap,
  EventOf,
  GapData,
  IncompatibleData,
  OverflowData,
  ResumeMode,
  ShutdownData,
  StateInfo,
  TokenExpiredData,
} from "./types.js";
