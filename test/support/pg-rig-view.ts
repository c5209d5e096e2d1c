/**
 * The store of a replica rig as the test reads it, whatever the replicas do: PostgreSQL through
 * `openPgStore` (read-only use: the first replica migrated the schema), SQLite read-only.
 */
import Database from "better-sqlite3";
import { existsSync } from "node:fs";
import type { Change } from "../../src/core/domain.js";
import type { RunnerLease, StoredEvent, VerifyResult } from "../../src/core/ports.js";
import { toEvent, type EventRow } from "../../src/store/event-row.js";
import { toLease, type LeaseRow } from "../../src/store/lease-rules.js";
import { openPgStore, type PgStore } from "../../src/store/pg/pg-store.js";

/** What `keyturn audit verify --json` answered. */
export interface CliVerdict {
  readonly code: number;
  readonly out: string;
  readonly json: { ok?: boolean; events?: number } | null;
}

/** The store as the test reads it. */
export interface RigStoreView {
  changes(): Promise<Change[]>;
  change(id: string): Promise<Change | undefined>;
  /** Every event (or one change's), by seq. */
  events(changeId?: string): Promise<StoredEvent[]>;
  lease(): Promise<RunnerLease | undefined>;
  /** The store's own verification (PostgreSQL: `verify()` of the store; SQLite: `keyturn audit verify`). */
  verify(): Promise<VerifyResult>;
  /** Every change document and event payload as stored (to look for key values). */
  dump(): Promise<string>;
  close(): Promise<void>;
}

export async function pgView(url: string): Promise<RigStoreView> {
  // the first replica has migrated the schema: opening finds it current and changes nothing
  const store: PgStore = await openPgStore(url, { signingKeyFile: null });
  return {
    changes: async () => (await store.listChanges()).reverse(),
    change: (id) => store.getChange(id),
    events: (changeId) => store.events(changeId ? { changeId } : {}),
    lease: () => store.runnerLease(),
    verify: () => store.verify(),
    async dump() {
      const r = await store.pool.query<{ t: string }>(
        "SELECT doc AS t FROM changes UNION ALL SELECT payload AS t FROM events UNION ALL SELECT value AS t FROM kv",
      );
      return r.rows.map((x) => x.t).join("\n");
    },
    close: () => store.close(),
  };
}

export function sqliteView(dbPath: string, cli: () => Promise<CliVerdict>): RigStoreView {
  const read = <T>(fn: (db: Database.Database) => T, empty: T): T => {
    if (!existsSync(dbPath)) return empty;
    const db = new Database(dbPath, { readonly: true, fileMustExist: true });
    try {
      db.pragma("busy_timeout = 5000");
      return fn(db);
    } finally {
      db.close();
    }
  };
  const changes = () =>
    read(
      (db) =>
        (db.prepare("SELECT doc FROM changes ORDER BY created_at").all() as { doc: string }[]).map(
          (r) => JSON.parse(r.doc) as Change,
        ),
      [] as Change[],
    );
  return {
    changes: () => Promise.resolve(changes()),
    change: (id) => Promise.resolve(changes().find((c) => c.id === id)),
    events: (changeId) =>
      Promise.resolve(
        read(
          (db) =>
            (
              (changeId
                ? db.prepare("SELECT * FROM events WHERE change_id = ? ORDER BY seq").all(changeId)
                : db.prepare("SELECT * FROM events ORDER BY seq").all()) as EventRow[]
            ).map(toEvent),
          [] as StoredEvent[],
        ),
      ),
    lease: () =>
      Promise.resolve(
        read((db) => {
          const row = db.prepare("SELECT * FROM runner_lease WHERE id = 1").get() as LeaseRow | undefined;
          return row ? toLease(row) : undefined;
        }, undefined),
      ),
    async verify() {
      const r = await cli();
      return r.json?.ok
        ? { ok: true, events: r.json.events ?? 0, head: "" }
        : ({ ok: false, events: r.json?.events ?? 0, problem: r.out } as unknown as VerifyResult);
    },
    dump: () =>
      Promise.resolve(
        read(
          (db) =>
            (
              db
                .prepare(
                  "SELECT doc AS t FROM changes UNION ALL SELECT payload AS t FROM events UNION ALL SELECT value AS t FROM kv",
                )
                .all() as { t: string }[]
            )
              .map((x) => x.t)
              .join("\n"),
          "",
        ),
      ),
    close: () => Promise.resolve(),
  };
}

export const parseJson = (s: string): { ok?: boolean; events?: number } | null => {
  try {
    return JSON.parse(s) as { ok?: boolean; events?: number };
  } catch {
    return null;
  }
};
