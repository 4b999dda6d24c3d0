/**
 * Where the last event id is kept between page loads: `localStorage`,
 * `sessionStorage`, or anything with the same two methods (they may return
 * promises, e.g. React Native's AsyncStorage).
 */
export interface StorageLike {
  getItem(key: string): string | null | undefined | Promise<string | null | undefined>;
  setItem(key: string, value: string): void | Promise<void>;
  removeItem?(key: string): void | Promise<void>;
}

/** A storage in memory, for Node and tests. */
export function memoryStorage(initial?: Record<string, string>): StorageLike & {
  readonly map: Map<string, string>;
} {
  const map = new Map<string, string>(Object.entries(initial ?? {}));
  return {
    map,
    getItem: (key) => map.get(key) ?? null,
    setItem: (key, value) => {
      map.set(key, value);
    },
    removeItem: (key) => {
      map.delete(key);
    },
  };
}

/** Shared by every subscription of this JavaScript realm that has no other storage. */
const processMemory = memoryStorage();

/** `globalThis.localStorage` when it exists and works, else the realm's memory storage. */
export function defaultStorage(): StorageLike {
  try {
    const candidate = (globalThis as { localStorage?: StorageLike }).localStorage;
    if (
      candidate &&
      typeof candidate.getItem === "function" &&
      typeof candidate.setItem === "function"
    ) {
      // Some browsers throw on access when storage is blocked.
      candidate.getItem("beacon:probe");
      return candidate;
    }
  } catch {
    // Fall through to memory.
  }
  return processMemory;
}

/**
 * The default storage key: the stream's URL without credentials, with its
 * type and subject filters (a position is only meaningful for the filter it
 * was read with).
 */
export function defaultStorageKey(streamUrl: URL): string {
  const u = new URL(streamUrl.href);
  u.username = "";
  u.password = "";
  const filters = new URLSearchParams();
  const types = u.searchParams.get("types");
  const subjects = u.searchParams.get("subjects");
  if (types) filters.set("types", types);
  if (subjects) filters.set("subjects", subjects);
  const query = filters.toString();
  return `beacon:last-event-id:${u.origin}${u.pathname}${query ? `?${query}` : ""}`;
}
