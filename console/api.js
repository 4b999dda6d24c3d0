// The HTTP API with the signed-in credential, and an estimate of the
// server's clock (from the `Date` header of every answer).

const STORAGE_KEY = "beacon.console.credential";

/** The signed-in credential: kept in sessionStorage (this tab only). */
export const session = {
  credential: null,
  /** "admin" or "tenant". */
  kind: null,
  /** The tenant id (known when the key has the `read` scope). */
  tenant: null,
};

export function storedCredential() {
  try {
    return sessionStorage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}

export function rememberCredential(credential) {
  try {
    if (credential) sessionStorage.setItem(STORAGE_KEY, credential);
    else sessionStorage.removeItem(STORAGE_KEY);
  } catch {
    // Storage may be disabled; the console then forgets on reload.
  }
}

/** An error answer: `{error, message, details}` with its status. */
export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = body?.error ?? `http_${status}`;
    this.details = body?.details ?? [];
  }
}

// Server clock: each answer's `Date` (whole seconds) bounds the offset
// between the server's clock and ours; the bounds of many answers narrow it.
const offset = { low: -Infinity, high: Infinity };

function learnClock(response, sentAt, receivedAt) {
  const date = Date.parse(response.headers.get("date") ?? "");
  if (!Number.isFinite(date)) return;
  // The server's clock read `date`..`date + 1000` at some moment between
  // sentAt and receivedAt (ours).
  const low = date - receivedAt;
  const high = date + 1000 - sentAt;
  if (low > offset.high || high < offset.low) {
    // A clock jumped: start again.
    offset.low = low;
    offset.high = high;
  } else {
    offset.low = Math.max(offset.low, low);
    offset.high = Math.min(offset.high, high);
  }
}

/** The server's time now, in Unix milliseconds, as well as we know it. */
export function serverNow() {
  if (!Number.isFinite(offset.low) || !Number.isFinite(offset.high)) return Date.now();
  return Date.now() + (offset.low + offset.high) / 2;
}

/** Feeds the clock estimate from a response the caller fetched itself. */
export function observeClock(response, sentAt) {
  learnClock(response, sentAt, Date.now());
}

/**
 * Calls the API. `json` is sent as JSON; `body` + `contentType` as is.
 * Answers the parsed JSON (or text), `null` for 204; throws `ApiError`.
 */
export async function api(path, { method = "GET", json, body, contentType, credential, signal } = {}) {
  const headers = { accept: "application/json" };
  const auth = credential ?? session.credential;
  if (auth) headers.authorization = `Bearer ${auth}`;
  if (json !== undefined) {
    headers["content-type"] = "application/json";
    body = JSON.stringify(json);
  } else if (contentType) {
    headers["content-type"] = contentType;
  }
  const sentAt = Date.now();
  let response;
  try {
    response = await fetch(path, { method, headers, body, signal, cache: "no-store" });
  } catch (error) {
    if (error?.name === "AbortError") throw error;
    throw new ApiError(0, { error: "network", message: "the server cannot be reached" });
  }
  learnClock(response, sentAt, Date.now());
  if (response.status === 204) return null;
  const text = await response.text();
  const type = response.headers.get("content-type") ?? "";
  let parsed = text;
  if (type.includes("json") && text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
  }
  if (!response.ok) {
    throw new ApiError(response.status, typeof parsed === "object" ? parsed : { message: text });
  }
  return parsed;
}

/** `/metrics`: the Prometheus text (no credential needed). */
export async function metricsText(signal) {
  const sentAt = Date.now();
  const response = await fetch("/metrics", { cache: "no-store", signal });
  learnClock(response, sentAt, Date.now());
  if (!response.ok) throw new ApiError(response.status, { message: "metrics unavailable" });
  return response.text();
}

/**
 * Finds out what a credential is: the admin token (`/v1/stats` answers the
 * node summary), a tenant API key with the `read` scope (it answers the
 * tenant's plugin counters), or a tenant key without it (403).
 */
export async function identify(credential) {
  try {
    const stats = await api("/v1/stats", { credential });
    if (stats && typeof stats.tenant === "string") return { kind: "tenant", tenant: stats.tenant };
    return { kind: "admin", tenant: null };
  } catch (error) {
    if (error.status === 403 && error.code === "forbidden") return { kind: "tenant", tenant: null };
    throw error;
  }
}
