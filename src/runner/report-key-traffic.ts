/**
 * The fleet report's "key vs Entra token traffic", read through the telemetry port's
 * `keyAuthTraffic` (Log Analytics diagnostic logs; "cannot be known" where a kind's rows name no
 * caller or no workspace is configured), over the report's window.
 */
import type { Account } from "../core/domain.js";
import type { Clock, TelemetryPort } from "../core/ports.js";
import type { KeyAuthTraffic } from "../core/report.js";

export const REPORT_TRAFFIC_DAYS = 7;

export function reportKeyAuthTraffic(
  telemetry: TelemetryPort | undefined,
  clock: Clock,
  days = REPORT_TRAFFIC_DAYS,
): ((account: Account) => Promise<KeyAuthTraffic>) | undefined {
  const read = telemetry?.keyAuthTraffic?.bind(telemetry);
  if (!read) return undefined;
  return async (account) => {
    const to = clock.now();
    const t = await read(account, { from: new Date(to.getTime() - days * 86_400_000), to });
    return t.known
      ? {
          state: "measured",
          days,
          keyCalls: t.keyCalls,
          tokenCalls: t.tokenCalls,
          source: `Log Analytics: AzureDiagnostics RequestResponse, ${days} days${t.lastKeyCall ? `, last key call ${t.lastKeyCall.slice(0, 16).replace("T", " ")} UTC` : ""}`,
        }
      : { state: "unknown", why: t.why };
  };
}
