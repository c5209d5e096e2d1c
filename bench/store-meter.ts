/**
 * The asynchronous store wrapped so every call is counted and the time with at least one call in
 * flight is summed, as counting-ports.ts does for Azure: how much of the rotation's own overhead is
 * the store's.
 */
import type { AsyncStore } from "../src/core/ports.js";

export interface StoreCallMeter {
  readonly store: AsyncStore;
  calls(): Record<string, number>;
  total(): number;
  /** Milliseconds during which at least one store call was in flight. */
  busyMs(): number;
  reset(): void;
}

export function meterStore(inner: AsyncStore): StoreCallMeter {
  let counts: Record<string, number> = {};
  let inFlight = 0;
  let busy = 0;
  let since = 0;
  const enter = () => {
    if (inFlight++ === 0) since = performance.now();
  };
  const leave = () => {
    if (--inFlight === 0) busy += performance.now() - since;
  };
  const store = new Proxy(inner, {
    get(t, prop, receiver) {
      const v = Reflect.get(t, prop, receiver) as unknown;
      if (typeof v !== "function") return v;
      return (...args: unknown[]) => {
        const key = String(prop);
        counts[key] = (counts[key] ?? 0) + 1;
        enter();
        try {
          const r = (v as (...a: unknown[]) => unknown).apply(t, args);
          if (r instanceof Promise) return r.finally(leave);
          leave();
          return r;
        } catch (e) {
          leave();
          throw e;
        }
      };
    },
  });
  return {
    store,
    calls: () => ({ ...counts }),
    total: () => Object.values(counts).reduce((a, b) => a + b, 0),
    busyMs: () => busy + (inFlight > 0 ? performance.now() - since : 0),
    reset() {
      counts = {};
      busy = 0;
      if (inFlight > 0) since = performance.now();
    },
  };
}
