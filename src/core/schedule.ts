/**
 * The scheduled-rotation planner: given the accounts with their due dates, the policy's schedule and
 * the open changes, which rotations to start now, and when each of the others will start. Pure: the
 * caller passes the time; no I/O, no randomness (jitter is a hash of the account id).
 *
 * Rules: a due key of a `schedule: auto | request` policy starts inside its maintenance window, at
 * its own jittered offset into the window, only if the rotation still fits before the window closes
 * (else the next window), and never more than `concurrency` scheduled rotations in flight at once
 * (one waiting for an approver holds no lane). `remind` keeps today's reminders. Exposure is never scheduled.
 */
import { type WindowOccurrence, type WindowSpec, windowAt } from "./schedule-window.js";

export type ScheduleMode = "auto" | "request" | "remind";

export interface FleetSchedule {
  /** Scheduler-opened changes open at once, fleet-wide. */
  readonly concurrency: number;
  /** Starts are spread over at most this much of each window (a per-account hash), in seconds. */
  readonly jitterSeconds: number;
}

export interface ScheduleEntry {
  readonly accountId: string;
  readonly name: string;
  /** The policy that decides (its name, as the card and the calendar say it). */
  readonly policy: string;
  readonly mode: ScheduleMode;
  /** null = any time. */
  readonly window: WindowSpec | null;
  /** When the key is due (ms); null = never rotated on record: due now. */
  readonly due: number | null;
  readonly cadenceDays: number;
  /** How long a rotation takes (propagation, soak and the steps around them), in seconds. */
  readonly estimateSeconds: number;
  /** disableLocalAuth: nothing to rotate. */
  readonly keyFree: boolean;
  /** The account's open change, if any (`waiting`: for an approver, so it holds no lane yet). */
  readonly open: {
    readonly id: string;
    readonly scheduled: boolean;
    readonly exposure: boolean;
    readonly waiting?: boolean;
  } | null;
  /** Known before the start (e.g. the last plan's blocking consumers): the change will ask a person. */
  readonly asksPerson?: string | null;
}

export interface PlannedStart {
  readonly entry: ScheduleEntry;
  readonly at: number;
  readonly window: WindowOccurrence;
}

