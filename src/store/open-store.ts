/**
 * The SQLite store (better-sqlite3, WAL): an append-only hash-chained event log plus read models.
 * `commit` writes the events and the change read model in ONE transaction, so the log and what
 * the runner reads never disagree, even after a SIGKILL.
 */
import Database from "better-sqlite3";
import type { Change } from "../core/domain.js";
import { isOpen } from "../core/domain.js";
import type {
  ChangeCommit,
  DeclaredConsumer,
  Logger,
  NewEvent,
  Store,
  StoredEvent,
  Timer,
} from "../core/ports.js";
import { openChangeError } from "./change-open.js";
import { auditLog } from "./audit-log.js";
import { loadSigner, signingKeyPath, type CheckpointSigner } from "./checkpoint-signer.js";
import { canonicalPayload, eventHashFromText, GENESIS, storeJson } from "./hash-chain.js";
import { leaseOps } from "./lease.js";
import { migrate } from "./migrations.js";
import { prepareStatements, type EventRow, type TimerRow } from "./statements.js";
import { changeFromRows } from "./changes-check.js";
import { isoOrAsIs } from "./due-time.js";
import { toEvent } from "./event-row.js";

export interface StoreOptions {
  readonly logger?: Logger;
  /** The checkpoint signing key (default: KEYTURN_SIGNING_KEY_FILE, else beside the data directory). */
  readonly signingKeyFile?: string;
  /** The schema steps (default: MIGRATIONS); a test of a future step passes its own list. */
  readonly migrations?: readonly string[];
}

