import type Database from "better-sqlite3";
import type { Witness } from "../core/checkpoint.js";
import type { VerifyResult } from "../core/ports.js";
import { verifyChain } from "./verify-chain.js";
import { verifyChanges } from "./verify-changes.js";

/**
 * `audit verify`: the chain, then every witness (a head seen outside the database), then the
 * changes table against the events. Every problem is named; the first is the headline.
 */
export function auditLog(
  db: Database.Database,
  expectedLast: number,
  witnesses: readonly Witness[] = [],
): VerifyResult {
  const chain = verifyChain(db, expectedLast);
  const problems: { seq: number; problem: string }[] = [];
  if (!chain.ok) problems.push({ seq: chain.firstBadSeq, problem: chain.problem });
  const witnessed: string[] = [];
  const hashAt = db.prepare("SELECT hash FROM events WHERE seq = ?");
  const last = (db.prepare("SELECT COALESCE(MAX(seq), 0) AS v FROM events").get() as { v: number }).v;
  for (const w of witnesses) {
    const row = hashAt.get(w.seq) as { hash: string } | undefined;
    if (!row) {
      const missing =
        w.seq === last + 1 ? `event ${w.seq} is missing` : `events ${last + 1}–${w.seq} are missing`;
      problems.push({
        seq: last + 1,
        problem: `gap: the log ends at event ${last}, but ${w.source} saw event ${w.seq} (head ${w.hash.slice(0, 16)}…): ${missing} — the end of the log was cut off`,
      });
    } else if (row.hash !== w.hash) {
      problems.push({
        seq: w.seq,
        problem: `event ${w.seq}'s hash is ${row.hash.slice(0, 16)}…, but ${w.source} saw ${w.hash.slice(0, 16)}… — the log was rewritten at or before event ${w.seq}`,
      });
    } else witnessed.push(`${w.source}: event ${w.seq}`);
  }
  const changes = verifyChanges(db);
  problems.push(...changes.problems);
  const first = problems[0];
  if (!first)
    return chain.ok
      ? { ...chain, changes: changes.changes, ...(witnesses.length ? { witnessed } : {}) }
      : chain;
  return {
    ok: false,
    events: chain.events,
    firstBadSeq: first.seq,
    problem: first.problem,
    problems: problems.map((p) => p.problem),
  };
}
