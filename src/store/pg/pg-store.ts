/**
 * The PostgreSQL store: the same contract and invariants as the SQLite store (open-store.ts), for
 * keyturn on more than one machine. An append-only hash-chained event log (UPDATE, DELETE and
 * TRUNCATE refused by the database), the changes read model written in the transaction of its
 * events, one open change per account (a partial unique index), timers, idempotency keys, declared
 * consumers, kv, and the runner lease whose fencing token every commit checks in its own transaction.
 *
 * Appends are serialised by an advisory lock taken first in every writing transaction, so replicas
 * committing at once never fork seq or prevHash; the hashes are computed exactly as the SQLite
 * store computes them (hash-chain.ts), so a log copied from one store verifies in the other.
 */
import pg from "pg";
import type { Change } from "../../core/domain.js";
import { isOpen } from "../../core/domain.js";
import type { SignedCheckpoint, Witness } from "../../core/checkpoint.js";
import type {
  AsyncStore,
  ChangeCommit,
  CommitOptions,
  DeclaredConsumer,
  LeaseClaim,
  Logger,
  NewEvent,
  RunnerLease,
  StoredEvent,
  Timer,
  VerifyResult,
} from "../../core/ports.js";
import { isKeyturnError, KeyturnError } from "../../core/errors.js";
import { openChangeError } from "../change-open.js";
import { changeFromRows } from "../changes-check.js";
import { loadSigner, type CheckpointSigner } from "../checkpoint-signer.js";
import { isoOrAsIs } from "../due-time.js";
import { toEvent, type EventRow } from "../event-row.js";
import { canonicalPayload, GENESIS, storeJson } from "../hash-chain.js";
import type { TimerRow } from "../statements.js";
import { pgTarget, type PgConnectionOptions } from "./connection.js";
import { PgLease } from "./pg-lease.js";
import { append, otherOpen, upsertChange, type Prepared } from "./pg-commit.js";
import { auditPg, EVENT_COLUMNS } from "./pg-verify.js";
import { migratePg } from "./schema.js";

export interface PgStoreOptions extends PgConnectionOptions {
  readonly logger?: Logger;
  /**
   * The checkpoint signing key file (default: KEYTURN_SIGNING_KEY_FILE). null: a key held in memory
   * for this store's life (tests). With neither, `checkpoint` refuses and says what to set.
   */
  readonly signingKeyFile?: string | null;
  /**
   * One of several keyturn replicas on this database: it records the commands people give it
   * (requests, approvals) while another replica holds the runner lease; only the holder acts.
   */
  readonly replica?: boolean;
  /** The schema steps (default: PG_MIGRATIONS); a test of a future step passes its own list. */
  readonly migrations?: readonly string[];
}

/** Connects, brings the schema up to date, and returns the store. */
export async function openPgStore(url: string, opts: PgStoreOptions = {}): Promise<PgStore> {
  const target = pgTarget(url, opts);
  const pool = new pg.Pool(target.config);
  // an idle connection the server dropped (a failover, a restart) is replaced on next use
  pool.on("error", (e) =>
    opts.logger?.warn({ err: e.message, db: target.display }, "PostgreSQL connection lost"),
  );
  try {
    await migratePg(pool, opts.logger, opts.migrations);
  } catch (e) {
    await pool.end().catch(() => undefined);
    if (isKeyturnError(e)) throw e;
    throw new KeyturnError(
      "config_invalid",
      `keyturn could not open the PostgreSQL database ${target.display} (${e instanceof Error ? e.message : String(e)}). Check the URL (host, port, database, user), that the server accepts connections from this machine${target.auth === "entra" ? ", and that the user is the PostgreSQL role of this process's Microsoft Entra identity" : ""}.`,
      {},
      { cause: e },
    );
  }
  return new PgStore(pool, opts);
}

/** A commit's change document and events, serialised (a key value anywhere is refused here). */
interface PreparedWrite {
  readonly change: Change | null;
  readonly doc: string | null;
  readonly events: readonly Prepared[];
  readonly at: string | undefined;
}

