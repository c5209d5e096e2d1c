/**
 * Calls the data plane with one key until its answer is the one wanted, with backoff (1, 2, 4, 8,
 * 8 … s) up to the proof's bound: a regenerated key, or local auth turned off or on, "doesn't take
 * effect immediately" while the data plane's caches catch up. A clock that does not move while the
 * step sleeps (a test's fixed clock) cannot hold it forever.
 */
import type { Account } from "../../core/domain.js";
import type { SecretValue } from "../../core/secret.js";
import type { StepContext } from "./context.js";

const DEFAULT_BOUND_MS = 120_000;
const MAX_BACKOFF_MS = 8_000;

export type ProbeOutcome =
  | { readonly kind: "matched"; readonly status: number; readonly attempts: number; readonly waited: number }
  | {
      readonly kind: "unreachable";
      readonly reason: string;
      readonly attempts: number;
      readonly waited: number;
    }
  | {
      readonly kind: "timeout";
      readonly last: string;
      readonly attempts: number;
      readonly waited: number;
      readonly boundMs: number;
    };

export async function probeWithBackoff(
  ctx: Pick<StepContext, "azure" | "clock" | "sleep">,
  account: Account,
  key: SecretValue,
  wanted: (status: number) => boolean,
): Promise<ProbeOutcome> {
  const boundMs = ctx.azure.dataPlane.proofBoundMs ?? DEFAULT_BOUND_MS;
  const started = ctx.clock.now().getTime();
  const seconds = () => Math.round((ctx.clock.now().getTime() - started) / 1000);
  let previous = started;
  let stalls = 0;
  let last = "";
  let attempts = 0;
  for (let attempt = 1; stalls < 20; attempt++) {
    attempts = attempt;
    const r = await ctx.azure.dataPlane.probe(account, key);
    if ("unreachable" in r)
      return { kind: "unreachable", reason: r.unreachable, attempts, waited: seconds() };
    last = String(r.status);
    if (wanted(r.status)) return { kind: "matched", status: r.status, attempts, waited: seconds() };
    const now = ctx.clock.now().getTime();
    const left = started + boundMs - now;
    if (left <= 0) break;
    stalls = now === previous ? stalls + 1 : 0;
    previous = now;
    await ctx.sleep(Math.min(1000 * 2 ** (attempt - 1), MAX_BACKOFF_MS, left));
  }
  return { kind: "timeout", last, attempts, waited: seconds(), boundMs };
}
