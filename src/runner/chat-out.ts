/**
 * Everything keyturn says in a change's evidence thread, in order: the parent card (coalesced
 * updates), one reply per step, notices, approver DMs. A chat failure is logged and never stops a
 * rotation; the card is re-rendered from the store, so a missed update heals on the next one.
 *
 * Chat never holds a change: every gateway call is bounded (chat-bounds.ts), nothing here throws into the
 * engine, a failed post is retried later in the background (the queue moves on meanwhile), and a post
 * given up on is named in the thread once the platform answers again.
 */
import { isOpen, type Change, type ThreadRef } from "../core/domain.js";
import type { ChannelRef, Message, Tone } from "../core/messages.js";
import type { ChatGateway, Logger, AsyncStore } from "../core/ports.js";
import {
  inWords,
  renderApprovalDm,
  renderChangeCard,
  renderNotice,
  renderStepReply,
  type Decision,
} from "../core/render/index.js";
import { recordChatPostFailure } from "../metrics.js";
import { bounded, CHAT_DEFAULTS, isPermanent, within, type ChatOutOptions } from "./chat-bounds.js";
import type { ChatRegistry } from "./chat-registry.js";
import { SerialQueues } from "./serial.js";
import {
  approvedBy,
  dmSays,
  dmsOf,
  PLATFORM_NAMES,
  recordDm,
  refKey,
  samePerson,
  UNREACHED_KV,
  type ApproverDm,
  type People,
} from "./approver-dms.js";

export { policyPeople, type People } from "./approver-dms.js";

type Task = (g: ChatGateway, c: Change, t: ThreadRef | null) => Promise<void>;

/** How long approver DMs of a new change wait for its evidence thread to be attempted, so they can link it. */
const THREAD_WAIT_MS = 1_000;

export class ChatOut {
  readonly #queues = new SerialQueues();
  /** Changes with a card update queued that nothing has been queued behind yet (a later render joins it). */
  readonly #renderPending = new Set<string>();
  /** The latest card update queued per change: an earlier one still in the queue leaves the card to it. */
  readonly #renderTicket = new Map<string, number>();
  /**
   * What each approver DM says now (its sentence and buttons): a DM is updated when that changes, not at
   * every step, so a person's DMs are not edited a dozen times and the channel's rate is kept for the thread.
   */
  readonly #dmShown = new Map<string, string>();
  /** Posts given up on, per change, named in its thread by the next post that gets through. */
  readonly #missed = new Map<string, string[]>();
  readonly #retries = new Set<NodeJS.Timeout>();
  /** Changes whose evidence thread has been attempted; DMs waiting for that attempt. */
  readonly #threadTried = new Set<string>();
  readonly #threadWaiters = new Map<string, (() => void)[]>();
  readonly #deferred = new Set<Promise<void>>();
  readonly #opts: Required<ChatOutOptions>;

  constructor(
    private readonly store: AsyncStore,
    private readonly chats: ChatRegistry,
    private readonly logger: Logger,
    private readonly label: string | undefined,
    options: ChatOutOptions = {},
    private readonly people: People = () => undefined,
  ) {
    this.#opts = { ...CHAT_DEFAULTS, ...options };
  }

