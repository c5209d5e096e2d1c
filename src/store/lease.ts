/**
 * The runner lease (one row): which keyturn process drives changes from this database. Every
 * acquisition increments the fencing token; the holder's commits check, inside their own
 * transaction, that the row still carries its holder and token, so a deposed process can record
 * nothing, not even the result of an effect it had already started.
 */
import type Database from "better-sqlite3";
import type { LeaseClaim, RunnerLease } from "../core/ports.js";

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

interface LeaseRow {
  holder: string;
  pid: number;
  host: string;
  token: number;
  acquired_at: string;
  renewed_at: string;
  expires_at: string;
}

const toLease = (r: LeaseRow): RunnerLease => ({
  holder: r.holder,
  pid: r.pid,
  host: r.host,
  token: r.token,
  acquiredAt: r.acquired_at,
  renewedAt: r.renewed_at,
  expiresAt: r.expires_at,
});

export const describeHolder = (l: RunnerLease): string =>
  `pid ${l.pid} on host ${l.host}, runner since ${l.acquiredAt}`;

export interface LeaseOps {
  acquire(
    claim: LeaseClaim,
    ttlMs: number,
    now: Date,
    replacing?: string,
  ): { acquired: boolean; lease: RunnerLease };
  renew(ttlMs: number, now: Date): RunnerLease;
  release(now: Date): void;
  read(): RunnerLease | undefined;
  /** Called inside every commit's transaction: throws LeaseLost when this store may not write. */
  assertWriter(): void;
}

export function leaseOps(db: Database.Database): LeaseOps {
  const get = db.prepare(
    "SELECT holder, pid, host, token, acquired_at, renewed_at, expires_at FROM runner_lease WHERE id = 1",
  );
  const put = db.prepare(
    `INSERT INTO runner_lease (id, holder, pid, host, token, acquired_at, renewed_at, expires_at)
     VALUES (1, @holder, @pid, @host, @token, @acquired_at, @renewed_at, @expires_at)
     ON CONFLICT(id) DO UPDATE SET holder = excluded.holder, pid = excluded.pid, host = excluded.host,
       token = excluded.token, acquired_at = excluded.acquired_at, renewed_at = excluded.renewed_at,
       expires_at = excluded.expires_at`,
  );
  const extend = db.prepare(
    "UPDATE runner_lease SET renewed_at = ?, expires_at = ? WHERE id = 1 AND holder = ? AND token = ?",
  );
  const read = (): RunnerLease | undefined => {
    const r = get.get() as LeaseRow | undefined;
    return r ? toLease(r) : undefined;
  };
  /** What this store holds: set by a successful acquisition, kept after a loss so commits stay refused. */
  let held: { holder: string; token: number } | null = null;

  const lost = (current: RunnerLease | undefined): LeaseLost =>
    new LeaseLost(
      current
        ? `Another keyturn process is the runner now (${describeHolder(current)}, lease ${current.token}); this process no longer records or runs anything. It stands by and takes over when that one stops.`
        : "The runner lease was removed from the database; this process no longer records or runs anything. Restart keyturn.",
      current,
    );
  const ours = (l: RunnerLease | undefined): boolean =>
    !!held && !!l && l.holder === held.holder && l.token === held.token;

  const acquireTx = db.transaction((claim: LeaseClaim, ttlMs: number, now: Date, replacing?: string) => {
    const cur = read();
    const at = now.toISOString();
    const expires = new Date(now.getTime() + ttlMs).toISOString();
    if (cur && cur.holder === claim.holder) {
      // ours already (a repeated start): nobody held it in between, so the token stands
      extend.run(at, expires, cur.holder, cur.token);
      held = { holder: cur.holder, token: cur.token };
      return { acquired: true, lease: read()! };
    }
    const free =
      !cur ||
      Date.parse(cur.expiresAt) <= now.getTime() ||
      (replacing !== undefined && cur.holder === replacing);
    if (!free) return { acquired: false, lease: cur };
    const token = (cur?.token ?? 0) + 1;
    put.run({
      holder: claim.holder,
      pid: claim.pid,
      host: claim.host,
      token,
      acquired_at: at,
      renewed_at: at,
      expires_at: expires,
    });
    held = { holder: claim.holder, token };
    return { acquired: true, lease: read()! };
  });

  const renewTx = db.transaction((ttlMs: number, now: Date) => {
    const cur = read();
    if (!held || !ours(cur)) throw lost(cur);
    extend.run(now.toISOString(), new Date(now.getTime() + ttlMs).toISOString(), held.holder, held.token);
    return read()!;
  });

  return {
    // IMMEDIATE: two processes starting at once cannot both read "free" and both take it
    acquire: (claim, ttlMs, now, replacing) => acquireTx.immediate(claim, ttlMs, now, replacing),
    renew: (ttlMs, now) => renewTx.immediate(ttlMs, now),
    release(now) {
      if (!held) return;
      const h = held;
      held = null;
      db.transaction(() => {
        // expired now, token kept: the next holder's token is still one more
        const at = now.toISOString();
        db.prepare(
          "UPDATE runner_lease SET expires_at = ?, renewed_at = ? WHERE id = 1 AND holder = ? AND token = ?",
        ).run(at, at, h.holder, h.token);
      }).immediate();
    },
    read,
    assertWriter() {
      const cur = read();
      if (held) {
        if (!ours(cur)) throw lost(cur);
        return;
      }
      // a process that never took the lease (a tool, a standby) writes nothing while a runner is live
      if (cur && Date.parse(cur.expiresAt) > Date.now()) throw lost(cur);
    },
  };
}