function prepareWrite(change: Change | null, events: readonly NewEvent[]): PreparedWrite {
  return {
    change,
    doc: change ? storeJson(change, `change ${change.id}`) : null,
    events: events.map((e) => ({ e, ...canonicalPayload(e.payload, `event ${e.type}`) })),
    at: events.at(-1)?.at,
  };
}

/** The writes of a commit, inside its transaction after the fencing check. */
async function write(c: pg.PoolClient, w: PreparedWrite): Promise<StoredEvent[]> {
  const { change, doc } = w;
  if (change && doc !== null) {
    const open = isOpen(change.state);
    const other = open ? await otherOpen(c, change) : undefined;
    if (other) throw openChangeError(change.accountName, other);
    await upsertChange(c, change, open, w.at ?? change.createdAt, doc);
  }
  return append(c, w.events);
}

export class PgStore implements AsyncStore {
  private readonly lease: PgLease;
  private signer: CheckpointSigner | null = null;
  private closed = false;

  constructor(
    readonly pool: pg.Pool,
    private readonly opts: PgStoreOptions = {},
  ) {
    this.lease = new PgLease((fn) => this.tx(fn), pool, opts.replica ?? false);
  }

  /** Runs `fn` in one transaction (READ COMMITTED unless told), rolled back on any error. */
  async tx<T>(fn: (c: pg.PoolClient) => Promise<T>, begin = "BEGIN"): Promise<T> {
    const c = await this.pool.connect();
    let broken = false;
    try {
      await c.query(begin);
      const out = await fn(c);
      await c.query("COMMIT");
      return out;
    } catch (e) {
      await c.query("ROLLBACK").catch(() => {
        broken = true;
      });
      throw e;
    } finally {
      c.release(broken);
    }
  }

  acquireLease(claim: LeaseClaim, ttlMs: number, now: Date, replacing?: string) {
    return this.lease.acquire(claim, ttlMs, now, replacing);
  }
  renewLease(ttlMs: number, now: Date): Promise<RunnerLease> {
    return this.lease.renew(ttlMs, now);
  }
  releaseLease(now: Date): Promise<void> {
    return this.lease.release(now);
  }
  runnerLease(): Promise<RunnerLease | undefined> {
    return this.lease.read();
  }

  async nextChangeId(): Promise<string> {
    const r = await this.pool.query<{ value: number }>(
      "INSERT INTO counters (name, value) VALUES ('change', 1) ON CONFLICT (name) DO UPDATE SET value = counters.value + 1 RETURNING value",
    );
    return `CHG-${r.rows[0]!.value}`;
  }

  async commit(
    change: Change | null,
    events: readonly NewEvent[],
    opts: CommitOptions = {},
  ): Promise<StoredEvent[]> {
    // serialised before the transaction: a key value anywhere is refused and nothing is written
    const w = prepareWrite(change, events);
    try {
      return await this.tx(async (c) => {
        // the advisory lock (serialises every append) and the lease row, locked: the fencing check
        // holds until this transaction ends, so a deposed runner records nothing
        await this.lease.assertWriter(c, opts.fenced ?? true);
        return write(c, w);
      });
    } catch (e) {
      // the partial unique index is the last line of defence (a writer that skipped the check)
      if (change && (e as { constraint?: string }).constraint === "one_open_change") {
        throw openChangeError(change.accountName, await otherOpen(this.pool, change));
      }
      throw e;
    }
  }

  async commitOn(
    id: string,
    decide: (current: Change) => ChangeCommit | null,
    opts: CommitOptions = {},
  ): Promise<Change | undefined> {
    return this.tx(async (c) => {
      // the store's lock first (every commit of every replica takes it), then the read: nothing can
      // commit between what `decide` saw and what it writes
      await this.lease.assertWriter(c, opts.fenced ?? true);
      const r = await c.query<{ doc: string }>("SELECT doc FROM changes WHERE id = $1", [id]);
      if (!r.rows[0]) return undefined;
      const current = JSON.parse(r.rows[0].doc) as Change;
      const decided = decide(current);
      if (decided) await write(c, prepareWrite(decided.change, decided.events));
      return current;
    });
  }

