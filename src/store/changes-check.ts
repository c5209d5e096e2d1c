import type { Change } from "../core/domain.js";
import type { StoredEvent } from "../core/ports.js";
import { firstDifference, rebuildChange } from "./rebuild.js";

/** A changes row as both stores keep it (`open` as 0/1, as the comparison with the events reads it). */
export interface ChangeRow {
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
 * rebuild from and is left to the chain check. Pure: `rows` in table order, `eventsOf` a change's
 * events in seq order, `orphans` the changes whose request event has no row (in seq order).
 */
export function checkChanges(
  rows: readonly ChangeRow[],
  eventsOf: (id: string) => readonly StoredEvent[],
  orphans: readonly { id: string; seq: number }[],
): { changes: number; problems: ChangeProblem[] } {
  const problems: ChangeProblem[] = [];
  let changes = 0;
  for (const row of rows) {
    const events = eventsOf(row.id);
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

/** A change as its events say it is (`changeFromEvents` of both stores). */
export function changeFromRows(
  doc: string | undefined,
  events: readonly StoredEvent[],
):
  | { readonly ok: true; readonly change: Change }
  | { readonly ok: false; readonly problem: string }
  | undefined {
  if (doc === undefined && !events.some((e) => e.type === "change_requested")) return undefined;
  const fallback = doc !== undefined ? { sandbox: (JSON.parse(doc) as Change).sandbox } : {};
  const r = rebuildChange(events, fallback);
  return r.ok ? { ok: true, change: r.change } : { ok: false, problem: r.problem };
}
