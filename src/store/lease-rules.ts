/**
 * The runner lease's rules, whichever database keeps the row: who may take it, what a take-over
 * does to the fencing token, when a commit is refused, and what the refusal says. Pure: each store
 * reads and writes the row in its own transaction and asks these.
 */
import type { LeaseClaim, RunnerLease } from "../core/ports.js";

/** The lease row as both stores keep it. */
export interface LeaseRow {
  holder: string;
  pid: number;
  host: string;
  token: number;
  acquired_at: string;
  renewed_at: string;
  expires_at: string;
}

export const toLease = (r: LeaseRow): RunnerLease => ({
  holder: r.holder,
  pid: r.pid,
  host: r.host,
  token: r.token,
  acquiredAt: r.acquired_at,
  renewedAt: r.renewed_at,
  expiresAt: r.expires_at,
});

/** A write refused because this process is not (or no longer) the runner. */
export class LeaseLost extends Error {
  override readonly name = "LeaseLost";
  constructor(
    message: string,
    readonly current: RunnerLease | undefined,
  ) {
    super(message);
  }
}

export const describeHolder = (l: RunnerLease): string =>
  `pid ${l.pid} on host ${l.host}, runner since ${l.acquiredAt}`;

export const leaseLost = (current: RunnerLease | undefined): LeaseLost =>
  new LeaseLost(
    current
      ? `Another keyturn process is the runner now (${describeHolder(current)}, lease ${current.token}); this process no longer records or runs anything. It stands by and takes over when that one stops.`
      : "The runner lease was removed from the database; this process no longer records or runs anything. Restart keyturn.",
    current,
  );

/** What this store holds: set by a successful acquisition, kept after a loss so commits stay refused. */
export type Held = { readonly holder: string; readonly token: number } | null;

export const holds = (held: Held, l: RunnerLease | undefined): boolean =>
  !!held && !!l && l.holder === held.holder && l.token === held.token;

/**
 * An acquisition: `extend` — the claim holds it already (a repeated start: nobody held it in
 * between, so the token stands); `take` — free, expired or held by `replacing`, with the next token;
 * `refuse` — someone else's live lease.
 */
export function decideAcquire(
  cur: RunnerLease | undefined,
  claim: LeaseClaim,
  now: Date,
  replacing?: string,
): { readonly kind: "extend" | "take"; readonly token: number } | { readonly kind: "refuse" } {
  if (cur && cur.holder === claim.holder) return { kind: "extend", token: cur.token };
  const free =
    !cur ||
    Date.parse(cur.expiresAt) <= now.getTime() ||
    (replacing !== undefined && cur.holder === replacing);
  return free ? { kind: "take", token: (cur?.token ?? 0) + 1 } : { kind: "refuse" };
}

/**
 * The fencing check inside every commit's transaction: the holder must still hold it (a deposed
 * runner records nothing of its own); a process that does not hold it (a tool, a standby) writes
 * nothing while a runner's lease is live — except that a `replica` records the commands people give
 * it (`fenced` false: requests, approvals), whatever it holds, while the runner alone acts on them.
 */
export function writerRefusal(
  held: Held,
  cur: RunnerLease | undefined,
  nowMs: number,
  replica = false,
  fenced = true,
): LeaseLost | undefined {
  // a replica records the commands people give it whatever it holds; the runner's own record is fenced
  if (replica && !fenced) return undefined;
  if (held) return holds(held, cur) ? undefined : leaseLost(cur);
  if (cur && Date.parse(cur.expiresAt) > nowMs) return leaseLost(cur);
  return undefined;
}
