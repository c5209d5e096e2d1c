/**
 * Everything keyturn says in a change's evidence thread, in order: the parent card (coalesced
 * updates), one reply per step, notices, approver DMs. A chat failure is logged and never stops a
 * rotation; the card is re-rendered from the store, so a missed update heals on the next one.
 *
 * Chat never holds a change: every gateway call is bounded (chat-bounds.ts), nothing here throws into the
 * engine, a failed post is retried later in the background (the queue moves on meanwhile), and a post
 * given up on is named in the thread once the platform answers again.
 */
import { isOpen, type Change, type PrincipalRef, type ThreadRef } from "../core/domain.js";
import type { ChannelRef, Message, Tone } from "../core/messages.js";
import type { ChatGateway, Logger, Store } from "../core/ports.js";
import {
  renderApprovalRequest,
  renderChangeCard,
  renderNotice,
  renderStepReply,
} from "../core/render/index.js";
import { bounded, CHAT_DEFAULTS, isPermanent, within, type ChatOutOptions } from "./chat-bounds.js";
import type { ChatRegistry } from "./chat-registry.js";
import { SerialQueues } from "./serial.js";

type Task = (g: ChatGateway, c: Change, t: ThreadRef | null) => Promise<void>;

/** How long approver DMs of a new change wait for its evidence thread to be attempted, so they can link it. */
const THREAD_WAIT_MS = 1_000;

export class ChatOut {
  readonly #queues = new SerialQueues();
  readonly #renderPending = new Set<string>();
  /** Posts given up on, per change, named in its thread by the next post that gets through. */
  readonly #missed = new Map<string, string[]>();
  readonly #retries = new Set<NodeJS.Timeout>();
  /** Changes whose evidence thread has been attempted; DMs waiting for that attempt. */
  readonly #threadTried = new Set<string>();
  readonly #threadWaiters = new Map<string, (() => void)[]>();
  readonly #deferred = new Set<Promise<void>>();
  readonly #opts: Required<ChatOutOptions>;

  constructor(
    private readonly store: Store,
    private readonly chats: ChatRegistry,
    private readonly logger: Logger,
    private readonly label: string | undefined,
    options: ChatOutOptions = {},
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

  permalink(changeId: string): string | undefined {
    return this.store.getKv<string>("permalink", changeId);
  }

  card(change: Change): Message {
    return renderChangeCard(change, { permalink: this.permalink(change.id), label: this.label });
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
      const thread = await gateway.postRoot(channel, this.card(change));
      const link = await gateway.permalink(thread).catch(() => undefined);
      if (link) this.store.putKv("permalink", change.id, link);
      return thread;
    });
    // queued DMs now follow the card, and can link it
    this.#threadAttempted(change.id);
    try {
      return await within(this.#opts.openDeadlineMs, posting, `${channel.platform} (evidence thread)`);
    } catch (e) {
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

  render(changeId: string): void {
    if (this.#renderPending.has(changeId)) return; // a queued render will show the latest state
    this.#renderPending.add(changeId);
    this.#post(changeId, "card update", async (gateway, change, thread) => {
      this.#renderPending.delete(changeId);
      if (thread) await gateway.updateRoot(thread, this.card(change));
    });
  }

  stepReply(changeId: string, index: number): void {
    this.#post(changeId, `step ${index} reply`, async (gateway, change, thread) => {
      const step = change.steps.find((s) => s.index === index);
      if (step && thread) await gateway.reply(thread, renderStepReply(change, step));
    });
  }

  notice(changeId: string, text: string, tone: Tone): void {
    this.#post(changeId, "notice", async (gateway, change, thread) => {
      if (thread) await gateway.reply(thread, renderNotice(change, text, tone));
    });
  }

  /**
   * DMs every approver named by the policy (groups cannot be messaged; their members are listed in the
   * thread). Needs no thread: approvers are asked even when the card could not be posted. A retry asks only
   * those not reached yet, and only while the change is open.
   */
  notifyApprovers(changeId: string): void {
    const wait = this.#untilThreadAttempted(changeId);
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
      async (gateway, change) => {
        if (!isOpen(change.state)) return;
        const message = renderApprovalRequest(change, this.permalink(change.id));
        // one DM per person: e-mail/UPN entries when the policy has them (the platform ids beside them
        // usually name the same people), platform ids otherwise; groups cannot be messaged
        const direct = change.policy.resolvedApprovers.filter(
          (id) => !id.startsWith("slackgroup:") && !id.startsWith("group:"),
        );
        const emails = direct.filter((id) => id.includes("@"));
        const targets = new Set(emails.length ? emails : direct);
        const failed: string[] = [];
        for (const who of targets) {
          if (reached.has(who) || samePerson(who, change.requester)) continue;
          try {
            if (await gateway.notify(who, message)) reached.add(who);
            else this.logger.info({ changeId, who }, "approver not reachable on this platform");
          } catch (e) {
            this.logger.warn({ err: e, changeId, who }, "approver notification failed");
            failed.push(who);
          }
        }
        if (failed.length) throw new Error(`approver DMs not delivered to ${failed.join(", ")}`);
      },
      false,
    );
  }

  /** DM to a consumer owner; true when someone was reached. Bounded: a step waits for it. */
  async notifyOwner(changeId: string, owner: string, text: string): Promise<boolean> {
    try {
      const change = this.store.getChange(changeId);
      const gateway = change && this.#gatewayFor(change);
      if (!change || !gateway) return false;
      return (await gateway.notify(owner, renderNotice(change, text, "warning"))) !== null;
    } catch (e) {
      this.logger.warn({ err: e, changeId, owner }, "owner notification failed");
      return false;
    }
  }

  /** A change is recorded and submitted before its card is posted: its first DMs wait (briefly) for the card. */
  #untilThreadAttempted(changeId: string): Promise<void> | null {
    if (this.#threadTried.has(changeId)) return null;
    let change: Change | undefined;
    try {
      change = this.store.getChange(changeId);
    } catch {
      return null;
    }
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
      try {
        const change = this.store.getChange(changeId);
        const gateway = change && this.#gatewayFor(change);
        if (!change || !gateway || (needsThread && !change.thread)) {
          this.#renderPending.delete(changeId);
          return;
        }
        await task(gateway, change, change.thread);
        if (change.thread) await this.#reportMissed(gateway, change, change.thread);
      } catch (e) {
        this.#renderPending.delete(changeId);
        this.#failed(changeId, what, task, needsThread, attempt, e);
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
  ): void {
    const delay = this.#opts.retryDelaysMs[attempt];
    if (delay !== undefined && !isPermanent(e)) {
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

/** Whether an approver identity names the requester (never DM people to approve their own change). */
function samePerson(identity: string, requester: PrincipalRef): boolean {
  const id = requester.id.toLowerCase();
  const tail = id.split(":").pop() ?? id;
  return identity === id || identity.endsWith(`:${tail}`);
}
