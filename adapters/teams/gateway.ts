/**
 * keyturn's outbound Teams messages (ChatGateway): the change card and its thread, direct messages,
 * deep links and evidence attachments, each a proactive call through the adapter, bounded and
 * reported as chat_failed when it fails.
 */
import { Activity, type ConversationReference } from "@microsoft/agents-activity";
import type { TurnContext } from "@microsoft/agents-hosting";
import type { PrincipalRef, ThreadRef } from "../../src/core/domain.js";
import type { Message } from "../../src/core/messages.js";
import type { ChatGateway, Logger } from "../../src/core/ports.js";
import type { TeamsDirectory } from "./directory.js";
import { cardAttachment, escapeXml, fileAttachment } from "./render.js";
import { asChatError, within, type TimedCloudAdapter } from "./timed-adapter.js";

export function teamsGateway(deps: {
  adapter: TimedCloudAdapter;
  appId: string;
  directory: TeamsDirectory;
  log: Logger;
  timeoutMs: number;
}): ChatGateway {
  const { adapter, appId, directory, log, timeoutMs } = deps;

  /** One proactive call: bounded (a token, then each request), logged and returned as chat_failed when it fails. */
  const continueIn = async (
    what: string,
    ref: ConversationReference,
    fn: (ctx: TurnContext) => Promise<void>,
  ) => {
    try {
      await within(2 * timeoutMs, what, adapter.continueConversation(appId, ref, fn));
    } catch (e) {
      const err = asChatError(e, timeoutMs, what);
      log.warn({ err, conversation: ref.conversation?.id }, `Teams ${what} failed`);
      throw err;
    }
  };

  const send = async (what: string, ref: ConversationReference, message: Message): Promise<string> => {
    let id = "";
    await continueIn(what, ref, async (ctx) => {
      const r = await ctx.sendActivity(messageActivity(message));
      id = r?.id ?? "";
    });
    return id;
  };

  const threadOf = (ref: ConversationReference, root: string): ThreadRef => ({
    platform: "teams",
    channel: ref.conversation.id,
    root,
    data: { serviceUrl: ref.serviceUrl ?? "" },
  });

  return {
    platform: "teams",
    async postRoot(channel, message) {
      const ref =
        (channel.ref as unknown as ConversationReference | undefined) ?? directory.refFor(channel.id);
      directory.keep(ref);
      return threadOf(ref, await send("post", ref, message));
    },
    async updateRoot(thread, message) {
      await continueIn("update", directory.refFor(thread.channel), async (ctx) => {
        await ctx.updateActivity(
          Activity.fromObject({
            ...messageObject(message),
            id: thread.root,
            conversation: { id: thread.channel },
          }),
        );
      });
    },
    async reply(thread, message) {
      await send("reply", directory.refFor(thread.channel), message);
    },
    async notify(user: PrincipalRef | string, message) {
      const oid = directory.oidOf(user);
      const ref = oid ? directory.personalRef(oid) : undefined;
      if (!ref) return null;
      // kept under the conversation id too, so updateRoot can change the DM later
      directory.keep(ref);
      return threadOf(ref, await send("direct message", ref, message));
    },
    async permalink(thread: ThreadRef) {
      return `https://teams.microsoft.com/l/message/${encodeURIComponent(thread.channel.split(";")[0] ?? thread.channel)}/${thread.root}`;
    },
    async attach(thread, attachment) {
      // bots cannot upload files into channels without Graph: the pack goes as an inline attachment
      await continueIn("attachment", directory.refFor(thread.channel), async (ctx) => {
        await ctx.sendActivity(
          Activity.fromObject({
            type: "message",
            text: `Evidence: ${attachment.filename}`,
            attachments: [fileAttachment(attachment)],
          }),
        );
      });
    },
  };
}

const messageObject = (message: Message) => ({
  type: "message",
  text: escapeXml(message.text),
  attachments: [cardAttachment(message)],
});

const messageActivity = (message: Message): Activity => Activity.fromObject(messageObject(message));
