/**
 * A chat gateway that keeps threads the way a chat platform does (root updated in place, replies
 * in order, DMs per person), for runner tests that look at what people would read.
 */
import type { PrincipalRef, ThreadRef } from "../../src/core/domain.js";
import type { Attachment, ChannelRef, Message } from "../../src/core/messages.js";
import type { ChatGateway } from "../../src/core/ports.js";

export interface RecordedThread {
  channel: string;
  root: Message;
  versions: Message[];
  replies: Message[];
  attachments: Attachment[];
}

export class ThreadRecorder implements ChatGateway {
  readonly platform = "console" as const;
  readonly threads = new Map<string, RecordedThread>();
  readonly dms = new Map<string, Message[]>();
  #n = 0;

  async postRoot(channel: ChannelRef, message: Message): Promise<ThreadRef> {
    const root = String(++this.#n);
    this.threads.set(root, {
      channel: channel.id,
      root: message,
      versions: [message],
      replies: [],
      attachments: [],
    });
    return { platform: "console", channel: channel.id, root };
  }

  async updateRoot(thread: ThreadRef, message: Message): Promise<void> {
    const t = this.#thread(thread);
    t.root = message;
    t.versions.push(message);
  }

  async reply(thread: ThreadRef, message: Message): Promise<void> {
    this.#thread(thread).replies.push(message);
  }

  async notify(user: PrincipalRef | string, message: Message): Promise<ThreadRef> {
    const who = typeof user === "string" ? user : user.id;
    this.dms.set(who, [...(this.dms.get(who) ?? []), message]);
    return { platform: "console", channel: `dm:${who}`, root: String(this.dms.get(who)!.length) };
  }

  async permalink(thread: ThreadRef): Promise<string> {
    return `console://thread/${thread.root}`;
  }

  async attach(thread: ThreadRef, attachment: Attachment): Promise<void> {
    this.#thread(thread).attachments.push(attachment);
  }

  /** Every text a person could read, for secret scans. */
  allText(): string {
    const msgs = [
      ...[...this.threads.values()].flatMap((t) => [...t.versions, ...t.replies]),
      ...[...this.dms.values()].flat(),
    ];
    return JSON.stringify(msgs);
  }

  #thread(ref: ThreadRef): RecordedThread {
    const t = this.threads.get(ref.root);
    if (!t) throw new Error(`no thread ${ref.root}`);
    return t;
  }
}
