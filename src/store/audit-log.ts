import type Database from "better-sqlite3";
import type { Witness } from "../core/checkpoint.js";
import type { VerifyResult } from "../core/ports.js";
import { auditVerdict } from "./audit-verdict.js";
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
  const hashAt = db.prepare("SELECT hash FROM events WHERE seq = ?");
  const last = (db.prepare("SELECT COALESCE(MAX(seq), 0) AS v FROM events").get() as { v: number }).v;
  return auditVerdict({
    chain,
    witnesses,
    hashAt: (seq) => (hashAt.get(seq) as { hash: string } | undefined)?.hash,
    last,
    changes: verifyChanges(db),
  });
}
