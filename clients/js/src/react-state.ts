/**
 * The state behind `useBeacon`, as a pure reducer (no React import), so it
 * can be reused and tested on its own.
 */
import type { ConnectionState, EventMap, EventOf } from "./types.js";

export interface BeaconView<M extends EventMap = EventMap> {
  /** The newest events, oldest first, at most `max`. */
  events: EventOf<M>[];
  state: ConnectionState;
  /** The id the stream would resume after. */
  lastEventId: string | undefined;
  /**
   * Why the stream is not open: the last failure while reconnecting, or the
   * fatal error once closed. Cleared when the stream opens again.
   */
  error: unknown;
}

export type BeaconAction<M extends EventMap = EventMap> =
  | { type: "event"; event: EventOf<M>; max: number; lastEventId: string | undefined }
  | { type: "position"; lastEventId: string | undefined }
  | { type: "state"; state: ConnectionState; error?: unknown }
  | { type: "reset" };

export const DEFAULT_MAX_EVENTS = 100;

export function initialBeaconView<M extends EventMap = EventMap>(): BeaconView<M> {
  return { events: [], state: "connecting", lastEventId: undefined, error: undefined };
}

export function beaconReducer<M extends EventMap = EventMap>(
  view: BeaconView<M>,
  action: BeaconAction<M>,
): BeaconView<M> {
  switch (action.type) {
    case "event": {
      const max = Math.max(0, Math.floor(action.max));
      let events: EventOf<M>[];
      if (max === 0) events = [];
      else if (view.events.length >= max) events = [...view.events.slice(view.events.length - max + 1), action.event];
      else events = [...view.events, action.event];
      return { ...view, events, lastEventId: action.lastEventId };
    }
    case "position":
      return action.lastEventId === view.lastEventId ? view : { ...view, lastEventId: action.lastEventId };
    case "state":
      return {
        ...view,
        state: action.state,
        error: action.state === "open" ? undefined : (action.error ?? view.error),
      };
    case "reset":
      return initialBeaconView<M>();
    default:
      return view;
  }
}
