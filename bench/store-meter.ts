/**
 * The asynchronous store wrapped so every call is counted and the time with at least one call in
 * flight is summed, as counting-ports.ts does for Azure: how much of the rotation's own overhead is
 * the store's.
 */
import type { AsyncStore } from "../src/core/ports.js";
import { callMeter } from "./call-meter.js";

export interface StoreCallMeter {
  readonly store: AsyncStore;
  calls(): Record<string, number>;
  total(): number;
  /** Milliseconds during which at least one store call was in flight. */
  busyMs(): number;
  reset(): void;
}

export function meterStore(inner: AsyncStore): StoreCallMeter {
  const meter = callMeter();
  return { ...meter, store: meter.wrap(inner) };
}
