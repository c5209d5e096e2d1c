/**
 * The PostgreSQL store's schema: ordered steps, each run once in its own transaction and recorded in
 * schema_migrations. Append new steps; never edit a step that has shipped.
 *
 * The tables mirror the SQLite store's, column for column, so `keyturn migrate-store` copies rows
 * as they are and both stores hash and verify the same text: payloads and documents are TEXT (the
 * canonical JSON is hashed byte for byte; jsonb would rewrite it), times are ISO-8601 TEXT, and
 * every column that is sorted or compared as text uses the "C" collation (byte order, as SQLite),
 * whatever the server's default collation.
 */
import type pg from "pg";
import { KeyturnError } from "../../core/errors.js";
import type { Logger } from "../../core/ports.js";

/** The advisory lock (per database) taken by every transaction that writes the log, the lease or the schema. */
export const STORE_LOCK = 0x6b657974; // "keyt"

export const PG_MIGRATIONS: readonly string[] = [
  `CREATE TABLE events (
     seq BIGINT PRIMARY KEY,
     change_id TEXT COLLATE "C",
     type TEXT NOT NULL,
     at TEXT COLLATE "C" NOT NULL,
     actor TEXT,
     payload TEXT NOT NULL,
     prev_hash TEXT NOT NULL,
     hash TEXT NOT NULL
   );
   CREATE INDEX events_change ON events (change_id, seq);
   -- append-only, refused by the database itself: a trigger for every row and for TRUNCATE (it
   -- binds the owner and superusers too), and the owner gives up the privileges (a second lock that
   -- a deliberate GRANT would have to open)
   CREATE FUNCTION keyturn_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
   BEGIN
     RAISE EXCEPTION 'events are append-only: keyturn''s audit log refuses % of event rows', TG_OP
       USING ERRCODE = 'restrict_violation';
   END $$;
   CREATE TRIGGER events_no_update BEFORE UPDATE OR DELETE ON events
     FOR EACH ROW EXECUTE FUNCTION keyturn_events_append_only();
   CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
     FOR EACH STATEMENT EXECUTE FUNCTION keyturn_events_append_only();
   REVOKE UPDATE, DELETE, TRUNCATE ON events FROM PUBLIC;
   REVOKE UPDATE, DELETE, TRUNCATE ON events FROM CURRENT_USER;
   CREATE TABLE changes (
     id TEXT COLLATE "C" PRIMARY KEY,
     row_no BIGINT GENERATED ALWAYS AS IDENTITY,
     account_id TEXT NOT NULL,
     state TEXT NOT NULL,
     open BOOLEAN NOT NULL,
     created_at TEXT COLLATE "C" NOT NULL,
     updated_at TEXT COLLATE "C" NOT NULL,
     completed_at TEXT COLLATE "C",
     doc TEXT NOT NULL
   );
   -- one open change per account, enforced by the database (account ids compare case-insensitively)
   CREATE UNIQUE INDEX one_open_change ON changes (lower(account_id)) WHERE open;
   CREATE INDEX changes_account ON changes (lower(account_id), created_at);
   CREATE TABLE counters (name TEXT PRIMARY KEY, value BIGINT NOT NULL);
   CREATE TABLE timers (
     id TEXT COLLATE "C" PRIMARY KEY,
     change_id TEXT,
     kind TEXT NOT NULL,
     due_at TEXT COLLATE "C" NOT NULL,
     payload TEXT
   );
   CREATE INDEX timers_due ON timers (due_at);
   CREATE TABLE idempotency_keys (key TEXT PRIMARY KEY, at TEXT NOT NULL);
   CREATE TABLE declared_consumers (
     account_id TEXT NOT NULL,
     name TEXT COLLATE "C" NOT NULL,
     doc TEXT NOT NULL,
     PRIMARY KEY (account_id, name)
   );
   CREATE INDEX declared_consumers_account ON declared_consumers (lower(account_id));
   CREATE TABLE kv (
     namespace TEXT NOT NULL,
     key TEXT COLLATE "C" NOT NULL,
     value TEXT NOT NULL,
     PRIMARY KEY (namespace, key)
   );
   -- the runner lease: one row, the process that drives changes; token is the fencing token
   CREATE TABLE runner_lease (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     holder TEXT NOT NULL,
     pid INTEGER NOT NULL,
     host TEXT NOT NULL,
     token BIGINT NOT NULL,
     acquired_at TEXT NOT NULL,
     renewed_at TEXT NOT NULL,
     expires_at TEXT NOT NULL
   );`,
];

/**
 * Brings the schema up to date; refuses a database written by a newer keyturn rather than guess.
 * Replicas starting at once migrate once: each step runs under the store's advisory lock and
 * re-checks that it is still due.
 */
export async function migratePg(
  pool: pg.Pool,
  logger?: Logger,
  steps: readonly string[] = PG_MIGRATIONS,
): Promise<number> {
  const c = await pool.connect();
  const inTx = async <T>(fn: () => Promise<T>): Promise<T> => {
    await c.query("BEGIN");
    try {
      // under the store's lock, re-checked inside: replicas starting at once migrate once
      await c.query("SELECT pg_advisory_xact_lock($1)", [STORE_LOCK]);
      const out = await fn();
      await c.query("COMMIT");
      return out;
    } catch (e) {
      await c.query("ROLLBACK").catch(() => undefined);
      throw e;
    }
  };
  try {
    const newest = await inTx(async () => {
      await c.query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)",
      );
      return current(c);
    });
    if (newest > steps.length) {
      throw new KeyturnError(
        "config_invalid",
        `The PostgreSQL database was written by a newer keyturn (schema version ${newest}; this keyturn knows up to ${steps.length}). Upgrade keyturn, or point KEYTURN_DATABASE_URL at another database.`,
      );
    }
    for (let v = newest + 1; v <= steps.length; v++) {
      const step = steps[v - 1]!;
      const applied = await inTx(async () => {
        if ((await c.query("SELECT 1 FROM schema_migrations WHERE version = $1", [v])).rowCount) return false;
        await c.query(step);
        await c.query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)", [
          v,
          new Date().toISOString(),
        ]);
        return true;
      });
      if (applied) logger?.info({ schemaVersion: v }, "database schema migrated");
    }
    return steps.length;
  } finally {
    c.release();
  }
}

async function current(c: pg.PoolClient): Promise<number> {
  const r = await c.query<{ v: number | null }>("SELECT MAX(version) AS v FROM schema_migrations");
  return r.rows[0]?.v ?? 0;
}
