import type Database from "better-sqlite3";
import type { Change } from "../core/domain.js";
import type { StoredEvent } from "../core/ports.js";
import { firstDifference, rebuildChange } from "./rebuild.js";
import type { EventRow } from "./statements.js";

interface ChangeRow {
  id: string;
  account_id: string;
  state: string;
  open: number;
  created_at: string;
  completed_at: string | null;
  doc: string;
}

export interface ChangeProblem {
  /** The event after which the table and the events part (the change's last event when they simply differ). */
  readonly seq: number;
  readonly problem: string;
}

/**
 * Rebuilds every change from its events and compares it with its row. A change whose events do
 * not include its request (events appended by a tool for a change it did not open) has nothing to
 * rebuild from and is left to the chain check.
 */
export function verifyChanges(db: Database.Database): { changes: number; problems: ChangeProblem[] } {
  const rows = db
    .prepare("SELECT id, account_id, state, open, created_at, completed_at, doc FROM changes ORDER BY rowid")
    .all() as ChangeRow[];
  const eventsOf = db.prepare(
    "SELECT seq, change_id, type, at, actor, payload, prev_hash, hash FROM events WHERE change_id = ? ORDER BY seq",
  );
  const problems: ChangeProblem[] = [];
  let changes = 0;
  for (const row of rows) {
    const events = (eventsOf.all(row.id) as EventRow[]).map(toEvent);
    if (events.length === 0) {
      problems.push({
        seq: 0,
        problem: `${row.id}: the changes table has it, but no event records it — the row was added outside keyturn`,
      });
      continue;
    }
    if (!events.some((e) => e.type === "change_requested")) continue;
    changes++;
    const r = rebuildChange(events, fallbackOf(row));
    if (!r.ok) {
      problems.push({ seq: r.seq, problem: `${row.id}: ${r.problem}` });
      continue;
    }
    const d = firstDifference(row, r.change);
    if (d) problems.push({ seq: events.at(-1)!.seq, problem: `${row.id}: ${d}` });
  }
  const orphans = db
    .prepare(
      "SELECT change_id AS id, MIN(seq) AS seq FROM events WHERE type = 'change_requested' AND change_id IS NOT NULL AND change_id NOT IN (SELECT id FROM changes) GROUP BY change_id ORDER BY seq",
    )
    .all() as { id: string; seq: number }[];
  for (const o of orphans)
    problems.push({
      seq: o.seq,
      problem: `${o.id}: its events record it, but the changes table has no row for it — the row was deleted`,
    });
  return { changes, problems };
}

/** What request events written before they carried it do not say: taken from the row. */
function fallbackOf(row: ChangeRow): Partial<Change> {
  try {
    const doc = JSON.parse(row.doc) as Partial<Change>;
    return { sandbox: doc.sandbox ?? false, accountId: row.account_id };
  } catch {
    return { accountId: row.account_id };
  }
}

export const toEvent = (r: EventRow): StoredEvent => ({
  seq: r.seq,
  changeId: r.change_id,
  type: r.type,
  at: r.at,
  actor: r.actor,
  payload: JSON.parse(r.payload) as unknown,
  prevHash: r.prev_hash,
  hash: r.hash,
});
