import type { VerifyResult } from "../core/ports.js";
import { eventHash, eventHashFromText, GENESIS } from "./hash-chain.js";

/** An event row as stored, in column order: what the chain check reads, whichever database holds it. */
export type ChainRow = [
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
 * Walks the hash chain one row at a time, in seq order, and names the first event that does not
 * fit. Pure: each store feeds it rows from its own database (an iterator, pages of a cursor).
 */
export class ChainWalk {
  private prev = GENESIS;
  private expected = 1;
  private count = 0;

  /** Checks the next row; a failed result ends the walk. */
  push(r: ChainRow): Extract<VerifyResult, { ok: false }> | undefined {
    const [seq, changeId, type, at, actor, payload, prevHash, hash] = r;
    this.count++;
    if (seq !== this.expected) {
      const missing =
        seq - this.expected === 1
          ? `event ${this.expected} is missing`
          : `events ${this.expected}–${seq - 1} are missing`;
      return fail(this.count, this.expected, `gap: ${missing} — rows were deleted from the log`);
    }
    if (prevHash !== this.prev)
      return fail(this.count, seq, `event ${seq} (${type}) prevHash does not match event ${seq - 1}`);
    if (
      eventHashFromText(this.prev, seq, changeId, type, at, actor, payload) !== hash &&
      !legacyMatches(this.prev, r)
    ) {
      return fail(
        this.count,
        seq,
        `event ${seq} (${type}) hash does not match its content — the row was edited`,
      );
    }
    this.prev = hash;
    this.expected++;
    return undefined;
  }

  /** The verdict once every row was pushed: `expectedLast` is the seq the store last wrote. */
  end(expectedLast: number): VerifyResult {
    const expected = this.expected;
    if (expected - 1 < expectedLast) {
      const missing =
        expectedLast === expected
          ? `event ${expected} is missing`
          : `events ${expected}–${expectedLast} are missing`;
      return fail(this.count, expected, `gap: ${missing} — the end of the log was cut off`);
    }
    return { ok: true, events: this.count, head: this.prev };
  }
}

/** Payloads written before they were stored canonically: hash the parsed content instead. */
function legacyMatches(prev: string, [seq, changeId, type, at, actor, payload, , hash]: ChainRow): boolean {
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch {
    return false;
  }
  return eventHash(prev, { seq, changeId, type, at, actor, payload: value }) === hash;
}

const fail = (
  events: number,
  firstBadSeq: number,
  problem: string,
): Extract<VerifyResult, { ok: false }> => ({
  ok: false,
  events,
  firstBadSeq,
  problem,
});
