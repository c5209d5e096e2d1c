/**
 * Scheduled rotation: a runner timer (kind `schedule`, fired only by the lease holder) asks the pure
 * planner (src/core/schedule.ts) which due keys to open now, opens them, and sets itself again for
 * the next slot (at least every 5 minutes, so freed concurrency is used soon). `remind` policies are
 * left to the reminders.
 */
import type { Account, Change } from "../core/domain.js";
import type { ChannelRef } from "../core/messages.js";
import type { PolicyBook } from "../core/policy.js";
import type { AzurePorts, Clock, Logger, AsyncStore } from "../core/ports.js";
import { calendar, type CalendarRow, nextStart, planNow, type ScheduleEntry } from "../core/schedule.js";
import type { AccountDirectory } from "./account-directory.js";
import type { ChatOut } from "./chat-out.js";
import type { Driver } from "./driver.js";
import type { Queries } from "./queries.js";
import { openScheduledChange } from "./scheduler-open.js";

export const SCHEDULE_TIMER = "schedule:tick";
const MAX_WAIT_MS = 5 * 60_000;
const MIN_WAIT_MS = 30_000;

export interface SchedulerDeps {
  readonly store: AsyncStore;
  readonly azure: AzurePorts;
  readonly policy: PolicyBook;
  readonly directory: AccountDirectory;
  readonly queries: Queries;
  readonly driver: Driver;
  readonly chat: ChatOut;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly sandbox: boolean;
  /** Where scheduled changes' evidence threads go. */
  readonly channel?: ChannelRef | undefined;
  readonly fence: () => Promise<void>;
}

export class Scheduler {
  constructor(private readonly d: SchedulerDeps) {}

  /** Makes sure the scheduler's timer is set (the runner calls it when it takes the lease). */
  schedule(): Promise<void> {
    return this.#setTimer(this.d.clock.now().getTime() + MIN_WAIT_MS);
  }

  /** Every account as the planner sees it. */
  async entries(accounts?: readonly Account[]): Promise<ScheduleEntry[]> {
    return scheduleEntries(this.d, accounts ?? (await this.d.directory.list(true)));
  }

  /** Opens the rotations that are due now; returns them. Sets the timer again whatever happens. */
  async run(): Promise<Change[]> {
    const now = this.d.clock.now().getTime();
    const fleet = this.d.policy.fleetSchedule();
    const opened: Change[] = [];
    let next = now + MAX_WAIT_MS;
    try {
      // reminders only: no Azure call
      if (!this.d.policy.schedulesAnything()) return opened;
      const accounts = await this.d.directory.list(true);
      if (!accounts.some((a) => this.d.policy.scheduleFor(a).mode !== "remind")) return opened;
      const entries = await this.entries(accounts);
      for (const start of planNow(entries, fleet, now)) {
        const account = accounts.find((a) => a.id === start.entry.accountId)!;
        const mode = start.entry.mode === "auto" ? "auto" : "request";
        try {
          const change = await openScheduledChange({ ...this.d, channel: this.d.channel }, account, {
            mode,
            policy: start.entry.policy,
            due: start.entry.due === null ? null : new Date(start.entry.due).toISOString(),
          });
          if (change) opened.push(change);
          this.d.logger.info(
            { account: account.name, changeId: change?.id, mode, policy: start.entry.policy },
            "scheduled rotation opened",
          );
        } catch (e) {
          // Azure throttled or refused: the key stays due and the next run tries again
          this.d.logger.warn({ err: e, account: account.name }, "scheduled rotation could not be opened");
        }
      }
      for (const e of entries) {
        if (e.open || opened.some((c) => c.accountId === e.accountId)) continue;
        const s = nextStart(e, fleet, now + 1000, MAX_WAIT_MS);
        if (s) next = Math.min(next, s.at);
      }
    } catch (e) {
      // the accounts could not be listed (Azure throttled or refused): nothing opened, the next run tries again
      this.d.logger.warn({ err: e }, "scheduled rotation check failed; trying again in 5 minutes");
    } finally {
      await this.#setTimer(Math.max(now + MIN_WAIT_MS, Math.min(next, now + MAX_WAIT_MS)));
    }
    return opened;
  }

  /** What will rotate when over the next `days`, and why some will not. */
  async calendar(days: number): Promise<CalendarRow[]> {
    return calendar(await this.entries(), this.d.policy.fleetSchedule(), this.d.clock.now().getTime(), days);
  }

  #setTimer(at: number): Promise<void> {
    return this.d.store.setTimer({
      id: SCHEDULE_TIMER,
      changeId: null,
      kind: "schedule",
      dueAt: new Date(at).toISOString(),
    });
  }
}

/** Every account as the planner sees it: its policy's schedule, due date and open change. */
export function scheduleEntries(
  d: { readonly policy: PolicyBook; readonly queries: Queries },
  accounts: readonly Account[],
): Promise<ScheduleEntry[]> {
  const { policy, queries } = d;
  return Promise.all(
    accounts.map(async (account) => {
      const how = policy.scheduleFor(account);
      const brief = await queries.brief(account);
      const changes = await queries.changes(account.id, { limit: 5 });
      const open = changes.find((c) => c.id === brief.openChangeId) ?? null;
      return {
        accountId: account.id,
        name: account.name,
        policy: how.policy,
        mode: how.mode,
        window: how.window,
        due: brief.nextDue ? Date.parse(brief.nextDue) : null,
        cadenceDays: brief.cadenceDays,
        estimateSeconds: how.estimateSeconds,
        keyFree: account.disableLocalAuth,
        open: open
          ? {
              id: open.id,
              scheduled: !!open.scheduled,
              exposure: open.exposure,
              waiting: open.state === "requested" || open.state === "awaiting_approval",
            }
          : null,
        asksPerson: how.mode === "auto" ? asksPersonHint(brief.lastRotation !== null, changes) : null,
      };
    }),
  );
}

/** What will make a `schedule: auto` rotation ask a person, as far as the record tells before it starts. */
function asksPersonHint(rotatedBefore: boolean, changes: readonly Change[]): string | null {
  if (!rotatedBefore)
    return "asks the approvers first: its key holders are NEW until a rotation by keyturn delivers to them";
  const last = changes[0];
  const blocks = last?.plan.notes?.filter((n) => n.startsWith("BLOCKS THE CUTOVER")) ?? [];
  return blocks.length
    ? `asks the approvers first: a consumer held the cutover of ${last!.id} (${blocks.length} blocking) — re-pin or remove it to let it run by itself`
    : null;
}
