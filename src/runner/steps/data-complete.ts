/**
 * Azure Monitor is late: a call shows in the platform metrics a minute or three after it was made,
 * and its AzureDiagnostics row in Log Analytics later still (src/azure/telemetry.ts cites the
 * figures). A verdict on a window read at its end would judge calls whose data has not arrived — a
 * 401 from an unknown holder in the window's last minutes would go unseen. So a window is judged
 * only once its end plus the ingestion latency has passed; the wait is bounded, and when the bound
 * cuts it short the evidence says the data was still incomplete.
 */
import type { StepContext } from "./context.js";

export interface DataWait {
  /** When the window's data is known to have arrived (its end plus the latency). */
  readonly completeAt: Date;
  /** How long the step waited for it. */
  readonly waitedMs: number;
  /** False when the wait was cut short: the verdict read data that may still be arriving. */
  readonly complete: boolean;
  /** For the evidence: what was waited for ("" when no latency is configured). */
  readonly note: string;
}

/** Waits until the data of a window ending at `end` has arrived (metrics, and logs when asked). */
export async function waitForData(
  ctx: Pick<StepContext, "azure" | "clock" | "sleep">,
  end: Date,
  sources: readonly ("metrics" | "logs")[],
): Promise<DataWait> {
  const latency = ctx.azure.telemetry.ingestionLatency;
  const ms = Math.max(
    0,
    ...sources.map((s) => (s === "metrics" ? (latency?.metricsMs ?? 0) : (latency?.logsMs ?? 0))),
  );
  const completeAt = new Date(end.getTime() + ms);
  const started = ctx.clock.now().getTime();
  // a clock that does not move while the step sleeps (a test's fixed clock) must not hold it forever
  let previous = started;
  for (let stalls = 0; stalls < 20;) {
    const now = ctx.clock.now().getTime();
    if (now >= completeAt.getTime()) break;
    stalls = now === previous ? stalls + 1 : 0;
    previous = now;
    await ctx.sleep(Math.min(completeAt.getTime() - now, 10_000));
  }
  const now = ctx.clock.now().getTime();
  const complete = now >= completeAt.getTime();
  const what = sources.join(" and ");
  const at = completeAt.toISOString().replace("T", " ").slice(0, 19);
  const note =
    ms === 0
      ? ""
      : complete
        ? `${what} read at ${at} UTC, ${Math.round(ms / 1000)} s after the window closed, once Azure Monitor had ingested it`
        : `DATA INCOMPLETE: ${what} read before ${at} UTC, when the window's data is due (ingestion latency ${Math.round(ms / 1000)} s): calls in the window's last minutes may be missing`;
  return { completeAt, waitedMs: Math.max(0, now - started), complete, note };
}
