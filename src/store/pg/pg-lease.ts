/**
 * The runner lease on PostgreSQL: the same row and rules as the SQLite store's (lease-rules.ts).
 * Every write takes the store's advisory lock and the row lock (SELECT … FOR UPDATE), so two
 * replicas cannot both read "free" and both take it, and no commit can slip between a take-over and
 * the fencing check.
 */
import type pg from "pg";
import type { LeaseClaim, RunnerLease } from "../../core/ports.js";
import {
  decideAcquire,
  holds,
  leaseLost,
  toLease,
  writerRefusal,
  type Held,
  type LeaseRow,
} from "../lease-rules.js";
import { STORE_LOCK } from "./schema.js";

type Tx = <T>(fn: (c: pg.PoolClient) => Promise<T>) => Promise<T>;
type Query = Pick<pg.PoolClient, "query">;

const COLUMNS = "holder, pid, host, token, acquired_at, renewed_at, expires_at";

export class PgLease {
  /** What this store holds: set by a successful acquisition, kept after a loss so commits stay refused. */
  private held: Held = null;

  constructor(
    private readonly tx: Tx,
    private readonly pool: pg.Pool,
    /** Records commands while another process holds the lease (see writerRefusal). */
    private readonly replica = false,
  ) {}

  async acquire(
    claim: LeaseClaim,
    ttlMs: number,
    now: Date,
    replacing?: string,
  ): Promise<{ acquired: boolean; lease: RunnerLease }> {
    const at = now.toISOString();
    const expires = new Date(now.getTime() + ttlMs).toISOString();
    const r = await this.tx(async (c) => {
      const cur = await lockedRow(c);
      const d = decideAcquire(cur, claim, now, replacing);
      if (d.kind === "refuse") return { acquired: false, lease: cur!, held: null };
      if (d.kind === "extend") await extend(c, at, expires, claim.holder, d.token);
      else
        await c.query(
          `INSERT INTO runner_lease (id, ${COLUMNS}) VALUES (1, $1, $2, $3, $4, $5, $5, $6)
           ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, pid = excluded.pid, host = excluded.host,
             token = excluded.token, acquired_at = excluded.acquired_at, renewed_at = excluded.renewed_at,
             expires_at = excluded.expires_at`,
          [claim.holder, claim.pid, claim.host, d.token, at, expires],
        );
      return { acquired: true, lease: (await row(c))!, held: { holder: claim.holder, token: d.token } };
    });
    if (r.held) this.held = r.held;
    return { acquired: r.acquired, lease: r.lease };
  }

  renew(ttlMs: number, now: Date): Promise<RunnerLease> {
    return this.tx(async (c) => {
      const cur = await lockedRow(c);
      const held = this.held;
      if (!held || !holds(held, cur)) throw leaseLost(cur);
      await extend(
        c,
        now.toISOString(),
        new Date(now.getTime() + ttlMs).toISOString(),
        held.holder,
        held.token,
      );
      return (await row(c))!;
    });
  }

  async release(now: Date): Promise<void> {
    const h = this.held;
    if (!h) return;
    this.held = null;
    const at = now.toISOString();
    // expired now, token kept: the next holder's token is still one more
    await this.tx(async (c) => {
      await lockedRow(c);
      await c.query(
        "UPDATE runner_lease SET expires_at = $1, renewed_at = $1 WHERE id = 1 AND holder = $2 AND token = $3",
        [at, h.holder, h.token],
      );
    });
  }

  read(): Promise<RunnerLease | undefined> {
    return row(this.pool);
  }

  /**
   * Inside every commit's transaction, after the advisory lock: throws LeaseLost when this store may
   * not write. The row stays locked until the commit ends, so no take-over lands in between.
   */
  async assertWriter(c: pg.PoolClient, fenced = true): Promise<void> {
    const refusal = writerRefusal(this.held, await lockedRow(c), Date.now(), this.replica, fenced);
    if (refusal) throw refusal;
  }
}

/** The advisory lock, then the lease row locked for the rest of the transaction. */
async function lockedRow(c: pg.PoolClient): Promise<RunnerLease | undefined> {
  await c.query("SELECT pg_advisory_xact_lock($1)", [STORE_LOCK]);
  const r = await c.query<LeaseRow>(`SELECT ${COLUMNS} FROM runner_lease WHERE id = 1 FOR UPDATE`);
  return r.rows[0] ? toLease(r.rows[0]) : undefined;
}

async function row(q: Query): Promise<RunnerLease | undefined> {
  const r = await q.query<LeaseRow>(`SELECT ${COLUMNS} FROM runner_lease WHERE id = 1`);
  return r.rows[0] ? toLease(r.rows[0]) : undefined;
}

async function extend(c: pg.PoolClient, at: string, expires: string, holder: string, token: number) {
  await c.query(
    "UPDATE runner_lease SET renewed_at = $1, expires_at = $2 WHERE id = 1 AND holder = $3 AND token = $4",
    [at, expires, holder, token],
  );
}
