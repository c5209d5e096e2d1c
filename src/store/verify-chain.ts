import type Database from "better-sqlite3";
import type { VerifyResult } from "../core/ports.js";
import { ChainWalk, type ChainRow } from "./chain-walk.js";

/**
 * Recomputes the whole chain in seq order and names the first event that does not fit. Rows come
 * as arrays from an iterator (no object per row, nothing held), so a million events take seconds.
 * `expectedLast` is the seq the store last wrote: fewer rows means the tail was cut off.
 */
export function verifyChain(db: Database.Database, expectedLast: number): VerifyResult {
  const rows = db
    .prepare("SELECT seq, change_id, type, at, actor, payload, prev_hash, hash FROM events ORDER BY seq")
    .raw(true);
  const walk = new ChainWalk();
  for (const r of rows.iterate() as IterableIterator<ChainRow>) {
    const bad = walk.push(r);
    if (bad) return bad;
  }
  return walk.end(expectedLast);
}