  async idle(): Promise<void> {
    for (;;) {
      await this.#queues.idle();
      if (this.#deferred.size === 0) return;
      await Promise.all([...this.#deferred]);
    }
  }

  get busy(): boolean {
    return this.#queues.pending > 0 || this.#deferred.size > 0;
  }

  /** Drops the retries still waiting (on shutdown). */
  stop(): void {
    for (const t of this.#retries) clearTimeout(t);
    this.#retries.clear();
  }

  permalink(changeId: string): Promise<string | undefined> {
    return this.store.getKv<string>("permalink", changeId);
  }

  /** The change card as it stands. It carries no link: it is the thread the links point at. */
  async card(change: Change): Promise<Message> {
    return renderChangeCard(change, { label: this.label, decision: await this.#decision(change) });
  }

  /** Who rejected or cancelled the change and why, from its events. */
  async #decision(change: Change): Promise<Decision | undefined> {
    if (change.state !== "rejected" && change.state !== "cancelled") return undefined;
    const ev = (await this.store.events({ changeId: change.id }))
      .filter((e) => e.type === change.state)
      .at(-1);
    const p = ev?.payload as { by?: { displayName?: string }; reason?: string } | undefined;
    return p?.by?.displayName ? { by: p.by.displayName, reason: p.reason } : undefined;
  }

  /**
   * Posts the thread's parent. Awaited: the change records where its thread lives. Null when the platform
   * refused or did not answer in time: the change goes on without a thread, and never waits longer than
   * the open deadline. A card that arrives after that is marked as not followed.
   */
  async openThread(change: Change, channel: ChannelRef): Promise<ThreadRef | null> {
    const raw = this.chats.get(channel.platform);
    if (!raw) {
      this.#threadAttempted(change.id);
      return null;
    }
    const gateway = bounded(raw, this.#opts.callDeadlineMs);
    const posting = this.#queues.run(change.id, async () => {
      const thread = await gateway.postRoot(channel, await this.card(change));
      const link = await gateway.permalink(thread).catch(() => undefined);
      if (link) await this.store.putKv("permalink", change.id, link);
      return thread;
    });
    // queued DMs now follow the card, and can link it
    this.#threadAttempted(change.id);
    try {
      return await within(this.#opts.openDeadlineMs, posting, `${channel.platform} (evidence thread)`);
    } catch (e) {
      recordChatPostFailure(channel.platform, "gave_up");
      this.logger.warn(
        { err: e, changeId: change.id },
        "evidence thread not posted; the change goes on without it",
      );
      void posting.then(
        (late) => this.#disown(gateway, change, late),
        () => undefined,
      );
      return null;
    }
  }

  /**
   * Updates the card, then the approvers' DMs, to the change's latest state. A card update never runs
   * ahead of the thread: when a reply was queued after it, it leaves the card to the update queued after
   * that reply, so the card says COMPLETED only once the last step reply is posted.
   */
  render(changeId: string): void {
    if (this.#renderPending.has(changeId)) return; // a queued render will show the latest state
    this.#renderPending.add(changeId);
    const ticket = (this.#renderTicket.get(changeId) ?? 0) + 1;
    this.#renderTicket.set(changeId, ticket);
    const latest = () => this.#renderTicket.get(changeId) === ticket;
    this.#post(changeId, "card update", async (gateway, change, thread) => {
      this.#renderPending.delete(changeId);
      if (thread && latest()) {
        const card = await this.card(change);
        if (latest()) await gateway.updateRoot(thread, card);
      }
    });
    this.#post(
      changeId,
      "approver DM update",
      async (_gateway, change) => {
        if (latest()) await this.#updateDms(change);
      },
      false,
    );
  }

  stepReply(changeId: string, index: number): void {
    this.#post(changeId, `step ${index} reply`, async (gateway, change, thread) => {
      const step = change.steps.find((s) => s.index === index);
      if (step && thread) await gateway.reply(thread, renderStepReply(change, step));
    });
    this.#renderPending.delete(changeId); // the next card update goes after this reply
  }

  notice(changeId: string, text: string, tone: Tone): void {
    this.#post(changeId, "notice", async (gateway, change, thread) => {
      if (thread)
        await gateway.reply(
          thread,
          renderNotice(change, text, tone, { userText: await this.#decisionText(change) }),
        );
    });
    this.#renderPending.delete(changeId);
  }

  /** The user-written strings of a change's events (reasons of rejections, cancels, waivers). */
  async #decisionText(change: Change): Promise<string[]> {
    return (await this.store.events({ changeId: change.id })).flatMap((e) => {
      const p = e.payload as { reason?: unknown; by?: { displayName?: unknown } } | undefined;
      return [p?.reason, p?.by?.displayName].filter((x): x is string => typeof x === "string");
    });
  }

  /** Every approver's DM of the change, as this person should see it now (only those that changed are sent). */
  async #updateDms(change: Change): Promise<void> {
    const failed: unknown[] = [];
    for (const dm of await this.#dms(change.id)) {
      if (!dm.ref) continue;
      const raw = this.chats.get(dm.ref.platform);
      if (!raw) continue;
      const message = await this.#dmMessage(change, dm);
      const key = refKey(dm.ref);
      const shown = dmSays(message);
      if (this.#dmShown.get(key) === shown) continue;
      try {
        await bounded(raw, this.#opts.callDeadlineMs).updateRoot(dm.ref, message);
        this.#dmShown.set(key, shown);
      } catch (e) {
        this.logger.warn({ err: e, changeId: change.id, who: dm.who }, "approver DM not updated");
        failed.push(e);
      }
    }
    if (failed.length) throw failed[0];
  }

  #dms(changeId: string): Promise<ApproverDm[]> {
    return dmsOf(this.store, changeId);
  }

  /** One approver's DM: the change's state in words for them, buttons only while they have something to decide. */
  async #dmMessage(change: Change, dm: ApproverDm): Promise<Message> {
    const counted = change.approvals.filter((a) => a.planHash === change.plan.hash);
    const mine = counted.find((a) => approvedBy(dm, a.by));
    const all = await this.#dms(change.id);
    const waitingFor = [
      ...new Set(
        all.filter((o) => o.name !== dm.name && !counted.some((a) => approvedBy(o, a.by))).map((o) => o.name),
      ),
    ];
    return renderApprovalDm(change, {
      permalink: await this.permalink(change.id),
      label: this.label,
      approvedAt: mine?.at,
      waitingFor,
      decision: await this.#decision(change),
    });
  }

