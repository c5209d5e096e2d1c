import type Database from "better-sqlite3";
import { KeyturnError } from "../core/errors.js";
import type { Logger } from "../core/ports.js";

/**
 * Ordered schema steps; each runs once, in a transaction, and is recorded in schema_migrations.
 * Append new steps; never edit a step that has shipped (databases in the field already ran it).
 */
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
  // the runner lease: one row, the process that drives changes; token is the fencing token
  `CREATE TABLE runner_lease (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     holder TEXT NOT NULL,
     pid INTEGER NOT NULL,
     host TEXT NOT NULL,
     token INTEGER NOT NULL,
     acquired_at TEXT NOT NULL,
     renewed_at TEXT NOT NULL,
     expires_at TEXT NOT NULL
   );`,
];

/**
 * Brings the schema up to date; refuses a database written by a newer keyturn rather than guess.
 * The version is recorded in schema_migrations (when each step ran) and mirrored in
 * `PRAGMA user_version`, so `sqlite3 keyturn.db 'PRAGMA user_version'` says it without keyturn.
 */
export function migrate(db: Database.Database, logger?: Logger, steps: readonly string[] = MIGRATIONS): void {
  db.exec(
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)",
  );
  const current =
    (db.prepare("SELECT MAX(version) AS v FROM schema_migrations").get() as { v: number | null }).v ?? 0;
  const stamped = db.pragma("user_version", { simple: true }) as number;
  const newest = Math.max(current, stamped);
  if (newest > steps.length) {
    throw new KeyturnError(
      "config_invalid",
      `The database ${db.name} was written by a newer keyturn (schema version ${newest}; this keyturn knows up to ${steps.length}). Upgrade keyturn, or restore a backup made by this version (keyturn restore <file>), or point KEYTURN_DATA_DIR at another directory.`,
    );
  }
  const record = db.prepare("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)");
  const done = db.prepare("SELECT 1 FROM schema_migrations WHERE version = ?");
  for (let v = current + 1; v <= steps.length; v++) {
    const step = steps[v - 1];
    if (step === undefined) break;
    // IMMEDIATE and re-checked inside: two processes opening a new file at once migrate it once
    const applied = db
      .transaction(() => {
        if (done.get(v)) return false;
        db.exec(step);
        record.run(v, new Date().toISOString());
        db.pragma(`user_version = ${v}`);
        return true;
      })
      .immediate();
    if (applied) logger?.info({ schemaVersion: v }, "database schema migrated");
  }
  // a database from before user_version was kept (schema_migrations only) gets it now
  if (stamped < steps.length && !db.readonly) db.pragma(`user_version = ${steps.length}`);
}
