/**
 * The runner lease (one row): which keyturn process drives changes from this database. Every
 * acquisition increments the fencing token; the holder's commits check, inside their own
 * transaction, that the row still carries its holder and token, so a deposed process can record
 * nothing, not even the result of an effect it had already started.
 */
import type Database from "better-sqlite3";
import type { LeaseClaim, RunnerLease } from "../core/ports.js";
import {
  decideAcquire,
  holds,
  leaseLost,
  toLease,
  writerRefusal,
  type Held,
  type LeaseRow,
} from "./lease-rules.js";

export { describeHolder, LeaseLost } from "./lease-rules.js";

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
  let held: Held = null;

  const acquireTx = db.transaction((claim: LeaseClaim, ttlMs: number, now: Date, replacing?: string) => {
    const cur = read();
    const at = now.toISOString();
    const expires = new Date(now.getTime() + ttlMs).toISOString();
    const d = decideAcquire(cur, claim, now, replacing);
    if (d.kind === "refuse") return { acquired: false, lease: cur! };
    if (d.kind === "extend") {
      extend.run(at, expires, claim.holder, d.token);
      held = { holder: claim.holder, token: d.token };
      return { acquired: true, lease: read()! };
    }
    const token = d.token;
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
    if (!held || !holds(held, cur)) throw leaseLost(cur);
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
      const refusal = writerRefusal(held, read(), Date.now());
      if (refusal) throw refusal;
    },
  };
}
