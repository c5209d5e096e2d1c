/**
 * Counts the calls made through objects and sums the time with at least one of them in flight: what
 * is left of a wall-clock interval is the caller's own work. Shared by the Azure and store meters.
 */
export interface CallMeter {
  /** `target` with every method counted as `<name>.<method>` (or `<method>` without a name) and timed. */
  wrap<T extends object>(target: T, name?: string): T;
  calls(): Record<string, number>;
  total(): number;
  /** Milliseconds during which at least one call was in flight. */
  busyMs(): number;
  reset(): void;
}

export function callMeter(): CallMeter {
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
  return {
    wrap: <T extends object>(target: T, name?: string): T =>
      new Proxy(target, {
        get(t, prop, receiver) {
          const v = Reflect.get(t, prop, receiver) as unknown;
          if (typeof v !== "function") return v;
          return (...args: unknown[]) => {
            const key = name ? `${name}.${String(prop)}` : String(prop);
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
      }),
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
