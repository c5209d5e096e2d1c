/**
 * `keyturn migrate-store --to postgres://…`: copies a SQLite store into an EMPTY PostgreSQL database,
 * row for row — every event with its seq, hashes and payload text, the changes, timers, kv, declared
 * consumers, idempotency keys and counters — in ONE transaction, then runs the full `audit verify`
 * on the target inside that transaction and commits only when it verifies and reaches the same head
 * as the source. Anything else rolls the copy back: the target is left as empty as it was.
 *
 * The source is opened as keyturn opens it (an older file is migrated first) and must verify itself;
 * it is refused while a keyturn process runs on it. The runner lease is carried over expired, so
 * the fencing token keeps growing and the first keyturn on PostgreSQL takes over at once.
 */
import Database from "better-sqlite3";
import type pg from "pg";
import { KeyturnError } from "../../core/errors.js";
import type { Logger, VerifyResult } from "../../core/ports.js";
import { openStore } from "../open-store.js";
import { pgTarget, type PgConnectionOptions } from "./connection.js";
import { openPgStore } from "./pg-store.js";
import { auditPg } from "./pg-verify.js";
import { STORE_LOCK } from "./schema.js";

export interface MigrateStoreReport {
  readonly target: string;
  readonly events: number;
  readonly head: string;
  readonly changes: number;
  readonly rows: Readonly<Record<string, number>>;
  readonly verify: Extract<VerifyResult, { ok: true }>;
}

const TABLES = [
  "changes",
  "timers",
  "kv",
  "declared_consumers",
  "idempotency_keys",
  "counters",
  "runner_lease",
] as const;
const BATCH = 5_000;

export async function migrateStore(
  sqlitePath: string,
  url: string,
  opts: PgConnectionOptions & { readonly logger?: Logger; readonly now?: Date } = {},
): Promise<MigrateStoreReport> {
  const now = opts.now ?? new Date();
  const display = pgTarget(url, opts).display;
  // the source as keyturn opens it: migrated when older, and it must verify before it is copied
  const source = openStore(sqlitePath, opts.logger ? { logger: opts.logger } : {});
  let before: VerifyResult;
  try {
    const lease = source.runnerLease();
    if (lease && Date.parse(lease.expiresAt) > now.getTime())
      throw new KeyturnError(
        "config_invalid",
        `A keyturn process runs on ${sqlitePath} (pid ${lease.pid} on host ${lease.host}). Stop it first (SIGTERM; it releases its lease), then run keyturn migrate-store again.`,
      );
    before = source.verify();
  } finally {
    source.close();
  }
  if (!before.ok)
    throw new KeyturnError(
      "tampered",
      `The SQLite store does not pass audit verify (${before.problem}); nothing was copied. Run keyturn audit verify, keep the file as it is, and tell your security team.`,
    );
  const expected = before;

  const target = await openPgStore(url, opts);
  const db = new Database(sqlitePath, { readonly: true, fileMustExist: true });
  try {
    return await target.tx(async (c) => {
      await c.query("SELECT pg_advisory_xact_lock($1)", [STORE_LOCK]);
      await refuseNonEmpty(c, display);
      db.exec("BEGIN"); // one snapshot of the source for the whole copy
      try {
        const rows: Record<string, number> = { events: await copyEvents(db, c) };
        for (const t of TABLES) rows[t] = await copyTable(db, c, t, now);
        const after = await auditPg(c);
        const problem = mismatch(expected, after);
        if (problem)
          throw new KeyturnError(
            "tampered",
            `The copy in ${display} does not verify as the source does (${problem}); it was rolled back and the database is empty again. Keep the SQLite file as it is and report this.`,
          );
        return {
          target: display,
          events: expected.events,
          head: expected.head,
          changes: expected.changes ?? 0,
          rows,
          verify: after as Extract<VerifyResult, { ok: true }>,
        };
      } finally {
        db.exec("COMMIT");
      }
    });
  } finally {
    db.close();
    await target.close();
  }
}

function mismatch(source: Extract<VerifyResult, { ok: true }>, target: VerifyResult): string | undefined {
  if (!target.ok) return target.problem;
  if (target.events !== source.events) return `${target.events} events, the source has ${source.events}`;
  if (target.head !== source.head) return `head ${target.head}, the source's is ${source.head}`;
  if ((target.changes ?? 0) !== (source.changes ?? 0))
    return `${target.changes ?? 0} changes rebuilt, the source has ${source.changes ?? 0}`;
  return undefined;
}

