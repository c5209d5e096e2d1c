/**
 * The SQLite store (better-sqlite3, WAL): an append-only hash-chained event log plus read models.
 * `commit` writes the events and the change read model in ONE transaction, so the log and what
 * the runner reads never disagree, even after a SIGKILL.
 */
import Database from "better-sqlite3";
import type { Change } from "../core/domain.js";
import { isOpen } from "../core/domain.js";
import { KeyturnError } from "../core/errors.js";
import type { DeclaredConsumer, NewEvent, Store, StoredEvent, Timer, VerifyResult } from "../core/ports.js";
import { eventHash, GENESIS, storeJson } from "./hash-chain.js";
import { MIGRATIONS } from "./migrations.js";

export function openStore(path: string): Store {
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  // FULL: a committed intent must survive a power cut, not only a process crash
  db.pragma("synchronous = FULL");
  db.pragma("busy_timeout = 5000");
  db.pragma("foreign_keys = ON");
  migrate(db);

  const st = {
    head: db.prepare("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1"),
    insertEvent: db.prepare(
      "INSERT INTO events (seq, change_id, type, at, actor, payload, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    ),
    upsertChange: db.prepare(
      `INSERT INTO changes (id, account_id, state, open, created_at, updated_at, completed_at, doc) VALUES (@id, @account_id, @state, @open, @created_at, @updated_at, @completed_at, @doc)
       ON CONFLICT(id) DO UPDATE SET state = excluded.state, open = excluded.open, updated_at = excluded.updated_at, completed_at = excluded.completed_at, doc = excluded.doc`,
    ),
    getChange: db.prepare("SELECT doc FROM changes WHERE id = ?"),
    openFor: db.prepare("SELECT id, state FROM changes WHERE account_id = ? COLLATE NOCASE AND open = 1"),
    counter: db.prepare(
      "INSERT INTO counters (name, value) VALUES ('change', 1) ON CONFLICT(name) DO UPDATE SET value = value + 1 RETURNING value",
    ),
    lastRotation: db.prepare(
      "SELECT doc FROM changes WHERE account_id = ? COLLATE NOCASE AND state = 'completed' ORDER BY completed_at DESC LIMIT 1",
    ),
    setTimer: db.prepare(
      "INSERT INTO timers (id, change_id, kind, due_at, payload) VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET due_at = excluded.due_at, payload = excluded.payload, kind = excluded.kind",
    ),
    clearTimer: db.prepare("DELETE FROM timers WHERE id = ?"),
    dueTimers: db.prepare(
      "SELECT id, change_id, kind, due_at, payload FROM timers WHERE due_at <= ? ORDER BY due_at, id",
    ),
    claim: db.prepare("INSERT OR IGNORE INTO idempotency_keys (key, at) VALUES (?, ?)"),
    addConsumer: db.prepare(
      "INSERT INTO declared_consumers (account_id, name, doc) VALUES (?, ?, ?) ON CONFLICT(account_id, name) DO UPDATE SET doc = excluded.doc",
    ),
    removeConsumer: db.prepare(
      "DELETE FROM declared_consumers WHERE account_id = ? COLLATE NOCASE AND name = ?",
    ),
    consumers: db.prepare(
      "SELECT doc FROM declared_consumers WHERE account_id = ? COLLATE NOCASE ORDER BY name",
    ),
    putKv: db.prepare(
      "INSERT INTO kv (namespace, key, value) VALUES (?, ?, ?) ON CONFLICT(namespace, key) DO UPDATE SET value = excluded.value",
    ),
    getKv: db.prepare("SELECT value FROM kv WHERE namespace = ? AND key = ?"),
    listKv: db.prepare("SELECT key, value FROM kv WHERE namespace = ? ORDER BY key"),
    allEvents: db.prepare(
      "SELECT seq, change_id, type, at, actor, payload, prev_hash, hash FROM events ORDER BY seq",
    ),
  };

  const append = (events: readonly NewEvent[]): StoredEvent[] => {
    const head = st.head.get() as { seq: number; hash: string } | undefined;
    let seq = head?.seq ?? 0;
    let prev = head?.hash ?? GENESIS;
    const out: StoredEvent[] = [];
    for (const e of events) {
      seq += 1;
      const payloadJson = storeJson(e.payload ?? null);
      const payload = JSON.parse(payloadJson) as unknown;
      const hash = eventHash(prev, {
        seq,
        changeId: e.changeId,
        type: e.type,
        at: e.at,
        actor: e.actor,
        payload,
      });
      st.insertEvent.run(seq, e.changeId, e.type, e.at, e.actor, payloadJson, prev, hash);
      out.push({
        seq,
        changeId: e.changeId,
        type: e.type,
        at: e.at,
        actor: e.actor,
        payload,
        prevHash: prev,
        hash,
      });
      prev = hash;
    }
    return out;
  };

  const commitTx = db.transaction((change: Change | null, events: readonly NewEvent[]): StoredEvent[] => {
    if (change) {
      const open = isOpen(change.state);
      if (open) {
        const other = st.openFor.get(change.accountId) as { id: string; state: string } | undefined;
        if (other && other.id !== change.id) {
          throw new KeyturnError(
            "change_open",
            `${change.accountName} already has an open change, ${other.id} (${other.state.replace("_", " ")}). Finish, cancel or resume it first.`,
          );
        }
      }
      st.upsertChange.run({
        id: change.id,
        account_id: change.accountId,
        state: change.state,
        open: open ? 1 : 0,
        created_at: change.createdAt,
        updated_at: events.at(-1)?.at ?? change.createdAt,
        completed_at: change.completedAt,
        doc: storeJson(change),
      });
    }
    return append(events);
  });

  return {
    nextChangeId: () => `CHG-${(st.counter.get() as { value: number }).value}`,
    commit(change, events) {
      try {
        return commitTx.immediate(change, events);
      } catch (e) {
        if (e instanceof Error && /UNIQUE constraint failed: changes\.account_id/.test(e.message) && change) {
          throw new KeyturnError(
            "change_open",
            `${change.accountName} already has an open change. Finish, cancel or resume it first.`,
          );
        }
        throw e;
      }
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
      const sql = `SELECT doc FROM changes ${where.length ? "WHERE " + where.join(" AND ") : ""} ORDER BY created_at DESC, rowid DESC ${q.limit ? `LIMIT ${Math.max(1, Math.floor(q.limit))}` : ""}`;
      return (db.prepare(sql).all(...args) as { doc: string }[]).map((r) => JSON.parse(r.doc) as Change);
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
      const sql = `SELECT seq, change_id, type, at, actor, payload, prev_hash, hash FROM events ${where.length ? "WHERE " + where.join(" AND ") : ""} ORDER BY seq ${q.limit ? `LIMIT ${Math.max(1, Math.floor(q.limit))}` : ""}`;
      return (db.prepare(sql).all(...args) as EventRow[]).map(toEvent);
    },
    verify: () => verifyChain(st.allEvents),
    setTimer(t: Timer) {
      st.setTimer.run(
        t.id,
        t.changeId,
        t.kind,
        t.dueAt,
        t.payload === undefined ? null : storeJson(t.payload),
      );
    },
    clearTimer(id) {
      st.clearTimer.run(id);
    },
    dueTimers(now) {
      return (
        st.dueTimers.all(now.toISOString()) as {
          id: string;
          change_id: string | null;
          kind: string;
          due_at: string;
          payload: string | null;
        }[]
      ).map((r) => ({
        id: r.id,
        changeId: r.change_id,
        kind: r.kind,
        dueAt: r.due_at,
        ...(r.payload ? { payload: JSON.parse(r.payload) as unknown } : {}),
      }));
    },
    claimIdempotencyKey(key, at) {
      return st.claim.run(key, at).changes === 1;
    },
    addDeclaredConsumer(c: DeclaredConsumer) {
      st.addConsumer.run(c.accountId, c.name, storeJson(c));
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
      st.putKv.run(namespace, key, storeJson(value));
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
    close() {
      db.close();
    },
  };
}

interface EventRow {
  seq: number;
  change_id: string | null;
  type: string;
  at: string;
  actor: string | null;
  payload: string;
  prev_hash: string;
  hash: string;
}

const toEvent = (r: EventRow): StoredEvent => ({
  seq: r.seq,
  changeId: r.change_id,
  type: r.type,
  at: r.at,
  actor: r.actor,
  payload: JSON.parse(r.payload) as unknown,
  prevHash: r.prev_hash,
  hash: r.hash,
});

/** Recomputes the chain in order; names the first event that does not fit. */
export function verifyChain(all: Database.Statement): VerifyResult {
  let prev = GENESIS;
  let expected = 1;
  let count = 0;
  for (const row of all.iterate() as IterableIterator<EventRow>) {
    count++;
    if (row.seq !== expected)
      return {
        ok: false,
        events: count,
        firstBadSeq: expected,
        problem: `gap: event ${expected} is missing (next is ${row.seq}) — a row was deleted`,
      };
    if (row.prev_hash !== prev)
      return {
        ok: false,
        events: count,
        firstBadSeq: row.seq,
        problem: `event ${row.seq} (${row.type}) prevHash does not match event ${row.seq - 1}`,
      };
    const hash = eventHash(prev, {
      seq: row.seq,
      changeId: row.change_id,
      type: row.type,
      at: row.at,
      actor: row.actor,
      payload: JSON.parse(row.payload) as unknown,
    });
    if (hash !== row.hash)
      return {
        ok: false,
        events: count,
        firstBadSeq: row.seq,
        problem: `event ${row.seq} (${row.type}) hash does not match its content — the row was edited`,
      };
    prev = row.hash;
    expected++;
  }
  return { ok: true, events: count, head: prev };
}

function migrate(db: Database.Database): void {
  db.exec(
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)",
  );
  const current =
    (db.prepare("SELECT MAX(version) AS v FROM schema_migrations").get() as { v: number | null }).v ?? 0;
  if (current > MIGRATIONS.length) {
    throw new KeyturnError(
      "config_invalid",
      `The database was written by a newer keyturn (schema ${current}, this one knows ${MIGRATIONS.length}). Upgrade keyturn or use another KEYTURN_DATA_DIR.`,
    );
  }
  for (let v = current + 1; v <= MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v - 1]!);
      db.prepare("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)").run(
        v,
        new Date().toISOString(),
      );
    })();
  }
}
