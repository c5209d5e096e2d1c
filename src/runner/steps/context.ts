import type { Account, Change, Consumer, Finding, KeySlot, StepEvidence } from "../../core/domain.js";
import type { AzurePorts, CallerErrors, Clock, Logger } from "../../core/ports.js";

/** What a step needs: the change as it stands, the live account, the Azure ports, time and logs. */
export interface StepContext {
  readonly change: Change;
  readonly index: number;
  readonly account: Account;
  readonly azure: AzurePorts;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Records, before a non-idempotent effect runs, what it is about to do (an event in the log). */
  readonly recordIntent: (what: string, detail: Record<string, string>) => Promise<void>;
  /** Whether an intent of this kind was recorded for this step before (a crash happened after it). */
  readonly intentRecorded: (what: string) => boolean;
  /** Waits (real time): data-plane propagation retries. Injected so tests can make it instant. */
  readonly sleep: (ms: number) => Promise<void>;
  /**
   * The fencing check: confirms (and renews) this process's runner lease; throws an error named
   * LeaseLost when another process took over. Writes through `azure` already call it.
   */
  readonly fence: () => Promise<void>;
  /** Sends a direct message to a consumer's owner (manual consumers). */
  readonly notifyOwner: (owner: string, text: string) => Promise<boolean>;
}

/** The part of a step's evidence a step produces; times, actor and outcome are added by the runner. */
export interface StepResult {
  readonly before?: Record<string, string>;
  readonly after?: Record<string, string>;
  readonly validation?: { readonly query: string; readonly result: string; readonly passed: boolean };
  readonly notes?: readonly string[];
  /** A loud message for the thread beyond the step reply (e.g. a 401 spike after the old key died). */
  readonly alert?: string;
  /** What the check saw that needs a person: the step succeeds with findings, the change ends with them. */
  readonly findings?: readonly Finding[];
}

export interface StepExecutor {
  /** The action. Must be safe to run again after a crash: it checks live state first. */
  act(ctx: StepContext): Promise<StepResult>;
  /** The check after the step's window; a failed validation pauses the change (gate). */
  check?(ctx: StepContext, acted: StepEvidence): Promise<StepResult>;
}

export const secretKey = (vaultUrl: string, name: string): string =>
  `secret:${vaultUrl.replace(/\/+$/, "")}/${name}`;

/** The preflight's record of both fingerprints: what "before" means for every later step. */
export function preflightFingerprints(change: Change): Record<KeySlot, string> {
  const pre = change.steps.find((s) => s.kind === "preflight");
  const key1 = pre?.after?.key1 ?? change.inventory.fingerprints?.key1;
  const key2 = pre?.after?.key2 ?? change.inventory.fingerprints?.key2;
  if (!key1 || !key2) throw new Error(`${change.id}: no preflight fingerprints recorded`);
  return { key1, key2 };
}

export const stepOf = (change: Change, kind: StepEvidence["kind"]): StepEvidence | undefined =>
  change.steps.find((s) => s.kind === kind);

/**
 * Consumers the plan moves, as the inventory at approval time described them: the plan's own, and
 * excluded NEW holders an approver included explicitly.
 */
export const planConsumers = (change: Change): Consumer[] =>
  change.inventory.consumers.filter(
    (c) =>
      change.plan.consumerIds.includes(c.id) ||
      change.plan.pinnedConsumerIds.includes(c.id) ||
      (!!change.includedConsumerIds?.includes(c.id) && !!change.plan.excludedConsumerIds?.includes(c.id)),
  );

/** The distinct Key Vault secrets the plan publishes to (version ignored: a new version is created). */
export function planSecrets(change: Change): { vaultUrl: string; name: string }[] {
  const seen = new Map<string, { vaultUrl: string; name: string }>();
  for (const c of planConsumers(change)) {
    if (!c.secret) continue;
    seen.set(secretKey(c.secret.vaultUrl, c.secret.name), {
      vaultUrl: c.secret.vaultUrl,
      name: c.secret.name,
    });
  }
  return [...seen.values()];
}

/** Calls and client errors on the account between two times, from one Azure Monitor read. */
export async function callTotals(
  ctx: Pick<StepContext, "azure" | "account">,
  from: Date,
  to: Date,
): Promise<{ calls: number; clientErrors: number }> {
  const series = await ctx.azure.telemetry.metrics(ctx.account.id, {
    from,
    to,
    names: ["TotalCalls", "ClientErrors"],
  });
  const sum = (n: string) =>
    series
      .filter((s) => s.name === n)
      .flatMap((s) => s.points)
      .reduce((a, p) => a + p.total, 0);
  return { calls: sum("TotalCalls"), clientErrors: sum("ClientErrors") };
}

/**
 * keyturn's own proofs that a key is dead (one 401 per regenerated key): client errors too, in the
 * same per-minute metric buckets, so the gate and the soak do not count them as someone failing.
 */
export function ownProbeCount(change: Change): number {
  return change.steps.filter((s) => /old key → 40[13]/.test(s.validation?.result ?? "")).length;
}

/**
 * 401 callers by Log Analytics in a window, and the addresses already failing in the 15 minutes before
 * `start` (null: no logs configured, or they could not be read). keyturn's own dead-key probes stay out
 * of the window by time: each is made before the window it could spoil opens.
 */
export async function unauthorizedCallers(
  ctx: Pick<StepContext, "azure" | "account">,
  window: { from: Date; to: Date },
  start: Date,
): Promise<{ since: CallerErrors[]; before: Set<string> } | null> {
  const callersOf = ctx.azure.telemetry.unauthorizedCallers?.bind(ctx.azure.telemetry);
  if (!callersOf) return null;
  try {
    const [since, before] = await Promise.all([
      callersOf(ctx.account.id, window),
      callersOf(ctx.account.id, { from: new Date(start.getTime() - 15 * 60_000), to: start }),
    ]);
    return { since, before: new Set(before.map((c) => c.callerIp)) };
  } catch {
    return null;
  }
}
