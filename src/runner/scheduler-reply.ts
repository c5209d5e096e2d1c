/** The `schedule` command: the calendar of scheduled rotations for the accounts the asker may read. */
import type { Command } from "../core/command.js";
import type { Principal } from "../core/domain.js";
import type { Reply } from "../core/messages.js";
import type { PolicyBook } from "../core/policy.js";
import type { Clock } from "../core/ports.js";
import { calendar, type CalendarRow } from "../core/schedule.js";
import { renderSchedule } from "../core/schedule-render.js";
import type { AccountDirectory } from "./account-directory.js";
import type { Queries } from "./queries.js";
import { scheduleEntries } from "./scheduler.js";

export interface ScheduleReplyDeps {
  readonly directory: AccountDirectory;
  readonly policy: PolicyBook;
  readonly clock: Clock;
  readonly queries: Queries;
}

/** The calendar rows the principal may read (the whole fleet is planned: other keys take turns too). */
export async function scheduleRows(
  d: ScheduleReplyDeps,
  who: Principal,
  days: number,
): Promise<CalendarRow[]> {
  const all = await d.directory.list(true);
  const readable = new Set(all.filter((a) => d.policy.can("read", who, a)).map((a) => a.id));
  if (readable.size === 0 && all.length > 0) d.policy.authorize("read", who, null, "`schedule`");
  const rows = calendar(
    await scheduleEntries(d, all),
    d.policy.fleetSchedule(),
    d.clock.now().getTime(),
    days,
  );
  return rows.filter((r) => readable.has(r.accountId));
}

export async function scheduleReply(
  d: ScheduleReplyDeps,
  who: Principal,
  cmd: Extract<Command, { name: "schedule" }>,
): Promise<Reply> {
  const rows = await scheduleRows(d, who, cmd.days);
  return {
    visibility: "ephemeral",
    message: renderSchedule(rows, { days: cmd.days, fleet: d.policy.fleetSchedule() }),
  };
}
