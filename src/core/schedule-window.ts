/**
 * Maintenance windows: `days` (mon … sun) and `from`–`to` wall-clock times in an IANA time zone. A
 * window whose `to` is not after its `from` runs past midnight into the next day (the day named is
 * the day it opens). Pure: Intl does the time-zone arithmetic; no clock is read here.
 */
export const WEEKDAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"] as const;
export type Weekday = (typeof WEEKDAYS)[number];

export interface WindowSpec {
  readonly days: readonly Weekday[];
  /** "HH:MM", 24-hour. */
  readonly from: string;
  /** "HH:MM" (or "24:00"); not after `from` = the next day. */
  readonly to: string;
  /** IANA time zone, e.g. UTC or Europe/Berlin. */
  readonly timezone: string;
}

export interface WindowOccurrence {
  readonly start: number; // ms since the epoch
  readonly end: number;
}

const MINUTE = 60_000;
const DAY = 86_400_000;

/** Minutes after midnight of "HH:MM" (24:00 allowed), or null. */
export function clockMinutes(text: string): number | null {
  const m = /^([01]?\d|2[0-4]):([0-5]\d)$/.exec(text.trim());
  if (!m) return null;
  const minutes = Number(m[1]) * 60 + Number(m[2]);
  return minutes <= 24 * 60 ? minutes : null;
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(timezone: string): Intl.DateTimeFormat {
  let f = formatters.get(timezone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone: timezone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
    formatters.set(timezone, f);
  }
  return f;
}

/** Whether Intl knows the time zone (the policy schema's check). */
export function isTimeZone(timezone: string): boolean {
  try {
    formatter(timezone);
    return true;
  } catch {
    return false;
  }
}

/** The zone's offset from UTC at an instant, in ms (local = utc + offset). */
function offsetAt(ms: number, timezone: string): number {
  if (timezone === "UTC") return 0;
  const parts: Record<string, number> = {};
  for (const p of formatter(timezone).formatToParts(new Date(ms)))
    if (p.type !== "literal") parts[p.type] = Number(p.value);
  const local = Date.UTC(
    parts.year!,
    parts.month! - 1,
    parts.day,
    parts.hour! % 24,
    parts.minute,
    parts.second,
  );
  return local - (ms - (ms % 1000));
}

/** The instant a local wall-clock time happens (a time skipped by a DST change moves forward by the gap). */
function zonedToUtc(localMs: number, timezone: string): number {
  if (timezone === "UTC") return localMs;
  // the planner asks for the same few window edges again and again: Intl is the slow part
  const key = `${timezone}|${localMs}`;
  const known = zoned.get(key);
  if (known !== undefined) return known;
  const first = localMs - offsetAt(localMs, timezone);
  const second = localMs - offsetAt(first, timezone);
  if (zoned.size > 50_000) zoned.clear();
  zoned.set(key, second);
  return second;
}
const zoned = new Map<string, number>();

/** Local midnight of the calendar day containing `ms`, as a "local ms" (UTC fields = local fields). */
function localDay(ms: number, timezone: string): number {
  const local = ms + offsetAt(ms, timezone);
  return local - (((local % DAY) + DAY) % DAY);
}

/** The window's occurrence that contains `at` or, if none does, the next one to open; null when it never opens. */
export function windowAt(w: WindowSpec, at: number): WindowOccurrence | null {
  const from = clockMinutes(w.from);
  const to = clockMinutes(w.to);
  if (from === null || to === null || w.days.length === 0) return null;
  const length = (to > from ? to - from : to + 24 * 60 - from) * MINUTE;
  // start the day before: an overnight window opened yesterday may still be open
  let day = localDay(at, w.timezone) - DAY;
  for (let i = 0; i < 9; i++, day += DAY) {
    const weekday = WEEKDAYS[new Date(day).getUTCDay()]!;
    if (!w.days.includes(weekday)) continue;
    const start = zonedToUtc(day + from * MINUTE, w.timezone);
    const end = zonedToUtc(day + from * MINUTE + length, w.timezone);
    if (end > at) return { start, end };
  }
  return null;
}

/** The window in words: "mon–fri 02:00–05:00 UTC". */
export function describeWindow(w: WindowSpec | null): string {
  if (!w) return "any time";
  const days = w.days.length === 7 ? "every day" : w.days.join(",");
  return `${days} ${w.from}–${w.to} ${w.timezone}`;
}
