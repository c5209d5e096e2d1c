/** The `schedule` answer: the calendar of scheduled rotations, in chat and as JSON for pipelines. */
import { formatDuration } from "./duration.js";
import type { Message } from "./messages.js";
import type { CalendarRow, FleetSchedule } from "./schedule.js";
import { describeWindow } from "./schedule-window.js";

const when = (ms: number): string => `${new Date(ms).toISOString().slice(0, 16).replace("T", " ")} UTC`;
const rgOf = (id: string): string => /\/resourceGroups\/([^/]+)/i.exec(id)?.[1] ?? "";

/** Names as commands accept them: resource-group/name where two accounts share a name. */
function names(rows: readonly CalendarRow[]): (r: CalendarRow) => string {
  const ids = new Map<string, Set<string>>();
  for (const r of rows)
    ids.set(r.name.toLowerCase(), (ids.get(r.name.toLowerCase()) ?? new Set()).add(r.accountId));
  return (r) => ((ids.get(r.name.toLowerCase())?.size ?? 0) > 1 ? `${rgOf(r.accountId)}/${r.name}` : r.name);
}

export function renderSchedule(
  rows: readonly CalendarRow[],
  opts: { days: number; fleet: FleetSchedule },
): Message {
  const name = names(rows);
  const planned = rows.filter((r) => r.at !== null);
  const other = rows.filter((r) => r.at === null);
  const how = (r: CalendarRow) =>
    r.mode === "auto"
      ? "auto: keyturn starts it, no approval"
      : r.mode === "request"
        ? "request: keyturn opens it, approvers click"
        : "remind";
  const title = `Scheduled rotations, next ${opts.days} days: ${planned.length}`;
  return {
    text: title,
    title,
    tone: "info",
    fields: [
      { label: "At once (fleet-wide)", value: `${opts.fleet.concurrency}` },
      { label: "Jitter", value: `up to ${formatDuration(opts.fleet.jitterSeconds)} into each window` },
    ],
    sections: [
      {
        heading: "Will rotate",
        lines: planned.length
          ? planned.map(
              (r) =>
                `${when(r.at!)} — ${name(r)} — ${how(r)} (policy ${r.policy}, window ${describeWindow(r.window)})${r.note ? ` — ${r.note}` : ""}`,
            )
          : ["Nothing within the period."],
      },
      ...(other.length
        ? [
            {
              heading: "Will not rotate by schedule",
              lines: other.map((r) => `${name(r)} — ${r.mode} (policy ${r.policy}) — ${r.note ?? ""}`),
            },
          ]
        : []),
      {
        lines: [
          "A policy's schedule: auto starts due rotations inside its window with no approval (never for a suspected exposure); a consumer that would hold the cutover, or a NEW key holder, makes it ask the approvers instead. schedule: request opens the change and asks the approvers; remind only reminds.",
        ],
      },
    ],
  };
}

/** The calendar for pipelines (`keyturn schedule --json`). */
export function scheduleJson(
  rows: readonly CalendarRow[],
  opts: { days: number; fleet: FleetSchedule; now: number },
) {
  return {
    generatedAt: new Date(opts.now).toISOString(),
    days: opts.days,
    concurrency: opts.fleet.concurrency,
    jitterSeconds: opts.fleet.jitterSeconds,
    rotations: rows.map((r) => ({
      account: r.name,
      accountId: r.accountId,
      policy: r.policy,
      mode: r.mode,
      window: r.window ? describeWindow(r.window) : null,
      startsAt: r.at === null ? null : new Date(r.at).toISOString(),
      due: r.due === null ? null : new Date(r.due).toISOString(),
      note: r.note,
    })),
  };
}
