/**
 * AzurePorts wrapped so every call is counted and the time with at least one call in flight is
 * summed: what is left of a wall-clock interval is keyturn's own work.
 */
import type { AzurePorts } from "../src/core/ports.js";

export interface AzureCallMeter {
  readonly ports: AzurePorts;
  calls(): Record<string, number>;
  total(): number;
  /** Milliseconds during which at least one Azure call was in flight. */
  busyMs(): number;
  reset(): void;
}

export function meterAzure(inner: AzurePorts): AzureCallMeter {
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
  const wrap = <T extends object>(name: string, target: T): T =>
    new Proxy(target, {
      get(t, prop, receiver) {
        const v = Reflect.get(t, prop, receiver) as unknown;
        if (typeof v !== "function") return v;
        return (...args: unknown[]) => {
          const key = `${name}.${String(prop)}`;
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
  const ports: AzurePorts = {
    accounts: wrap("accounts", inner.accounts),
    secrets: wrap("secrets", inner.secrets),
    telemetry: wrap("telemetry", inner.telemetry),
    dataPlane: wrap("dataPlane", inner.dataPlane),
    consumers: wrap("consumers", inner.consumers),
    inventory: wrap("inventory", inner.inventory),
    ...(inner.label ? { label: inner.label } : {}),
  };
  return {
    ports,
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
