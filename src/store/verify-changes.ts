import type Database from "better-sqlite3";
import { checkChanges, type ChangeProblem, type ChangeRow } from "./changes-check.js";
import { toEvent, type EventRow } from "./event-row.js";

export type { ChangeProblem } from "./changes-check.js";
export { toEvent } from "./event-row.js";

/** Every change of a SQLite store rebuilt from its events and compared with its row (see checkChanges). */
export function verifyChanges(db: Database.Database): { changes: number; problems: ChangeProblem[] } {
  const rows = db
    .prepare("SELECT id, account_id, state, open, created_at, completed_at, doc FROM changes ORDER BY rowid")
    .all() as ChangeRow[];
  const eventsOf = db.prepare(
    "SELECT seq, change_id, type, at, actor, payload, prev_hash, hash FROM events WHERE change_id = ? ORDER BY seq",
  );
  const orphans = db
    .prepare(
      "SELECT change_id AS id, MIN(seq) AS seq FROM events WHERE type = 'change_requested' AND change_id IS NOT NULL AND change_id NOT IN (SELECT id FROM changes) GROUP BY change_id ORDER BY seq",
    )
    .all() as { id: string; seq: number }[];
  return checkChanges(rows, (id) => (eventsOf.all(id) as EventRow[]).map(toEvent), orphans);
}
