/**
 * `audit verify` on PostgreSQL: the same chain walk, witness check and change rebuild as the SQLite
 * store (chain-walk.ts, audit-verdict.ts, changes-check.ts), fed from one consistent snapshot
 * (REPEATABLE READ): events arrive in pages of rows as arrays, so a long log never sits in memory.
 */
import type pg from "pg";
import type { Witness } from "../../core/checkpoint.js";
import type { StoredEvent, VerifyResult } from "../../core/ports.js";
import { auditVerdict } from "../audit-verdict.js";
import { ChainWalk, type ChainRow } from "../chain-walk.js";
import { checkChanges, type ChangeRow } from "../changes-check.js";
import { toEvent, type EventRow } from "../event-row.js";

const PAGE = 20_000;
export const EVENT_COLUMNS = "seq, change_id, type, at, actor, payload, prev_hash, hash";
/** The seq the store last wrote: counters.events, else (a store that never kept it) the highest seq. */
export const LAST_SEQ =
  "SELECT COALESCE((SELECT value FROM counters WHERE name = 'events'), (SELECT MAX(seq) FROM events), 0) AS v";

/** Runs inside a REPEATABLE READ transaction on `c`. */
export async function auditPg(c: pg.PoolClient, witnesses: readonly Witness[] = []): Promise<VerifyResult> {
  const expectedLast = Number((await c.query<{ v: number }>(LAST_SEQ)).rows[0]!.v);
  const chain = await walkChain(c, expectedLast);
  const last = (await c.query<{ v: number }>("SELECT COALESCE(MAX(seq), 0) AS v FROM events")).rows[0]!.v;
  const hashes = new Map<number, string>();
  if (witnesses.length > 0) {
    const r = await c.query<{ seq: number; hash: string }>(
      "SELECT seq, hash FROM events WHERE seq = ANY($1::bigint[])",
      [witnesses.map((w) => w.seq)],
    );
    for (const x of r.rows) hashes.set(x.seq, x.hash);
  }
  return auditVerdict({
    chain,
    witnesses,
    hashAt: (seq) => hashes.get(seq),
    last,
    changes: await changesAgainstEvents(c),
  });
}

async function walkChain(c: pg.PoolClient, expectedLast: number): Promise<VerifyResult> {
  const walk = new ChainWalk();
  let after = -1;
  for (;;) {
    const page = await c.query<ChainRow>({
      text: `SELECT ${EVENT_COLUMNS} FROM events WHERE seq > $1 ORDER BY seq LIMIT ${PAGE}`,
      values: [after],
      rowMode: "array",
    });
    for (const r of page.rows) {
      const bad = walk.push(r);
      if (bad) return bad;
    }
    if (page.rows.length < PAGE) return walk.end(expectedLast);
    after = page.rows.at(-1)![0];
  }
}

async function changesAgainstEvents(c: pg.PoolClient) {
  const rows = (
    await c.query<ChangeRow>(
      "SELECT id, account_id, state, open::int AS open, created_at, completed_at, doc FROM changes ORDER BY row_no",
    )
  ).rows;
  const byChange = new Map<string, StoredEvent[]>();
  if (rows.length > 0) {
    const events = await c.query<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM events WHERE change_id = ANY($1::text[]) ORDER BY seq`,
      [rows.map((r) => r.id)],
    );
    for (const e of events.rows) {
      const list = byChange.get(e.change_id!) ?? [];
      list.push(toEvent(e));
      byChange.set(e.change_id!, list);
    }
  }
  const orphans = (
    await c.query<{ id: string; seq: number }>(
      "SELECT change_id AS id, MIN(seq) AS seq FROM events WHERE type = 'change_requested' AND change_id IS NOT NULL AND change_id NOT IN (SELECT id FROM changes) GROUP BY change_id ORDER BY seq",
    )
  ).rows;
  return checkChanges(rows, (id) => byChange.get(id) ?? [], orphans);
}