  async getChange(id: string): Promise<Change | undefined> {
    const r = await this.pool.query<{ doc: string }>("SELECT doc FROM changes WHERE id = $1", [id]);
    return r.rows[0] ? (JSON.parse(r.rows[0].doc) as Change) : undefined;
  }

  async listChanges(q: { accountId?: string; open?: boolean; limit?: number } = {}): Promise<Change[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (q.accountId) {
      args.push(q.accountId);
      where.push(`lower(account_id) = lower($${args.length})`);
    }
    if (q.open !== undefined) {
      args.push(q.open);
      where.push(`open = $${args.length}`);
    }
    const sql = `SELECT doc FROM changes ${where.length ? "WHERE " + where.join(" AND ") : ""} ORDER BY created_at DESC, row_no DESC${limitOf(q.limit)}`;
    const r = await this.pool.query<{ doc: string }>(sql, args);
    return r.rows.map((x) => JSON.parse(x.doc) as Change);
  }

  async lastRotation(accountId: string) {
    const r = await this.pool.query<{ doc: string }>(
      "SELECT doc FROM changes WHERE lower(account_id) = lower($1) AND state = 'completed' ORDER BY completed_at DESC NULLS LAST, row_no DESC LIMIT 1",
      [accountId],
    );
    if (!r.rows[0]) return undefined;
    const c = JSON.parse(r.rows[0].doc) as Change;
    return { changeId: c.id, completedAt: c.completedAt ?? c.createdAt, by: c.requester };
  }

  async events(q: { changeId?: string; afterSeq?: number; limit?: number } = {}): Promise<StoredEvent[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (q.changeId) {
      args.push(q.changeId);
      where.push(`change_id = $${args.length}`);
    }
    if (q.afterSeq !== undefined) {
      args.push(q.afterSeq);
      where.push(`seq > $${args.length}`);
    }
    const sql = `SELECT ${EVENT_COLUMNS} FROM events ${where.length ? "WHERE " + where.join(" AND ") : ""} ORDER BY seq${limitOf(q.limit)}`;
    return (await this.pool.query<EventRow>(sql, args)).rows.map(toEvent);
  }

