/** Reconnection delays: exponential, with full jitter. */
export interface BackoffOptions {
  /** The first delay's upper bound, in ms (default 1000). */
  initialMs: number;
  /** No delay's upper bound exceeds this, in ms (default 30000). */
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 1000, maxMs: 30_000 };

/**
 * The delay before reconnection attempt `attempt` (0 after a successful
 * connection, then 1, 2, …):
 *
 *     window = min(maxMs - floorMs, initialMs * 2^attempt)
 *     delay  = floorMs + random() * window        (random() in [0, 1))
 *
 * `floorMs` is the server's `retry:` hint (0 before the client has heard
 * one), so the delay never undercuts it. With no floor this is exactly
 * "full jitter", `random(0, min(maxMs, initialMs * 2^attempt))`; with one,
 * the jitter window starts at the floor instead of piling every client up on
 * it. When the floor is at or above `maxMs`, the delay is the floor.
 */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions,
  floorMs = 0,
  random: () => number = Math.random,
): number {
  const floor = Math.max(0, floorMs);
  const exp = options.initialMs * 2 ** Math.min(Math.max(0, attempt), 52);
  const window = Math.max(0, Math.min(options.maxMs - floor, exp));
  let r = random();
  if (!(r >= 0)) r = 0;
  if (r >= 1) r = 0.999_999;
  return Math.round(floor + r * window);
}

/**
 * Parses a `Retry-After` header (delta-seconds or an HTTP date) into ms;
 * `undefined` when absent or unreadable.
 */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (value == null) return undefined;
  const text = value.trim();
  if (/^[0-9]+$/.test(text)) return Number.parseInt(text, 10) * 1000;
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}