const DAY = 86_400_000;
/** No window: any time, as one window a day (UTC), so jitter still spreads the starts. */
const ANY_TIME: WindowSpec = {
  days: ["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
  from: "00:00",
  to: "24:00",
  timezone: "UTC",
};

/** A stable fraction in [0, 1) from the account id (FNV-1a): the same account, the same offset, every run. */
export function jitterFraction(accountId: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < accountId.length; i++) {
    h ^= accountId.toLowerCase().charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h / 2 ** 32;
}

/** The account's offset into a window: within the jitter and leaving room for the rotation to finish. */
export function jitterOffset(entry: ScheduleEntry, fleet: FleetSchedule, w: WindowOccurrence): number {
  const length = w.end - w.start;
  const room = Math.max(0, Math.min(fleet.jitterSeconds * 1000, length - entry.estimateSeconds * 1000));
  return Math.floor(jitterFraction(entry.accountId) * room);
}

const schedules = (e: ScheduleEntry): boolean => e.mode !== "remind" && !e.keyFree;

/**
 * The earliest time at or after `after` the entry may start (capacity aside): inside a window, at or
 * after its jittered slot and its due date, with the whole rotation fitting before the window closes.
 * null = not scheduled, or no window opens within `horizon` ms.
 */
export function nextStart(
  entry: ScheduleEntry,
  fleet: FleetSchedule,
  after: number,
  horizon = 400 * DAY,
): PlannedStart | null {
  if (!schedules(entry)) return null;
  const from = Math.max(after, entry.due ?? after);
  const limit = after + horizon;
  let probe = from;
  while (probe < limit) {
    const w = windowAt(entry.window ?? ANY_TIME, probe);
    if (!w) return null;
    const slot = w.start + jitterOffset(entry, fleet, w);
    const at = Math.max(slot, from);
    if (at + entry.estimateSeconds * 1000 <= w.end) return { entry, at, window: w };
    probe = Math.max(w.end, probe + 60_000);
  }
  return null;
}

/**
 * Scheduled rotations in flight (approved, running, paused): they hold the fleet's lanes. One waiting
 * for an approver holds none — its start is a person's decision, and it must not starve the others.
 */
export const openScheduled = (entries: readonly ScheduleEntry[]): number =>
  entries.filter((e) => e.open?.scheduled && !e.open.waiting).length;

/**
 * Which rotations to open now: due, inside their window and past their slot, no open change, most
 * overdue first, up to the free concurrency.
 */
export function planNow(
  entries: readonly ScheduleEntry[],
  fleet: FleetSchedule,
  now: number,
): PlannedStart[] {
  const free = fleet.concurrency - openScheduled(entries);
  if (free <= 0) return [];
  const ready: PlannedStart[] = [];
  for (const e of entries) {
    if (e.open || (e.due ?? now) > now) continue;
    const s = nextStart(e, fleet, now, 1);
    if (s && s.at <= now) ready.push(s);
  }
  ready.sort(
    (a, b) =>
      (a.entry.due ?? 0) - (b.entry.due ?? 0) ||
      a.at - b.at ||
      a.entry.name.localeCompare(b.entry.name) ||
      a.entry.accountId.localeCompare(b.entry.accountId),
  );
  return ready.slice(0, free);
}

export interface CalendarRow {
  readonly accountId: string;
  readonly name: string;
  readonly policy: string;
  readonly mode: ScheduleMode;
  readonly window: WindowSpec | null;
  /** Planned start (ms), or null when it will not start by schedule within the horizon. */
  readonly at: number | null;
  readonly due: number | null;
  /** Why not, or what will hold it (a person asked, an open change, outside any window). */
  readonly note: string | null;
}

/**
 * What will rotate when, over `days`: the planner run forward in time (each rotation taking its
 * estimate, then due again a cadence later), so the concurrency pushes late keys to later windows
 * exactly as the runner will. Exposure is never planned; an open change is waited for.
 */
export function calendar(
  entries: readonly ScheduleEntry[],
  fleet: FleetSchedule,
  now: number,
  days: number,
): CalendarRow[] {
  const horizon = now + days * DAY;
  const rows: CalendarRow[] = [];
  const state = entries.map((e) => ({ ...e }));
  const finishes = new Map<number, number>(); // index → when its simulated rotation ends
  for (const [i, e] of state.entries()) {
    if (e.keyFree) rows.push(row(e, null, "key-free (disableLocalAuth): nothing to rotate"));
    else if (e.mode === "remind")
      rows.push(row(e, null, `reminders only (policy ${e.policy}: schedule remind)`));
    else if (e.open && !e.open.scheduled)
      rows.push(
        row(
          e,
          null,
          `${e.open.id} is open${e.open.exposure ? " (exposure)" : ""}: the schedule waits for it to finish`,
        ),
      );
    else if (e.open) finishes.set(i, now + e.estimateSeconds * 1000);
  }
  // waiting for a person's open change: when it ends is not known, so it is not planned
  const active = state.map((e) => schedules(e) && !(e.open && !e.open.scheduled));
  const cache = new Map<number, PlannedStart | null>();
  const planned = new Set<string>();
  let t = now;
  for (let guard = 0; guard < 100_000 && t < horizon; guard++) {
    for (const [i, end] of finishes) {
      if (end > t) continue;
      finishes.delete(i);
      const e = state[i]!;
      e.open = null;
      e.due = end + e.cadenceDays * DAY;
      cache.delete(i);
    }
    for (const s of planNow(state, fleet, t)) {
      const i = state.findIndex((e) => e.accountId === s.entry.accountId);
      const e = state[i]!;
      rows.push(row(e, s.at, e.mode === "auto" && e.asksPerson ? e.asksPerson : null));
      planned.add(e.accountId);
      e.open = { id: "(planned)", scheduled: true, exposure: false };
      finishes.set(i, s.at + e.estimateSeconds * 1000);
      cache.delete(i);
    }
    let next = Math.min(horizon, ...finishes.values());
    // every lane busy: nothing starts before one frees
    const full = openScheduled(state) >= fleet.concurrency;
    for (const [i, e] of state.entries()) {
      if (full || !active[i] || e.open) continue;
      let s = cache.get(i);
      if (s === undefined || (s && s.at <= t)) {
        s = nextStart(e, fleet, t + 1000, horizon - t);
        cache.set(i, s);
      }
      if (s) next = Math.min(next, s.at);
    }
    if (next <= t) next = t + 60_000;
    t = next;
  }
  for (const [i, e] of state.entries()) {
    if (!active[i] || planned.has(e.accountId)) continue;
    rows.push(
      row(
        e,
        null,
        nextStart(e, fleet, now) === null
          ? "no maintenance window opens in which the rotation fits: widen the window or shorten propagation and soak"
          : `not due within ${days} days`,
      ),
    );
  }
  return rows.sort(
    (a, b) =>
      (a.at ?? Number.POSITIVE_INFINITY) - (b.at ?? Number.POSITIVE_INFINITY) || a.name.localeCompare(b.name),
  );
}

function row(e: ScheduleEntry, at: number | null, note: string | null): CalendarRow {
  return {
    accountId: e.accountId,
    name: e.name,
    policy: e.policy,
    mode: e.mode,
    window: e.window,
    at,
    due: e.due,
    note,
  };
}
