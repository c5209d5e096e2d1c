/**
 * Opens the change the scheduler decided on: the standard staged plan (never exposure), requested by
 * keyturn's scheduler under the policy rule that authorised it. `schedule: auto` starts it with no
 * approval unless something needs a person — a consumer that will hold the cutover (pinned version,
 * literal copy) or a NEW key holder (delivering a key to a holder nobody approved is a person's call);
 * then, and for `schedule: request`, the approvers are asked as for any request.
 */
import type { Account, Change, PrincipalRef, ScheduledBy } from "../core/domain.js";
import { requestedChange } from "../core/domain.js";
import type { ChannelRef } from "../core/messages.js";
import { buildPlan } from "../core/planner.js";
import type { PolicyBook } from "../core/policy.js";
import type { AzurePorts, Clock, Logger, AsyncStore } from "../core/ports.js";
import { blockingConsumers, withBlockingNotes } from "./blocking-consumers.js";
import type { ChatOut } from "./chat-out.js";
import type { Driver } from "./driver.js";
import { openChange } from "./open-change.js";

/** Who requests a scheduled rotation: keyturn itself, never a person (so no person's approval is self-approval). */
export const SCHEDULER: PrincipalRef = {
  platform: "console",
  id: "keyturn:scheduler",
  displayName: "keyturn scheduler",
};

export interface OpenDeps {
  readonly store: AsyncStore;
  readonly azure: AzurePorts;
  readonly policy: PolicyBook;
  readonly driver: Driver;
  readonly chat: ChatOut;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly sandbox: boolean;
  /** Where the evidence thread of a scheduled change goes (none: approvers' DMs only). */
  readonly channel?: ChannelRef | undefined;
  /** Throws when this process no longer holds the runner lease. */
  readonly fence: () => Promise<void>;
}

export async function openScheduledChange(
  d: OpenDeps,
  account: Account,
  how: { mode: "auto" | "request"; policy: string; due: string | null },
): Promise<Change | null> {
  if ((await d.store.listChanges({ accountId: account.id, open: true }))[0]) return null; // a person got there first
  const snapshot = d.policy.snapshotFor(account, { exposure: false });
  const inventory = await d.azure.inventory.take(account);
  const built = buildPlan({
    account,
    inventory,
    exposure: false,
    leakedSlot: null,
    killNow: false,
    policy: snapshot,
  });
  const id = await d.store.nextChangeId();
  const blocking = blockingConsumers(id, built, inventory.consumers);
  const plan = withBlockingNotes(id, built, inventory.consumers);
  const fresh = (plan.newConsumerIds ?? [])
    .map((cid) => inventory.consumers.find((c) => c.id === cid)?.name ?? cid)
    .map((name) => `${name} is a NEW key holder: a person decides whether it receives the new key`);
  const asks = how.mode === "auto" ? [...blocking, ...fresh] : [];
  const scheduled: ScheduledBy = {
    mode: how.mode,
    policy: how.policy,
    due: how.due,
    ...(asks.length ? { asksPerson: asks } : {}),
  };
  const due = how.due ? how.due.slice(0, 10) : "never rotated on record";
  const reason =
    how.mode === "auto"
      ? `Scheduled rotation (due ${due}): started by schedule (policy ${how.policy}: auto)`
      : `Scheduled rotation (due ${due}): opened by schedule (policy ${how.policy}: request)`;
  const now = d.clock.now().toISOString();
  const change = requestedChange({
    id,
    accountId: account.id,
    accountName: account.name,
    accountKind: account.kind,
    reason,
    exposure: false,
    leakedSlot: null,
    killNow: false,
    breakGlass: false,
    requester: SCHEDULER,
    policy: snapshot,
    plan,
    inventory,
    createdAt: now,
    sandbox: d.sandbox,
    scheduled,
  });
  const { submitted } = await openChange(d, change, {
    actor: SCHEDULER.id,
    channel: d.channel,
    before: d.fence,
  });
  if (asks.length)
    d.chat.notice(
      id,
      `keyturn would have started ${id} by schedule (policy ${how.policy}: auto), but a person must decide first: ${asks.join(" ")} Approvers: review the card and approve or reject.`,
      "warning",
    );
  return (await d.store.getChange(id)) ?? submitted;
}
