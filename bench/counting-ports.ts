/**
 * AzurePorts wrapped so every call is counted and the time with at least one call in flight is
 * summed: what is left of a wall-clock interval is keyturn's own work.
 */
import type { AzurePorts } from "../src/core/ports.js";
import { callMeter } from "./call-meter.js";

export interface AzureCallMeter {
  readonly ports: AzurePorts;
  calls(): Record<string, number>;
  total(): number;
  /** Milliseconds during which at least one Azure call was in flight. */
  busyMs(): number;
  reset(): void;
}

export function meterAzure(inner: AzurePorts): AzureCallMeter {
  const meter = callMeter();
  const ports: AzurePorts = {
    accounts: meter.wrap(inner.accounts, "accounts"),
    secrets: meter.wrap(inner.secrets, "secrets"),
    telemetry: meter.wrap(inner.telemetry, "telemetry"),
    dataPlane: meter.wrap(inner.dataPlane, "dataPlane"),
    consumers: meter.wrap(inner.consumers, "consumers"),
    inventory: meter.wrap(inner.inventory, "inventory"),
    ...(inner.label ? { label: inner.label } : {}),
  };
  return { ...meter, ports };
}
