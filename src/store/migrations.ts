/** Ordered schema steps; each runs once, in a transaction, and is recorded in schema_migrations. */
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE events (
     seq INTEGER PRIMARY KEY,
     change_id TEXT,
     type TEXT NOT NULL,
     at TEXT NOT NULL,
     actor TEXT,
     payload TEXT NOT NULL,
     prev_hash TEXT NOT NULL,
     hash TEXT NOT NULL
   );
   CREATE INDEX events_change ON events(change_id, seq);
   -- append-only: editing history needs a deliberate DROP TRIGGER, and verify() still catches it
   CREATE TRIGGER events_no_update BEFORE UPDATE ON events BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
   CREATE TRIGGER events_no_delete BEFORE DELETE ON events BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
   CREATE TABLE changes (
     id TEXT PRIMARY KEY,
     account_id TEXT NOT NULL,
     state TEXT NOT NULL,
     open INTEGER NOT NULL,
     created_at TEXT NOT NULL,
     updated_at TEXT NOT NULL,
     completed_at TEXT,
     doc TEXT NOT NULL
   );
   -- one open change per account, enforced by the database
   CREATE UNIQUE INDEX one_open_change ON changes(account_id COLLATE NOCASE) WHERE open = 1;
   CREATE INDEX changes_account ON changes(account_id COLLATE NOCASE, created_at);
   CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
   CREATE TABLE timers (id TEXT PRIMARY KEY, change_id TEXT, kind TEXT NOT NULL, due_at TEXT NOT NULL, payload TEXT);
   CREATE INDEX timers_due ON timers(due_at);
   CREATE TABLE idempotency_keys (key TEXT PRIMARY KEY, at TEXT NOT NULL);
   CREATE TABLE declared_consumers (
     account_id TEXT NOT NULL, name TEXT NOT NULL, doc TEXT NOT NULL,
     PRIMARY KEY (account_id, name)
   );
   CREATE TABLE kv (namespace TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (namespace, key));`,
];
