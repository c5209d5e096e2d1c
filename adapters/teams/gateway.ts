/**
 * keyturn's outbound Teams messages (ChatGateway): the change card and its thread, direct messages,
 * deep links and evidence attachments, each a proactive call through the adapter, bounded and
 * reported as chat_failed when it fails.
 */
import {
  Activity,
  type ConversationParameters,
  type ConversationReference,
} from "@microsoft/agents-activity";
import type { TurnContext } from "@microsoft/agents-hosting";
import type { PrincipalRef, ThreadRef } from "../../src/core/domain.js";
import type { Message } from "../../src/core/messages.js";
import type { ChatGateway, Clock, Logger } from "../../src/core/ports.js";
import { messageDeepLink } from "./deep-link.js";
import type { TeamsDirectory } from "./directory.js";
import { activityOf, fileAttachment } from "./render.js";
import { asChatError, within, type TimedCloudAdapter } from "./timed-adapter.js";

/** The audience of the Bot Framework connector (Azure Bot Service). */
const BOT_FRAMEWORK = "https://api.botframework.com";

export function teamsGateway(deps: {
  adapter: TimedCloudAdapter;
  appId: string;
  directory: TeamsDirectory;
  clock: Clock;
  log: Logger;
  timeoutMs: number;
}): ChatGateway {
  const { adapter, appId, clock, directory, log, timeoutMs } = deps;

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

  /**
   * A 1:1 chat with someone who never wrote to keyturn, created through the connector of the tenant's
   * channel (POST /v3/conversations, as Teams proactive messages are sent). Null when the connector
   * refuses — the app is not installed for that person — or keyturn has not yet been reached in Teams.
   */
  const openPersonalChat = async (oid: string): Promise<ConversationReference | null> => {
    const service = await directory.service();
    if (!service) {
      log.info({ oid }, "no Teams channel has reached keyturn yet: a direct message cannot be opened");
      return null;
    }
    const bot = { id: service.bot.id, ...(service.bot.name ? { name: service.bot.name } : {}) };
    const parameters = {
      isGroup: false,
      // Teams takes the user's id (29:…) or their Entra object id
      members: [{ id: (await directory.memberId(oid)) ?? oid, aadObjectId: oid }],
      tenantId: service.tenantId,
      channelData: { tenant: { id: service.tenantId } },
      // `bot` on the wire; the SDK names it `agent` and makes it the created conversation's recipient
      bot,
      agent: bot,
    } as unknown as ConversationParameters;
    let ref: ConversationReference | null = null;
    try {
      await within(
        2 * timeoutMs,
        "opening a direct message",
        adapter.createConversationAsync(
          appId,
          "msteams",
          service.serviceUrl,
          BOT_FRAMEWORK,
          parameters,
          async (ctx) => {
            ref = ctx.activity.getConversationReference();
          },
        ),
      );
    } catch (e) {
      const status = statusOf(e);
      if (status === 403 || status === 404) {
        log.info({ oid, status }, "Teams refused a direct message: keyturn is not installed for this person");
        return null;
      }
      const err = asChatError(e, timeoutMs, "opening a direct message");
      log.warn({ err, oid }, "Teams opening a direct message failed");
      throw err;
    }
    if (ref) await directory.keepPersonal(oid, ref);
    return ref;
  };

  const threadOf = (ref: ConversationReference, root: string): ThreadRef => ({
    platform: "teams",
    channel: ref.conversation.id,
    root,
    data: {
      serviceUrl: ref.serviceUrl ?? "",
      ...(ref.conversation.tenantId ? { tenantId: ref.conversation.tenantId } : {}),
      createdTime: String(clock.now().getTime()),
    },
  });

  return {
    platform: "teams",
    async postRoot(channel, message) {
      const ref =
        (channel.ref as unknown as ConversationReference | undefined) ?? (await directory.refFor(channel.id));
      await directory.keep(ref);
      return threadOf(ref, await send("post", ref, message));
    },
    async updateRoot(thread, message) {
      await continueIn("update", await directory.refFor(thread.channel), async (ctx) => {
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
      await send("reply", await directory.refFor(thread.channel), message);
    },
    async notify(user: PrincipalRef | string, message) {
      const oid = await directory.oidOf(user);
      if (!oid) return null;
      const ref = (await directory.personalRef(oid)) ?? (await openPersonalChat(oid));
      if (!ref) return null;
      // kept under the conversation id too, so updateRoot can change the DM later
      await directory.keep(ref);
      return threadOf(ref, await send("direct message", ref, message));
    },
    async permalink(thread: ThreadRef) {
      const channelId = thread.channel.split(";")[0] ?? thread.channel;
      const teamId = await directory.teamOf(channelId);
      const team = teamId ? await directory.place(teamId) : {};
      let tenantId = thread.data?.tenantId;
      if (!tenantId) tenantId = (await directory.service())?.tenantId;
      return messageDeepLink({
        conversationId: thread.channel,
        messageId: thread.root,
        tenantId,
        groupId: team.aadGroupId,
        teamName: team.name,
        channelName: (await directory.place(channelId)).name,
        createdTime: thread.data?.createdTime,
      });
    },
    async attach(thread, attachment) {
      // bots cannot upload files into channels without Graph: the pack goes as an inline attachment
      await continueIn("attachment", await directory.refFor(thread.channel), async (ctx) => {
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

const messageObject = (message: Message) => activityOf(message);

const messageActivity = (message: Message): Activity => Activity.fromObject(messageObject(message));

/** The HTTP status of a connector error (the SDK's client rejects with the axios-like response). */
function statusOf(e: unknown): number | undefined {
  const x = e as { status?: unknown; statusCode?: unknown; response?: { status?: unknown } } | null;
  const s = x?.response?.status ?? x?.status ?? x?.statusCode;
  return typeof s === "number" ? s : undefined;
}
