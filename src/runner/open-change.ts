/**
 * Opening a change, the same whoever asks (a person's `rotate` or `disable-local-auth`, the
 * scheduler): `change_requested` is recorded with everything the change was built from, the change
 * is submitted (approvers asked, timers set) before anything is posted, then its evidence thread is
 * opened where the request came from. A slow or failing chat platform cannot leave it in `requested`.
 */
import type { Change, ThreadRef } from "../core/domain.js";
import type { ChannelRef } from "../core/messages.js";
import type { AsyncStore, Clock, Logger } from "../core/ports.js";
import type { ChatOut } from "./chat-out.js";
import type { Driver } from "./driver.js";

export interface OpenChangeDeps {
  readonly store: AsyncStore;
  readonly driver: Driver;
  readonly chat: ChatOut;
  readonly clock: Clock;
  readonly logger: Logger;
}

export async function openChange(
  d: OpenChangeDeps,
  change: Change,
  opts: {
    /** Who asked (the event's actor). */
    readonly actor: string;
    /** Where the evidence thread goes (none: approvers' DMs only). */
    readonly channel?: ChannelRef | undefined;
    /** Recorded in `change_requested` after the change's own fields (what the request was decided on). */
    readonly extra?: Readonly<Record<string, unknown>>;
    /** Runs right before the record is written (the scheduler's fencing check). */
    readonly before?: () => Promise<void>;
  },
): Promise<{ readonly submitted: Change; readonly thread: ThreadRef | null }> {
  const { store, driver, chat, logger } = d;
  await opts.before?.();
  await store.commit(
    change,
    [
      {
        changeId: change.id,
        type: "change_requested",
        at: change.createdAt,
        actor: opts.actor,
        payload: {
          requester: change.requester,
          account: { id: change.accountId, kind: change.accountKind },
          accountName: change.accountName,
          sandbox: change.sandbox,
          reason: change.reason,
          exposure: change.exposure,
          leakedSlot: change.leakedSlot,
          killNow: change.killNow,
          breakGlass: change.breakGlass,
          policy: change.policy,
          plan: change.plan,
          inventory: change.inventory,
          ...(change.scheduled ? { scheduled: change.scheduled } : {}),
          ...opts.extra,
        },
      },
    ],
    // a person's request, recorded by whichever replica took it (the scheduler fences itself first)
    { fenced: false },
  );
  const submitted = await driver.apply(change.id, { type: "submitted", at: d.clock.now().toISOString() });
  if (!submitted.ok) throw submitted.error;
  let thread: ThreadRef | null = null;
  if (opts.channel) {
    try {
      thread = await chat.openThread(submitted.change, opts.channel);
    } catch (e) {
      logger.warn({ err: e, changeId: change.id }, "could not open the evidence thread");
    }
    if (thread)
      await driver.note(change.id, "thread_opened", { thread }, "keyturn", (c) => ({ ...c, thread }));
  }
  return { submitted: submitted.change, thread };
}