  verify(opts: { readonly witnesses?: readonly Witness[] } = {}): Promise<VerifyResult> {
    return this.tx((c) => auditPg(c, opts.witnesses), "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
  }

  async checkpoint(at: string, subject?: string): Promise<SignedCheckpoint> {
    // one snapshot: the seq and the hash are of the same event
    const head = await this.tx(async (c) => {
      const seq = (await c.query<{ v: number }>("SELECT COALESCE(MAX(seq), 0) AS v FROM events")).rows[0]!.v;
      const hash =
        seq === 0
          ? GENESIS
          : (await c.query<{ hash: string }>("SELECT hash FROM events WHERE seq = $1", [seq])).rows[0]!.hash;
      return { seq, hash };
    }, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    this.signer ??= loadSigner(this.signingKeyFile());
    return this.signer.sign({
      schema: "keyturn.checkpoint/v1",
      ...head,
      at,
      ...(subject ? { subject } : {}),
    });
  }

  private signingKeyFile(): string | null {
    if (this.opts.signingKeyFile !== undefined) return this.opts.signingKeyFile;
    const env = process.env.KEYTURN_SIGNING_KEY_FILE;
    if (env) return env;
    throw new KeyturnError(
      "config_invalid",
      "keyturn signs checkpoints of its audit log with a key kept outside the database, and with PostgreSQL there is no data directory to keep it beside. Set KEYTURN_SIGNING_KEY_FILE to a file path (it is created on first use; keep it with your secrets, e.g. mounted from Key Vault).",
    );
  }

  async changeFromEvents(id: string) {
    const [row, events] = await Promise.all([
      this.pool.query<{ doc: string }>("SELECT doc FROM changes WHERE id = $1", [id]),
      this.pool.query<EventRow>(`SELECT ${EVENT_COLUMNS} FROM events WHERE change_id = $1 ORDER BY seq`, [
        id,
      ]),
    ]);
    return changeFromRows(row.rows[0]?.doc, events.rows.map(toEvent));
  }

  async setTimer(t: Timer): Promise<void> {
    const payload = t.payload === undefined ? null : storeJson(t.payload, `timer ${t.id}`);
    await this.pool.query(
      `INSERT INTO timers (id, change_id, kind, due_at, payload) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (id) DO UPDATE SET change_id = excluded.change_id, kind = excluded.kind, due_at = excluded.due_at, payload = excluded.payload`,
      [t.id, t.changeId, t.kind, isoOrAsIs(t.dueAt), payload],
    );
  }

  async clearTimer(id: string): Promise<void> {
    await this.pool.query("DELETE FROM timers WHERE id = $1", [id]);
  }

  async dueTimers(now: Date): Promise<Timer[]> {
    const r = await this.pool.query<TimerRow>(
      "SELECT id, change_id, kind, due_at, payload FROM timers WHERE due_at <= $1 ORDER BY due_at, id",
      [now.toISOString()],
    );
    return r.rows.map((x) => ({
      id: x.id,
      changeId: x.change_id,
      kind: x.kind,
      dueAt: x.due_at,
      ...(x.payload !== null ? { payload: JSON.parse(x.payload) as unknown } : {}),
    }));
  }

  async claimIdempotencyKey(key: string, at: string): Promise<boolean> {
    const r = await this.pool.query(
      "INSERT INTO idempotency_keys (key, at) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
      [key, at],
    );
    return r.rowCount === 1;
  }

  async addDeclaredConsumer(c: DeclaredConsumer): Promise<void> {
    await this.pool.query(
      "INSERT INTO declared_consumers (account_id, name, doc) VALUES ($1, $2, $3) ON CONFLICT (account_id, name) DO UPDATE SET doc = excluded.doc",
      [c.accountId, c.name, storeJson(c, `declared consumer ${c.name}`)],
    );
  }

  async removeDeclaredConsumer(accountId: string, name: string): Promise<boolean> {
    const r = await this.pool.query(
      "DELETE FROM declared_consumers WHERE lower(account_id) = lower($1) AND name = $2",
      [accountId, name],
    );
    return (r.rowCount ?? 0) > 0;
  }

  async declaredConsumers(accountId: string): Promise<DeclaredConsumer[]> {
    const r = await this.pool.query<{ doc: string }>(
      "SELECT doc FROM declared_consumers WHERE lower(account_id) = lower($1) ORDER BY name",
      [accountId],
    );
    return r.rows.map((x) => JSON.parse(x.doc) as DeclaredConsumer);
  }

  async putKv(namespace: string, key: string, value: unknown): Promise<void> {
    await this.pool.query(
      "INSERT INTO kv (namespace, key, value) VALUES ($1, $2, $3) ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value",
      [namespace, key, storeJson(value, `${namespace}/${key}`)],
    );
  }

  async getKv<T>(namespace: string, key: string): Promise<T | undefined> {
    const r = await this.pool.query<{ value: string }>(
      "SELECT value FROM kv WHERE namespace = $1 AND key = $2",
      [namespace, key],
    );
    return r.rows[0] ? (JSON.parse(r.rows[0].value) as T) : undefined;
  }

  async listKv<T>(namespace: string): Promise<{ key: string; value: T }[]> {
    const r = await this.pool.query<{ key: string; value: string }>(
      "SELECT key, value FROM kv WHERE namespace = $1 ORDER BY key",
      [namespace],
    );
    return r.rows.map((x) => ({ key: x.key, value: JSON.parse(x.value) as T }));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }
}

const limitOf = (limit: number | undefined): string =>
  limit && limit > 0 ? ` LIMIT ${Math.floor(limit)}` : "";
