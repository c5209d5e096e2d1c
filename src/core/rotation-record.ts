/**
 * When an account's keys were last rotated and when the next rotation is due, from keyturn's record
 * alone, so `status`, `list`, `history`, reminders and the complete step agree. Only a rotation that
 * really completed counts: its plan regenerated both keys and it ended completed (with or without
 * findings). A cancelled, rolled back, rejected or expired change never moves a due date, whatever
 * it regenerated on the way; neither does an exposure change that regenerated one key only.
 */
import type { Change, KeySlot, LastRotation } from "./domain.js";
import { isCompleted } from "./domain.js";

const DAY = 86_400_000;

/** The slots a plan regenerates. */
export function regeneratedSlots(c: Pick<Change, "plan">): Set<KeySlot> {
  return new Set(
    c.plan.steps
      .filter(
        (s) => s.kind === "regenerate_standby" || s.kind === "regenerate_old" || s.kind === "kill_leaked",
      )
      .flatMap((s) => (s.slot ? [s.slot] : [])),
  );
}

/** Whether a change's plan, run to its end, leaves both keys fresh. */
export const rotatesBothKeys = (c: Pick<Change, "plan">): boolean => regeneratedSlots(c).size === 2;

/** Whether a change counts as a rotation of its account (moves the last rotation and the due date). */
export const countsAsRotation = (c: Change): boolean => isCompleted(c.state) && rotatesBothKeys(c);

/** The newest rotation that really completed among an account's changes, or null. */
export function lastRotationOf(changes: readonly Change[]): LastRotation | null {
  const newest = changes
    .filter(countsAsRotation)
    .map((c) => ({ c, at: c.completedAt ?? c.createdAt }))
    .sort((a, b) => b.at.localeCompare(a.at))[0];
  return newest
    ? { at: newest.at, by: newest.c.requester.displayName, source: "keyturn", changeId: newest.c.id }
    : null;
}

/** The due date `cadenceDays` after a rotation (null: none on record, due now). */
export const nextDueOf = (last: Pick<LastRotation, "at"> | null, cadenceDays: number): string | null =>
  last ? new Date(Date.parse(last.at) + cadenceDays * DAY).toISOString() : null;