export function openStore(path: string, opts: StoreOptions = {}): Store {
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  // FULL, not NORMAL: in WAL mode NORMAL survives a process crash but may lose the last commits on
  // power loss. The log records each effect as intended BEFORE it runs against Azure; losing that
  // record is how a restarted runner would regenerate a key twice. Commits are few (a handful per
  // change), so the extra fsync per commit costs nothing anyone notices.
  db.pragma("synchronous = FULL");
  // a second process (CLI `verify`, a restarted runner) waits for the writer instead of failing
  db.pragma("busy_timeout = 5000");
  db.pragma("foreign_keys = ON");
  migrate(db, opts.logger, opts.migrations);
  const st = prepareStatements(db);
  const lease = leaseOps(db);
  // loaded on first use: a store that never signs (a CLI check, a test) never needs the key
  let signer: CheckpointSigner | null = null;
  const keyFile = opts.signingKeyFile ?? signingKeyPath(path);

  const append = (events: readonly NewEvent[]): StoredEvent[] => {
    // seq continues from what the store last wrote, not from the last row: a log whose tail was cut
    // off and then appended to still shows the gap
    let seq = (st.lastSeq.get() as { v: number }).v;
    let prev =
      (st.hashAt.get(seq) as { hash: string } | undefined)?.hash ?? (seq === 0 ? GENESIS : "missing");
    const out: StoredEvent[] = [];
    for (const e of events) {
      seq += 1;
      const payload = canonicalPayload(e.payload, `event ${e.type}`);
      const hash = eventHashFromText(prev, seq, e.changeId, e.type, e.at, e.actor, payload.text);
      st.insertEvent.run(seq, e.changeId, e.type, e.at, e.actor, payload.text, prev, hash);
      out.push({
        seq,
        changeId: e.changeId,
        type: e.type,
        at: e.at,
        actor: e.actor,
        payload: payload.value,
        prevHash: prev,
        hash,
      });
      prev = hash;
    }
    if (events.length > 0) st.setLastSeq.run(seq);
    return out;
  };

  const otherOpen = (change: Change) => {
    const other = st.openFor.get(change.accountId) as { id: string; state: string } | undefined;
    return other && other.id !== change.id ? other : undefined;
  };

  const commitTx = db.transaction((change: Change | null, events: readonly NewEvent[]): StoredEvent[] => {
    // fencing: in the transaction that records the event, so a deposed runner records nothing
    lease.assertWriter();
    if (change) {
      const open = isOpen(change.state);
      const other = open ? otherOpen(change) : undefined;
      if (other) throw openChangeError(change.accountName, other);
      st.upsertChange.run({
        id: change.id,
        account_id: change.accountId,
        state: change.state,
        open: open ? 1 : 0,
        created_at: change.createdAt,
        updated_at: events.at(-1)?.at ?? change.createdAt,
        completed_at: change.completedAt,
        doc: storeJson(change, `change ${change.id}`),
      });
    }
    return append(events);
  });

  const commitOnTx = db.transaction(
    (id: string, decide: (current: Change) => ChangeCommit | null): Change | undefined => {
      const row = st.getChange.get(id) as { doc: string } | undefined;
      if (!row) return undefined;
      const current = JSON.parse(row.doc) as Change;
      const decided = decide(current);
      if (decided) commitTx(decided.change, decided.events);
      return current;
    },
  );

  const cached = new Map<string, Database.Statement>();
  const query = (sql: string): Database.Statement => {
    let s = cached.get(sql);
    if (!s) cached.set(sql, (s = db.prepare(sql)));
    return s;
  };

  return {
    nextChangeId: () => `CHG-${(st.counter.get() as { value: number }).value}`,
    commit(change, events) {
      try {
        // IMMEDIATE takes the write lock at BEGIN: the open-change check and the insert are atomic
        // across connections and processes
        return commitTx.immediate(change, events);
      } catch (e) {
        // the partial UNIQUE index is the last line of defence (a writer that skipped the check)
        if (change && e instanceof Error && /UNIQUE constraint failed: changes\.account_id/.test(e.message)) {
          throw openChangeError(change.accountName, otherOpen(change));
        }
        throw e;
      }
    },
    commitOn(id, decide) {
      return commitOnTx.immediate(id, decide);
    },
    getChange(id) {
      const row = st.getChange.get(id) as { doc: string } | undefined;
      return row ? (JSON.parse(row.doc) as Change) : undefined;
    },
    listChanges(q = {}) {
      const where: string[] = [];
      const args: unknown[] = [];
      if (q.accountId) {
        where.push("account_id = ? COLLATE NOCASE");
        args.push(q.accountId);
      }
      if (q.open !== undefined) {
        where.push("open = ?");
        args.push(q.open ? 1 : 0);
      }
      args.push(limitOf(q.limit));
      const sql = `SELECT doc FROM changes ${where.length ? "WHERE " + where.join(" AND ") : ""} ORDER BY created_at DESC, rowid DESC LIMIT ?`;
      return (query(sql).all(...args) as { doc: string }[]).map((r) => JSON.parse(r.doc) as Change);
    },
    lastRotation(accountId) {
      const row = st.lastRotation.get(accountId) as { doc: string } | undefined;
      if (!row) return undefined;
      const c = JSON.parse(row.doc) as Change;
      return { changeId: c.id, completedAt: c.completedAt ?? c.createdAt, by: c.requester };
    },
    events(q = {}) {
      const where: string[] = [];
      const args: unknown[] = [];
      if (q.changeId) {
        where.push("change_id = ?");
        args.push(q.changeId);
      }
      if (q.afterSeq !== undefined) {
        where.push("seq > ?");
        args.push(q.afterSeq);
      }
      args.push(limitOf(q.limit));
      const sql = `SELECT seq, change_id, type, at, actor, payload, prev_hash, hash FROM events ${where.length ? "WHERE " + where.join(" AND ") : ""} ORDER BY seq LIMIT ?`;
      return (query(sql).all(...args) as EventRow[]).map(toEvent);
    },
    verify: (o = {}) => auditLog(db, (st.lastSeq.get() as { v: number }).v, o.witnesses),
    checkpoint(at, subject) {
      // one read transaction: the seq and the hash are of the same event
      const head = db.transaction(() => {
        const seq = (db.prepare("SELECT COALESCE(MAX(seq), 0) AS v FROM events").get() as { v: number }).v;
        const hash = seq === 0 ? GENESIS : (st.hashAt.get(seq) as { hash: string }).hash;
        return { seq, hash };
      })();
      signer ??= loadSigner(keyFile);
      return signer.sign({ schema: "keyturn.checkpoint/v1", ...head, at, ...(subject ? { subject } : {}) });
    },
    changeFromEvents(id) {
      const row = st.getChange.get(id) as { doc: string } | undefined;
      return changeFromRows(row?.doc, (st.eventsOf.all(id) as EventRow[]).map(toEvent));
    },
    setTimer(t: Timer) {
      const payload = t.payload === undefined ? null : storeJson(t.payload, `timer ${t.id}`);
      st.setTimer.run(t.id, t.changeId, t.kind, isoOrAsIs(t.dueAt), payload);
    },
    clearTimer(id) {
      st.clearTimer.run(id);
    },
    dueTimers(now) {
      return (st.dueTimers.all(now.toISOString()) as TimerRow[]).map((r) => ({
        id: r.id,
        changeId: r.change_id,
        kind: r.kind,
        dueAt: r.due_at,
        ...(r.payload !== null ? { payload: JSON.parse(r.payload) as unknown } : {}),
      }));
    },
    claimIdempotencyKey(key, at) {
      return st.claim.run(key, at).changes === 1;
    },
    addDeclaredConsumer(c: DeclaredConsumer) {
      st.addConsumer.run(c.accountId, c.name, storeJson(c, `declared consumer ${c.name}`));
    },
    removeDeclaredConsumer(accountId, name) {
      return st.removeConsumer.run(accountId, name).changes > 0;
    },
    declaredConsumers(accountId) {
      return (st.consumers.all(accountId) as { doc: string }[]).map(
        (r) => JSON.parse(r.doc) as DeclaredConsumer,
      );
    },
    putKv(namespace, key, value) {
      st.putKv.run(namespace, key, storeJson(value, `${namespace}/${key}`));
    },
    getKv<T>(namespace: string, key: string) {
      const row = st.getKv.get(namespace, key) as { value: string } | undefined;
      return row ? (JSON.parse(row.value) as T) : undefined;
    },
    listKv<T>(namespace: string) {
      return (st.listKv.all(namespace) as { key: string; value: string }[]).map((r) => ({
        key: r.key,
        value: JSON.parse(r.value) as T,
      }));
    },
    acquireLease: (claim, ttlMs, now, replacing) => lease.acquire(claim, ttlMs, now, replacing),
    renewLease: (ttlMs, now) => lease.renew(ttlMs, now),
    releaseLease: (now) => lease.release(now),
    runnerLease: () => lease.read(),
    close() {
      if (db.open) db.close();
    },
  };
}

/** SQLite reads LIMIT -1 as "no limit". */
const limitOf = (limit: number | undefined): number => (limit && limit > 0 ? Math.floor(limit) : -1);
