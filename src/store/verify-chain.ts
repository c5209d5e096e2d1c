import type Database from "better-sqlite3";
import type { VerifyResult } from "../core/ports.js";
import { eventHash, eventHashFromText, GENESIS } from "./hash-chain.js";

type Row = [
  seq: number,
  changeId: string | null,
  type: string,
  at: string,
  actor: string | null,
  payload: string,
  prevHash: string,
  hash: string,
];

/**
 * Recomputes the whole chain in seq order and names the first event that does not fit. Rows come
 * as arrays from an iterator (no object per row, nothing held), so a million events take seconds.
 * `expectedLast` is the seq the store last wrote: fewer rows means the tail was cut off.
 */
export function verifyChain(db: Database.Database, expectedLast: number): VerifyResult {
  const rows = db
    .prepare("SELECT seq, change_id, type, at, actor, payload, prev_hash, hash FROM events ORDER BY seq")
    .raw(true);
  let prev = GENESIS;
  let expected = 1;
  let count = 0;
  for (const r of rows.iterate() as IterableIterator<Row>) {
    const [seq, changeId, type, at, actor, payload, prevHash, hash] = r;
    count++;
    if (seq !== expected) {
      const missing =
        seq - expected === 1 ? `event ${expected} is missing` : `events ${expected}–${seq - 1} are missing`;
      return fail(count, expected, `gap: ${missing} — rows were deleted from the log`);
    }
    if (prevHash !== prev)
      return fail(count, seq, `event ${seq} (${type}) prevHash does not match event ${seq - 1}`);
    if (
      eventHashFromText(prev, seq, changeId, type, at, actor, payload) !== hash &&
      !legacyMatches(prev, r)
    ) {
      return fail(count, seq, `event ${seq} (${type}) hash does not match its content — the row was edited`);
    }
    prev = hash;
    expected++;
  }
  if (expected - 1 < expectedLast) {
    const missing =
      expectedLast === expected
        ? `event ${expected} is missing`
        : `events ${expected}–${expectedLast} are missing`;
    return fail(count, expected, `gap: ${missing} — the end of the log was cut off`);
  }
  return { ok: true, events: count, head: prev };
}

/** Payloads written before they were stored canonically: hash the parsed content instead. */
function legacyMatches(prev: string, [seq, changeId, type, at, actor, payload, , hash]: Row): boolean {
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch {
    return false;
  }
  return eventHash(prev, { seq, changeId, type, at, actor, payload: value }) === hash;
}

const fail = (events: number, firstBadSeq: number, problem: string): VerifyResult => ({
  ok: false,
  events,
  firstBadSeq,
  problem,
});
