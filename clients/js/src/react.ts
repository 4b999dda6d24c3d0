/**
 * `@beacon/client/react`: the `useBeacon` hook. React is an optional peer
 * dependency of the package; only this entry point imports it.
 */
import { useEffect, useReducer, useRef } from "react";

import {
  beaconReducer,
  DEFAULT_MAX_EVENTS,
  initialBeaconView,
  type BeaconAction,
  type BeaconView,
} from "./react-state.js";
import { handlerFor, subscribe, type SubscribeOptions } from "./subscribe.js";
import type { EventMap } from "./types.js";

export { beaconReducer, initialBeaconView, DEFAULT_MAX_EVENTS };
export type { BeaconAction, BeaconView };

export interface UseBeaconOptions<M extends EventMap = EventMap> extends SubscribeOptions<M> {
  /** How many events the hook keeps (the newest); default 100. */
  max?: number;
  /** `false`: no stream (e.g. until the user is signed in); default true. */
  enabled?: boolean;
}

export type UseBeaconResult<M extends EventMap = EventMap> = BeaconView<M>;

const list = (v: string | readonly string[] | undefined) =>
  v === undefined ? "" : typeof v === "string" ? v : v.join(",");

/**
 * Subscribes while the component is mounted and returns the newest events,
 * the connection state, the resume position and the last error.
 *
 * The stream is opened again only when what it reads changes: the URL (a
 * string; a function is read at each connection), `token`, `types`,
 * `subjects`, `storageKey`, `lastEventId` or `enabled`. Callbacks may be
 * new functions on every render: the latest ones are called.
 */
export function useBeacon<M extends EventMap = EventMap>(
  options: UseBeaconOptions<M>,
): UseBeaconResult<M> {
  const [view, dispatch] = useReducer(
    beaconReducer as (view: BeaconView<M>, action: BeaconAction<M>) => BeaconView<M>,
    undefined,
    initialBeaconView<M>,
  );
  const latest = useRef(options);
  latest.current = options;

  const enabled = options.enabled !== false;
  const url = typeof options.url === "function" ? "(function)" : String(options.url);
  const deps = [
    url,
    options.token ?? "",
    list(options.types),
    list(options.subjects),
    options.storageKey ?? "",
    options.lastEventId ?? "",
    enabled,
  ];

  useEffect(() => {
    if (!enabled) {
      dispatch({ type: "state", state: "closed" });
      return undefined;
    }
    let active = true;
    const current = () => latest.current;
    dispatch({ type: "reset" });
    const initial = current();
    const subscription = subscribe<M>({
      ...initial,
      url: typeof initial.url === "function" ? () => (current().url as () => string | URL)() : initial.url,
      getToken: initial.getToken ? () => current().getToken!() : undefined,
      onEvent: (event) => {
        if (!active) return;
        dispatch({
          type: "event",
          event,
          max: current().max ?? DEFAULT_MAX_EVENTS,
          lastEventId: subscription.lastEventId,
        });
        handlerFor(current().onEvent, event.type)?.(event);
      },
      onControl: (event) => {
        if (!active) return;
        dispatch({ type: "position", lastEventId: subscription.lastEventId });
        current().onControl?.(event);
      },
      onState: (state, info) => {
        if (!active) return;
        dispatch({ type: "state", state, error: info.error });
        current().onState?.(state, info);
      },
      onError: (error) => {
        if (active) current().onError?.(error);
      },
    });
    return () => {
      active = false;
      subscription.close();
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);

  return view;
}
