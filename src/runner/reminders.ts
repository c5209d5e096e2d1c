/**
 * Rotation hygiene: owners are nudged 30 and 10 days before a key is due, and a weekly digest of
 * overdue keys goes to a configured channel, pointing at the fleet posture report. Each nudge is sent
 * once per due date (recorded in the store).
 */
import type { Account, AccountStatus } from "../core/domain.js";
import type { AccountSchedule } from "../core/policy.js";
import type { ChannelRef, Message } from "../core/messages.js";
import type { Clock, Logger, AsyncStore } from "../core/ports.js";
import { renderList } from "../core/render/index.js";
import type { AccountDirectory } from "./account-directory.js";
import type { ChatRegistry } from "./chat-registry.js";
import type { Queries } from "./queries.js";
import { signedHeadLine } from "./witness.js";

const DAY = 86_400_000;
export const NUDGE_DAYS = [30, 10] as const;
/** Where the digest points for the whole picture (every account, not only the overdue ones). */
export const REPORT_HOWTO =
  "Every account's posture (where its key is stored, last rotation, known and NEW key holders, listKeys callers, key-free readiness): type `report` here for the summary and the full report as files, or run `keyturn report --format md|csv|json` (add `--fail-on overdue` in a pipeline).";

export class Reminders {
  constructor(
    private readonly store: AsyncStore,
    private readonly directory: AccountDirectory,
    private readonly queries: Queries,
    private readonly chats: ChatRegistry,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly digestChannel?: ChannelRef,
    /** How the policy rotates an account on schedule (the nudge says whether the owner has anything to do). */
    private readonly scheduleFor?: (account: Account) => AccountSchedule,
  ) {}

  /** Makes sure the daily scan and the weekly digest are scheduled. */
  async schedule(): Promise<void> {
    const now = this.clock.now().getTime();
    if (!(await this.store.getKv<boolean>("reminders", "scheduled"))) {
      await this.store.setTimer({
        id: "reminders:daily",
        changeId: null,
        kind: "reminder",
        dueAt: new Date(now + 60_000).toISOString(),
      });
      if (this.digestChannel)
        await this.store.setTimer({
          id: "reminders:digest",
          changeId: null,
          kind: "digest",
          dueAt: new Date(now + 7 * DAY).toISOString(),
        });
      await this.store.putKv("reminders", "scheduled", true);
    }
  }

  /** Sends the nudges that are due; returns how many people were reached. */
  async nudge(): Promise<number> {
    const now = this.clock.now().getTime();
    let sent = 0;
    for (const account of await this.directory.list(true)) {
      const s = await this.queries.brief(account);
      if (!s.nextDue || !s.owner) continue;
      const daysLeft = (Date.parse(s.nextDue) - now) / DAY;
      const threshold = NUDGE_DAYS.filter((d) => daysLeft <= d && daysLeft > 0).at(-1);
      if (threshold === undefined) continue;
      const key = `${account.id}|${s.nextDue.slice(0, 10)}|${threshold}`;
      if (await this.store.getKv<boolean>("reminder.sent", key)) continue;
      if (await this.#notify(s.owner, nudgeMessage(s, Math.ceil(daysLeft), this.scheduleFor?.(account))))
        sent++;
      await this.store.putKv("reminder.sent", key, true);
    }
    await this.store.setTimer({
      id: "reminders:daily",
      changeId: null,
      kind: "reminder",
      dueAt: new Date(now + DAY).toISOString(),
    });
    return sent;
  }

  async digest(): Promise<void> {
    const now = this.clock.now().getTime();
    const channel = this.digestChannel;
    if (!channel) return;
    const overdue = (
      await Promise.all((await this.directory.list(true)).map((a) => this.queries.brief(a)))
    ).filter((s) => s.overdue);
    const gateway = this.chats.get(channel.platform);
    // every week, overdue keys or not: the digest also witnesses the audit log's signed head
    const witness = await signedHeadLine(this.store, this.clock.now().toISOString(), this.logger);
    const list: Message =
      overdue.length > 0
        ? renderList(overdue, { overdue: true })
        : {
            text: "Weekly digest: no key is overdue for rotation.",
            tone: "success",
            // the sentence is what a person reads first: a block of its own, above the report's pointer
            sections: [{ lines: ["Weekly digest: no key is overdue for rotation."] }],
          };
    const withReport: Message = {
      ...list,
      sections: [...(list.sections ?? []), { heading: "Fleet posture report", lines: [REPORT_HOWTO] }],
    };
    if (gateway) {
      await gateway
        .postRoot(channel, { ...withReport, context: [...(withReport.context ?? []), witness] })
        .catch((e: unknown) => this.logger.warn({ err: e }, "digest failed"));
    }
    await this.store.setTimer({
      id: "reminders:digest",
      changeId: null,
      kind: "digest",
      dueAt: new Date(now + 7 * DAY).toISOString(),
    });
  }

  async #notify(owner: string, message: Message): Promise<boolean> {
    for (const g of this.chats.all()) {
      if (await g.notify(owner, message).catch(() => null)) return true;
    }
    return false;
  }
}

/** What to do about a key coming due: start it (remind), or nothing unless asked (request, auto). */
function nextStep(s: AccountStatus, schedule: AccountSchedule | undefined): string {
  switch (schedule?.mode) {
    case "auto":
      return `keyturn rotates it itself inside its maintenance window (policy ${schedule.policy}: schedule auto); it asks the approvers first only if a consumer would hold the cutover or a NEW key holder appears. Type \`schedule\` to see when.`;
    case "request":
      return `keyturn opens the rotation itself when it is due and asks the approvers (policy ${schedule.policy}: schedule request). Type \`schedule\` to see when.`;
    default:
      return `Start it with: rotate ${s.account.name} --reason "scheduled rotation"`;
  }
}

export function nudgeMessage(s: AccountStatus, days: number, schedule?: AccountSchedule): Message {
  return {
    text: `The keys of ${s.account.name} are due for rotation in ${days} day(s) (${s.nextDue?.slice(0, 10)}).`,
    title: `Rotation due in ${days} day(s): ${s.account.name}`,
    tone: "warning",
    fields: [
      { label: "Account", value: s.account.name },
      {
        label: "Last rotation",
        value: s.lastRotation
          ? `${s.lastRotation.at.slice(0, 10)} by ${s.lastRotation.by}`
          : "none on record",
      },
      { label: "Due", value: s.nextDue?.slice(0, 10) ?? "now" },
    ],
    sections: [{ lines: [nextStep(s, schedule)] }],
  };
}