  /**
   * DMs every approver named by the policy (groups cannot be messaged; their members are listed in the
   * thread). Needs no thread: approvers are asked even when the card could not be posted. A retry asks only
   * those not reached yet, and only while the change is open.
   */
  notifyApprovers(changeId: string, change?: Change): void {
    const wait = this.#untilThreadAttempted(changeId, change);
    if (!wait) return this.#notifyApprovers(changeId);
    const deferred: Promise<void> = wait
      .then(() => this.#notifyApprovers(changeId))
      .finally(() => this.#deferred.delete(deferred));
    this.#deferred.add(deferred);
  }

  #notifyApprovers(changeId: string): void {
    const reached = new Set<string>();
    this.#post(
      changeId,
      "approver DMs",
      async (gateway, change, thread) => {
        if (!isOpen(change.state)) return;
        // one DM per person: e-mail/UPN entries when the policy has them (the platform ids beside them
        // usually name the same people), platform ids otherwise; groups cannot be messaged
        const direct = change.policy.resolvedApprovers.filter(
          (id) => !id.startsWith("slackgroup:") && !id.startsWith("group:") && !id.startsWith("person:"),
        );
        const emails = direct.filter((id) => id.includes("@"));
        const targets = new Set(emails.length ? emails : direct);
        const failed: string[] = [];
        const unreached: ApproverDm[] = [];
        for (const who of targets) {
          const person = this.people(who);
          if (reached.has(who) || samePerson(who, change.requester, person?.person)) continue;
          const dm: ApproverDm = {
            who,
            name: person?.name ?? who,
            ...(person?.person ? { person: person.person } : {}),
            ref: null,
          };
          await this.#recordDm(change.id, dm);
          try {
            const ref = await gateway.notify(who, await this.#dmMessage(change, dm));
            if (ref) {
              reached.add(who);
              await this.#recordDm(change.id, { ...dm, ref });
              this.#dmShown.set(refKey(ref), dmSays(await this.#dmMessage(change, { ...dm, ref })));
            } else {
              this.logger.info({ changeId, who }, "approver not reachable on this platform");
              unreached.push(dm);
            }
          } catch (e) {
            this.logger.warn({ err: e, changeId, who }, "approver notification failed");
            failed.push(who);
          }
        }
        // approvers keyturn could not message are named in the thread, once, so someone asks them in person
        const named = new Set((await this.store.getKv<string[]>(UNREACHED_KV, changeId)) ?? []);
        const news = [...new Set(unreached.map((d) => d.name))].filter((n) => !named.has(n));
        if (news.length) {
          const where = PLATFORM_NAMES[gateway.platform] ?? gateway.platform;
          const them = news.length === 1 ? "them" : "each of them";
          const text = `keyturn could not send a direct message to ${inWords(news)} on ${where}: the identities the policy gives ${them} match no one keyturn can message there. Ask ${them} to approve from the card above, or add the identity they use on ${where} to the policy.`;
          await this.store.putKv(UNREACHED_KV, changeId, [...named, ...news]);
          // the DMs of a new change follow its card, whose thread may be recorded a moment after it is posted
          const posted = thread ?? (await this.store.getChange(changeId))?.thread ?? null;
          if (posted) await gateway.reply(posted, renderNotice(change, text, "warning", { userText: news }));
          else
            this.#post(changeId, "notice", async (g, c, t) => {
              if (t) await g.reply(t, renderNotice(c, text, "warning", { userText: news }));
            });
        }
        if (failed.length) throw new Error(`approver DMs not delivered to ${failed.join(", ")}`);
      },
      false,
    );
  }

  #recordDm(changeId: string, dm: ApproverDm): Promise<void> {
    return recordDm(this.store, changeId, dm);
  }

  /** DM to a consumer owner; true when someone was reached. Bounded: a step waits for it. */
  async notifyOwner(changeId: string, owner: string, text: string): Promise<boolean> {
    try {
      const change = await this.store.getChange(changeId);
      const gateway = change && this.#gatewayFor(change);
      if (!change || !gateway) return false;
      return (await gateway.notify(owner, renderNotice(change, text, "warning"))) !== null;
    } catch (e) {
      this.logger.warn({ err: e, changeId, owner }, "owner notification failed");
      return false;
    }
  }

  /** A change is recorded and submitted before its card is posted: its first DMs wait (briefly) for the card. */
  #untilThreadAttempted(changeId: string, change: Change | undefined): Promise<void> | null {
    if (this.#threadTried.has(changeId)) return null;
    if (!change || change.thread) return null;
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, THREAD_WAIT_MS);
      timer.unref();
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      this.#threadWaiters.set(changeId, [...(this.#threadWaiters.get(changeId) ?? []), done]);
    }).finally(() => this.#threadWaiters.delete(changeId));
  }

  #threadAttempted(changeId: string): void {
    this.#threadTried.add(changeId);
    for (const w of this.#threadWaiters.get(changeId) ?? []) w();
  }

  #gatewayFor(change: Change): ChatGateway | undefined {
    // no thread (it could not be posted): direct messages still go out on the requester's platform
    const g = this.chats.get(change.thread?.platform ?? change.requester.platform);
    return g && bounded(g, this.#opts.callDeadlineMs);
  }

  #post(changeId: string, what: string, task: Task, needsThread = true, attempt = 0): void {
    void this.#queues.run(changeId, async () => {
      let platform = "unknown";
      try {
        const change = await this.store.getChange(changeId);
        const gateway = change && this.#gatewayFor(change);
        if (gateway) platform = gateway.platform;
        if (!change || !gateway || (needsThread && !change.thread)) {
          this.#renderPending.delete(changeId);
          return;
        }
        await task(gateway, change, change.thread);
        if (change.thread) await this.#reportMissed(gateway, change, change.thread);
      } catch (e) {
        this.#renderPending.delete(changeId);
        this.#failed(changeId, what, task, needsThread, attempt, e, platform);
      }
    });
  }

  #failed(
    changeId: string,
    what: string,
    task: Task,
    needsThread: boolean,
    attempt: number,
    e: unknown,
    platform: string,
  ): void {
    const delay = this.#opts.retryDelaysMs[attempt];
    const retrying = delay !== undefined && !isPermanent(e);
    recordChatPostFailure(platform, retrying ? "retrying" : "gave_up");
    if (retrying) {
      this.logger.warn({ err: e, changeId, retryInMs: delay }, `chat ${what} failed; retrying`);
      const t = setTimeout(() => {
        this.#retries.delete(t);
        this.#post(changeId, what, task, needsThread, attempt + 1);
      }, delay);
      t.unref();
      this.#retries.add(t);
      return;
    }
    this.logger.error(
      { err: e, changeId, attempts: attempt + 1 },
      `chat ${what} failed; keyturn gave up on it`,
    );
    this.#missed.set(changeId, [...(this.#missed.get(changeId) ?? []), what]);
  }

  async #reportMissed(gateway: ChatGateway, change: Change, thread: ThreadRef): Promise<void> {
    const missed = this.#missed.get(change.id);
    if (!missed?.length) return;
    this.#missed.delete(change.id);
    const text = `keyturn could not post here earlier (${[...new Set(missed)].join(", ")}): the chat platform did not answer or refused. The card above shows the current state; \`history ${change.id}\` lists every step.`;
    await gateway.reply(thread, renderNotice(change, text, "warning")).catch((e: unknown) => {
      this.logger.warn({ err: e, changeId: change.id }, "could not report missed chat posts");
      this.#missed.set(change.id, [...missed, ...(this.#missed.get(change.id) ?? [])]);
    });
  }

  /** A card posted after its change went on without it: say so on it, so nobody follows a stale card. */
  async #disown(gateway: ChatGateway, change: Change, late: ThreadRef): Promise<void> {
    const text = `This card was posted late, after ${change.id} had gone on without it, and is not updated: follow ${change.id} with \`status ${change.id}\` and \`history ${change.id}\`.`;
    await gateway.updateRoot(late, renderNotice(change, text, "warning")).catch((e: unknown) => {
      this.logger.warn({ err: e, changeId: change.id }, "could not mark a late card");
    });
  }
}
