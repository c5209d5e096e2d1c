/**
 * The writes of a PostgreSQL commit, inside its transaction and under the store's advisory lock:
 * the change row, then the events chained after the last one the store wrote.
 */
import type pg from "pg";
import type { Change } from "../../core/domain.js";
import type { NewEvent, StoredEvent } from "../../core/ports.js";
import { eventHashFromText, GENESIS } from "../hash-chain.js";
import { LAST_SEQ } from "./pg-verify.js";

/** An event with its payload already as the canonical JSON text that is stored and hashed. */
export interface Prepared {
  readonly e: NewEvent;
  readonly text: string;
  readonly value: unknown;
}

export async function upsertChange(
  c: pg.PoolClient,
  change: Change,
  open: boolean,
  updatedAt: string,
  doc: string,
): Promise<void> {
  await c.query(
    `INSERT INTO changes (id, account_id, state, open, created_at, updated_at, completed_at, doc)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (id) DO UPDATE SET state = excluded.state, open = excluded.open, updated_at = excluded.updated_at,
       completed_at = excluded.completed_at, doc = excluded.doc`,
    [change.id, change.accountId, change.state, open, change.createdAt, updatedAt, change.completedAt, doc],
  );
}

/** Appends after the last event the store wrote (inside the commit's transaction, under its lock). */
export async function append(c: pg.PoolClient, events: readonly Prepared[]): Promise<StoredEvent[]> {
  if (events.length === 0) return [];
  // seq continues from what the store last wrote, not from the last row: a log whose tail was cut
  // off and then appended to still shows the gap
  const head = await c.query<{ v: number; hash: string | null }>(
    `SELECT last.v, (SELECT hash FROM events WHERE seq = last.v) AS hash FROM (${LAST_SEQ}) AS last`,
  );
  let seq = head.rows[0]!.v;
  let prev = head.rows[0]!.hash ?? (seq === 0 ? GENESIS : "missing");
  const cols: unknown[][] = [[], [], [], [], [], [], [], []];
  const out: StoredEvent[] = [];
  for (const { e, text, value } of events) {
    seq += 1;
    const hash = eventHashFromText(prev, seq, e.changeId, e.type, e.at, e.actor, text);
    [seq, e.changeId, e.type, e.at, e.actor, text, prev, hash].forEach((v, i) => cols[i]!.push(v));
    out.push({
      seq,
      changeId: e.changeId,
      type: e.type,
      at: e.at,
      actor: e.actor,
      payload: value,
      prevHash: prev,
      hash,
    });
    prev = hash;
  }
  await c.query(
    `WITH added AS (
       INSERT INTO events (seq, change_id, type, at, actor, payload, prev_hash, hash)
       SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
       RETURNING seq
     )
     INSERT INTO counters (name, value) SELECT 'events', MAX(seq) FROM added
     ON CONFLICT (name) DO UPDATE SET value = excluded.value`,
    cols,
  );
  return out;
}

export async function otherOpen(
  q: Pick<pg.Pool, "query">,
  change: Change,
): Promise<{ id: string; state: string } | undefined> {
  const r = await q.query<{ id: string; state: string }>(
    "SELECT id, state FROM changes WHERE lower(account_id) = lower($1) AND open",
    [change.accountId],
  );
  const other = r.rows[0];
  return other && other.id !== change.id ? other : undefined;
}
