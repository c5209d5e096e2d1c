/**
 * Everything keyturn says in a change's evidence thread, in order: the parent card (coalesced
 * updates), one reply per step, notices, approver DMs. A chat failure is logged and never stops a
 * rotation; the card is re-rendered from the store, so a missed update heals on the next one.
 */
import type { Change, PrincipalRef, ThreadRef } from "../core/domain.js";
import type { ChannelRef, Message, Tone } from "../core/messages.js";
import type { ChatGateway, Logger, Store } from "../core/ports.js";
import {
  renderApprovalRequest,
  renderChangeCard,
  renderNotice,
  renderStepReply,
} from "../core/render/index.js";
import type { ChatRegistry } from "./chat-registry.js";
import { SerialQueues } from "./serial.js";

export class ChatOut {
  readonly #queues = new SerialQueues();
  readonly #renderPending = new Set<string>();

  constructor(
    private readonly store: Store,
    private readonly chats: ChatRegistry,
    private readonly logger: Logger,
    private readonly label: string | undefined,
  ) {}

  idle(): Promise<void> {
    return this.#queues.idle();
  }

  get busy(): boolean {
    return this.#queues.pending > 0;
  }

  permalink(changeId: string): string | undefined {
    return this.store.getKv<string>("permalink", changeId);
  }

  card(change: Change): Message {
    return renderChangeCard(change, { permalink: this.permalink(change.id), label: this.label });
  }

  /** Posts the thread's parent. Awaited: the change records where its thread lives. */
  async openThread(change: Change, channel: ChannelRef): Promise<ThreadRef | null> {
    const gateway = this.chats.get(channel.platform);
    if (!gateway) return null;
    return this.#queues.run(change.id, async () => {
      const thread = await gateway.postRoot(channel, this.card(change));
      const link = await gateway.permalink(thread).catch(() => undefined);
      if (link) this.store.putKv("permalink", change.id, link);
      return thread;
    });
  }

  render(changeId: string): void {
    if (this.#renderPending.has(changeId)) return; // a queued render will show the latest state
    this.#renderPending.add(changeId);
    this.#post(changeId, "render", async (gateway, change, thread) => {
      this.#renderPending.delete(changeId);
      await gateway.updateRoot(thread, this.card(change));
    });
  }

  stepReply(changeId: string, index: number): void {
    this.#post(changeId, "step reply", async (gateway, change, thread) => {
      const step = change.steps.find((s) => s.index === index);
      if (step) await gateway.reply(thread, renderStepReply(change, step));
    });
  }

  notice(changeId: string, text: string, tone: Tone): void {
    this.#post(changeId, "notice", async (gateway, change, thread) => {
      await gateway.reply(thread, renderNotice(change, text, tone));
    });
  }

  /** DMs every approver named by the policy (groups cannot be messaged; their members are listed in the thread). */
  notifyApprovers(changeId: string): void {
    this.#post(changeId, "approver DMs", async (gateway, change) => {
      const message = renderApprovalRequest(change, this.permalink(change.id));
      // one DM per person: e-mail/UPN entries when the policy has them (the platform ids beside them
      // usually name the same people), platform ids otherwise; groups cannot be messaged
      const direct = change.policy.resolvedApprovers.filter(
        (id) => !id.startsWith("slackgroup:") && !id.startsWith("group:"),
      );
      const emails = direct.filter((id) => id.includes("@"));
      const targets = new Set(emails.length ? emails : direct);
      for (const who of targets) {
        if (samePerson(who, change.requester)) continue;
        const reached = await gateway.notify(who, message).catch((e: unknown) => {
          this.logger.warn({ err: e, changeId, who }, "approver notification failed");
          return false;
        });
        if (!reached) this.logger.info({ changeId, who }, "approver not reachable on this platform");
      }
    });
  }

  /** DM to a consumer owner; true when someone was reached. */
  async notifyOwner(changeId: string, owner: string, text: string): Promise<boolean> {
    const change = this.store.getChange(changeId);
    const gateway = change && this.#gatewayFor(change);
    if (!change || !gateway) return false;
    return gateway.notify(owner, renderNotice(change, text, "warning")).catch(() => false);
  }

  #gatewayFor(change: Change): ChatGateway | undefined {
    return change.thread ? this.chats.get(change.thread.platform) : undefined;
  }

  #post(
    changeId: string,
    what: string,
    task: (g: ChatGateway, c: Change, t: ThreadRef) => Promise<void>,
  ): void {
    void this.#queues.run(changeId, async () => {
      const change = this.store.getChange(changeId);
      const gateway = change && this.#gatewayFor(change);
      if (!change || !gateway || !change.thread) {
        this.#renderPending.delete(changeId);
        return;
      }
      try {
        await task(gateway, change, change.thread);
      } catch (e) {
        this.#renderPending.delete(changeId);
        this.logger.warn({ err: e, changeId }, `chat ${what} failed`);
      }
    });
  }
}

/** Whether an approver identity names the requester (never DM people to approve their own change). */
function samePerson(identity: string, requester: PrincipalRef): boolean {
  const id = requester.id.toLowerCase();
  const tail = id.split(":").pop() ?? id;
  return identity === id || identity.endsWith(`:${tail}`);
}
