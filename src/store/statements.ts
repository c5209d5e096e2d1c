import type Database from "better-sqlite3";

export type { EventRow } from "./event-row.js";

export interface TimerRow {
  id: string;
  change_id: string | null;
  kind: string;
  due_at: string;
  payload: string | null;
}

/** Every fixed statement, prepared once per connection. */
export function prepareStatements(db: Database.Database) {
  return {
    // counters.events is the last seq the store wrote; older files without it fall back to MAX(seq)
    lastSeq: db.prepare(
      "SELECT COALESCE((SELECT value FROM counters WHERE name = 'events'), (SELECT MAX(seq) FROM events), 0) AS v",
    ),
    setLastSeq: db.prepare(
      "INSERT INTO counters (name, value) VALUES ('events', ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
    ),
    hashAt: db.prepare("SELECT hash FROM events WHERE seq = ?"),
    insertEvent: db.prepare(
      "INSERT INTO events (seq, change_id, type, at, actor, payload, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    ),
    upsertChange: db.prepare(
      `INSERT INTO changes (id, account_id, state, open, created_at, updated_at, completed_at, doc)
       VALUES (@id, @account_id, @state, @open, @created_at, @updated_at, @completed_at, @doc)
       ON CONFLICT(id) DO UPDATE SET state = excluded.state, open = excluded.open, updated_at = excluded.updated_at,
         completed_at = excluded.completed_at, doc = excluded.doc`,
    ),
    getChange: db.prepare("SELECT doc FROM changes WHERE id = ?"),
    eventsOf: db.prepare(
      "SELECT seq, change_id, type, at, actor, payload, prev_hash, hash FROM events WHERE change_id = ? ORDER BY seq",
    ),
    openFor: db.prepare("SELECT id, state FROM changes WHERE account_id = ? COLLATE NOCASE AND open = 1"),
    counter: db.prepare(
      "INSERT INTO counters (name, value) VALUES ('change', 1) ON CONFLICT(name) DO UPDATE SET value = value + 1 RETURNING value",
    ),
    lastRotation: db.prepare(
      "SELECT doc FROM changes WHERE account_id = ? COLLATE NOCASE AND state = 'completed' ORDER BY completed_at DESC, rowid DESC LIMIT 1",
    ),
    setTimer: db.prepare(
      `INSERT INTO timers (id, change_id, kind, due_at, payload) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT(id) DO UPDATE SET change_id = excluded.change_id, kind = excluded.kind, due_at = excluded.due_at, payload = excluded.payload`,
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
  };
}