async function refuseNonEmpty(c: pg.PoolClient, display: string): Promise<void> {
  const counts = await c.query<{ t: string; n: number }>(
    ["events", ...TABLES].map((t) => `SELECT '${t}' AS t, COUNT(*)::int AS n FROM ${t}`).join(" UNION ALL "),
  );
  const full = counts.rows.filter((r) => r.n > 0);
  if (full.length > 0)
    throw new KeyturnError(
      "config_invalid",
      `The PostgreSQL database ${display} is not empty (${full.map((r) => `${r.t}: ${r.n} rows`).join(", ")}); keyturn migrate-store copies only into an empty database, so that no history is mixed. Create a new database (CREATE DATABASE keyturn_new) and point --to at it.`,
    );
}

type Row = unknown[];

async function copyEvents(db: Database.Database, c: pg.PoolClient): Promise<number> {
  const page = db
    .prepare(
      "SELECT seq, change_id, type, at, actor, payload, prev_hash, hash FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
    )
    .raw(true);
  let after = -1;
  let n = 0;
  for (;;) {
    const rows = page.all(after, BATCH) as Row[];
    if (rows.length === 0) return n;
    await c.query(
      `INSERT INTO events (seq, change_id, type, at, actor, payload, prev_hash, hash)
       SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])`,
      columns(rows, 8),
    );
    n += rows.length;
    after = rows.at(-1)![0] as number;
  }
}

/** Each table's columns as both schemas name them; changes in the source's row order. */
const COPY: Record<(typeof TABLES)[number], { select: string; insert: string; types: string[] }> = {
  changes: {
    select:
      "SELECT id, account_id, state, open, created_at, updated_at, completed_at, doc FROM changes ORDER BY rowid",
    insert: "changes (id, account_id, state, open, created_at, updated_at, completed_at, doc)",
    types: ["text", "text", "text", "boolean", "text", "text", "text", "text"],
  },
  timers: {
    select: "SELECT id, change_id, kind, due_at, payload FROM timers ORDER BY id",
    insert: "timers (id, change_id, kind, due_at, payload)",
    types: ["text", "text", "text", "text", "text"],
  },
  kv: {
    select: "SELECT namespace, key, value FROM kv ORDER BY namespace, key",
    insert: "kv (namespace, key, value)",
    types: ["text", "text", "text"],
  },
  declared_consumers: {
    select: "SELECT account_id, name, doc FROM declared_consumers ORDER BY account_id, name",
    insert: "declared_consumers (account_id, name, doc)",
    types: ["text", "text", "text"],
  },
  idempotency_keys: {
    select: "SELECT key, at FROM idempotency_keys ORDER BY key",
    insert: "idempotency_keys (key, at)",
    types: ["text", "text"],
  },
  counters: {
    select: "SELECT name, value FROM counters ORDER BY name",
    insert: "counters (name, value)",
    types: ["text", "bigint"],
  },
  runner_lease: {
    select: "SELECT id, holder, pid, host, token, acquired_at, renewed_at, expires_at FROM runner_lease",
    insert: "runner_lease (id, holder, pid, host, token, acquired_at, renewed_at, expires_at)",
    types: ["int", "text", "int", "text", "bigint", "text", "text", "text"],
  },
};

async function copyTable(
  db: Database.Database,
  c: pg.PoolClient,
  table: (typeof TABLES)[number],
  now: Date,
): Promise<number> {
  const spec = COPY[table];
  let rows = db.prepare(spec.select).raw(true).all() as Row[];
  if (table === "changes") rows = rows.map((r) => r.map((v, i) => (i === 3 ? v === 1 : v)));
  if (table === "runner_lease") {
    // carried over expired: the token keeps growing, and no process of the old store stands in the way
    const at = now.toISOString();
    rows = rows.map((r) => [...r.slice(0, 6), at, at]);
  }
  for (let i = 0; i < rows.length; i += BATCH) {
    const batch = rows.slice(i, i + BATCH);
    const params = spec.types.map((t, k) => `$${k + 1}::${t}[]`).join(", ");
    const names = spec.insert.slice(spec.insert.indexOf("(") + 1, -1);
    // in the source's order (the changes' row order is their listing order)
    await c.query(
      `INSERT INTO ${spec.insert} SELECT ${names} FROM unnest(${params}) WITH ORDINALITY AS u(${names}, ord) ORDER BY ord`,
      columns(batch, spec.types.length),
    );
  }
  return rows.length;
}

function columns(rows: readonly Row[], width: number): unknown[][] {
  const cols: unknown[][] = Array.from({ length: width }, () => []);
  for (const r of rows) for (let i = 0; i < width; i++) cols[i]!.push(r[i] ?? null);
  return cols;
}
