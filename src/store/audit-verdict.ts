import type { Witness } from "../core/checkpoint.js";
import type { VerifyResult } from "../core/ports.js";
import type { ChangeProblem } from "./changes-check.js";

/**
 * `audit verify`'s verdict from its three parts, whichever database they were read from: the chain
 * walk, every witness (a head seen outside the database) against the hash stored at its seq, and the
 * changes table rebuilt from the events. Every problem is named; the first is the headline.
 */
export function auditVerdict(parts: {
  readonly chain: VerifyResult;
  readonly witnesses: readonly Witness[];
  /** The hash stored at a witness's seq (undefined: no such event). */
  readonly hashAt: (seq: number) => string | undefined;
  /** The highest seq in the events table. */
  readonly last: number;
  readonly changes: { readonly changes: number; readonly problems: readonly ChangeProblem[] };
}): VerifyResult {
  const { chain, witnesses, hashAt, last, changes } = parts;
  const problems: { seq: number; problem: string }[] = [];
  if (!chain.ok) problems.push({ seq: chain.firstBadSeq, problem: chain.problem });
  const witnessed: string[] = [];
  for (const w of witnesses) {
    const hash = hashAt(w.seq);
    if (hash === undefined) {
      const missing =
        w.seq === last + 1 ? `event ${w.seq} is missing` : `events ${last + 1}–${w.seq} are missing`;
      problems.push({
        seq: last + 1,
        problem: `gap: the log ends at event ${last}, but ${w.source} saw event ${w.seq} (head ${w.hash.slice(0, 16)}…): ${missing} — the end of the log was cut off`,
      });
    } else if (hash !== w.hash) {
      problems.push({
        seq: w.seq,
        problem: `event ${w.seq}'s hash is ${hash.slice(0, 16)}…, but ${w.source} saw ${w.hash.slice(0, 16)}… — the log was rewritten at or before event ${w.seq}`,
      });
    } else witnessed.push(`${w.source}: event ${w.seq}`);
  }
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
