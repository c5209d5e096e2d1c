/**
 * keyturn in Microsoft Teams on the Microsoft 365 Agents SDK (the maintained successor of
 * botbuilder): @mention commands in channels and group chats, plain text in personal chat,
 * Adaptive Card approvals (Action.Execute, replaced in place), evidence threads, proactive DMs.
 * Requests are JWT-validated whenever an app id is configured; never anonymous in production.
 */
import { Activity, type ConversationReference } from "@microsoft/agents-activity";
import {
  authorizeJWT,
  CloudAdapter,
  getAuthConfigWithDefaults,
  type AuthConfiguration,
  type Request as AgentsRequest,
  type TurnContext,
} from "@microsoft/agents-hosting";
import type { NextFunction, Request, RequestHandler, Response } from "express";
import type { Principal, PrincipalRef, ThreadRef } from "../../src/core/domain.js";
import { KeyturnError } from "../../src/core/errors.js";
import type { ActionRequest, Message } from "../../src/core/messages.js";
import type { ChatGateway, Clock, KeyturnService, Logger, Store } from "../../src/core/ports.js";
import { cardAttachment, escapeXml } from "./render.js";

export interface TeamsConfig {
  appId?: string;
  appPassword?: string;
  tenantId?: string;
  appType?: "MultiTenant" | "SingleTenant" | "UserAssignedMSI";
  authorityEndpoint?: string;
  validateServiceUrl?: boolean;
  production: boolean;
}

export interface TeamsAdapter {
  readonly gateway: ChatGateway;
  readonly handler: RequestHandler;
  stop(): Promise<void>;
}

const REF_NS = "teams.conversation";
const USER_NS = "teams.user";
const ANONYMOUS_APP = "keyturn-local";

export function createTeamsAdapter(deps: {
  service: KeyturnService;
  store: Store;
  logger: Logger;
  clock: Clock;
  config: TeamsConfig;
}): TeamsAdapter {
  const { service, store, config } = deps;
  const log = deps.logger.child({ component: "teams" });
  if (config.production && !config.appId) {
    throw new KeyturnError(
      "config_invalid",
      "Refusing to serve Teams unauthenticated in production: set MicrosoftAppId (and MicrosoftAppPassword / MicrosoftAppTenantId), or unset NODE_ENV=production for a local try.",
    );
  }
  const authConfig: AuthConfiguration = config.appId
    ? getAuthConfigWithDefaults({
        clientId: config.appId,
        ...(config.appPassword ? { clientSecret: config.appPassword } : {}),
        ...(config.tenantId ? { tenantId: config.tenantId } : {}),
        ...(config.authorityEndpoint ? { authorityEndpoint: config.authorityEndpoint } : {}),
        ...(config.appType === "UserAssignedMSI" ? { authType: "UserManagedIdentity" } : {}),
      })
    : {};
  const adapter = new CloudAdapter(authConfig, undefined, undefined, {
    validateServiceUrl: config.validateServiceUrl ?? !!config.appId,
  });
  const jwt = authorizeJWT(authConfig);
  const appId = config.appId ?? ANONYMOUS_APP;

  const principalOf = async (ctx: TurnContext): Promise<Principal> => {
    const from = ctx.activity.from ?? { id: "unknown", name: "unknown" };
    const oid = (from.aadObjectId ?? "").toLowerCase();
    const identities = oid ? [`aad:${oid}`] : [];
    let upn = store.getKv<string>(USER_NS, oid || (from.id ?? "unknown"));
    if (!upn) {
      try {
        const client:
          | {
              getConversationMember?: (
                userId: string,
                conversationId: string,
              ) => Promise<{ userPrincipalName?: string; email?: string }>;
            }
          | undefined = ctx.turnState.get(ctx.adapter.ConnectorClientKey);
        const member = await client?.getConversationMember?.(
          from.id ?? "",
          ctx.activity.conversation?.id ?? "",
        );
        upn = member?.userPrincipalName ?? member?.email;
        if (upn) store.putKv(USER_NS, oid || (from.id ?? "unknown"), upn.toLowerCase());
      } catch (e) {
        log.debug({ err: e }, "member lookup failed; identity without UPN");
      }
    }
    if (upn) identities.push(upn.toLowerCase());
    return {
      platform: "teams",
      id: `teams:${oid || from.id}`,
      displayName: from.name ?? "unknown",
      identities,
    };
  };

  const rememberReference = (ctx: TurnContext) => {
    const ref = ctx.activity.getConversationReference();
    store.putKv(REF_NS, ref.conversation.id, ref);
    const personal = ctx.activity.conversation?.conversationType === "personal";
    const oid = ctx.activity.from?.aadObjectId?.toLowerCase();
    if (personal && oid) store.putKv(REF_NS, `user:${oid}`, ref);
  };

  const logic = async (ctx: TurnContext): Promise<void> => {
    const a = ctx.activity;
    if (a.type === "message") {
      rememberReference(ctx);
      const text = stripMention(a.text ?? "", a)
        .replace(/^\s*keyturn\s+/i, "")
        .trim();
      const principal = await principalOf(ctx);
      const reply = await service.handleText(
        {
          principal,
          channel: {
            platform: "teams",
            id: a.conversation?.id ?? "",
            ref: a.getConversationReference() as unknown as Record<string, unknown>,
          },
        },
        text,
      );
      const activity = Activity.fromObject({
        type: "message",
        text: escapeXml(reply.message.text),
        attachments: [cardAttachment(reply.message), ...(reply.attachments ?? []).map(fileAttachment)],
      });
      await ctx.sendActivity(activity);
      return;
    }
    if (a.type === "invoke" && a.name === "adaptiveCard/action") {
      const value = (a.value ?? {}) as {
        action?: { verb?: string; data?: { action?: ActionRequest; reason?: string } };
      };
      const verb = value.action?.verb ?? "";
      const request = value.action?.data?.action;
      if (!verb.startsWith("keyturn.") || !request) {
        await ctx.sendActivity(
          invokeResponse(501, "application/vnd.microsoft.error", {
            code: "NotImplemented",
            message: `keyturn does not know the action ${verb}`,
          }),
        );
        return;
      }
      const reason = value.action?.data?.reason;
      const principal = await principalOf(ctx);
      const reply = await service.handleAction(
        {
          principal,
          channel: { platform: "teams", id: a.conversation?.id ?? "" },
          idempotencyKey: `teams:${a.id ?? ""}:${principal.id}`,
        },
        { ...request, ...(reason ? { reason } : {}) },
      );
      const card = reply.card ?? reply.message;
      const refused = !reply.card;
      // a refusal goes to the presser only (the card stays as it is for everyone)
      const shown: Message = refused
        ? reply.message
        : { ...card, context: [...(card.context ?? []), reply.message.text] };
      await ctx.sendActivity(
        invokeResponse(200, "application/vnd.microsoft.card.adaptive", cardAttachment(shown).content),
      );
      return;
    }
    if (a.type === "conversationUpdate" || a.type === "installationUpdate") {
      rememberReference(ctx);
    }
  };

  const handler: RequestHandler = (req: Request, res: Response, next: NextFunction) => {
    void jwt(req as unknown as AgentsRequest, res as never, () => {
      adapter.process(req as unknown as AgentsRequest, res as never, logic).catch((e: unknown) => {
        log.error({ err: e }, "Teams activity failed");
        if (!res.headersSent) res.status(400).json({ error: "the activity could not be processed" });
        else next();
      });
    }).catch((e: unknown) => {
      log.warn({ err: e }, "Teams request refused");
      if (!res.headersSent) res.status(401).json({ error: "unauthorized" });
    });
  };

  const continueIn = async (ref: ConversationReference, fn: (ctx: TurnContext) => Promise<void>) => {
    await adapter.continueConversation(appId, ref, fn);
  };

  const refFor = (conversationId: string): ConversationReference => {
    const base = store.getKv<ConversationReference>(REF_NS, conversationId);
    if (!base)
      throw new KeyturnError(
        "chat_failed",
        `keyturn has no Teams conversation reference for ${conversationId}: mention the bot there once.`,
      );
    return base;
  };

  const send = async (ref: ConversationReference, message: Message): Promise<string> => {
    let id = "";
    await continueIn(ref, async (ctx) => {
      const r = await ctx.sendActivity(
        Activity.fromObject({
          type: "message",
          text: escapeXml(message.text),
          attachments: [cardAttachment(message)],
        }),
      );
      id = r?.id ?? "";
    });
    return id;
  };

  const gateway: ChatGateway = {
    platform: "teams",
    async postRoot(channel, message) {
      const ref = (channel.ref as unknown as ConversationReference | undefined) ?? refFor(channel.id);
      store.putKv(REF_NS, ref.conversation.id, ref);
      const root = await send(ref, message);
      return {
        platform: "teams",
        channel: ref.conversation.id,
        root,
        data: { serviceUrl: ref.serviceUrl ?? "" },
      };
    },
    async updateRoot(thread, message) {
      await continueIn(refFor(thread.channel), async (ctx) => {
        await ctx.updateActivity(
          Activity.fromObject({
            id: thread.root,
            type: "message",
            text: escapeXml(message.text),
            attachments: [cardAttachment(message)],
            conversation: { id: thread.channel },
          }),
        );
      });
    },
    async reply(thread, message) {
      await send(refFor(thread.channel), message);
    },
    async notify(user: PrincipalRef | string, message) {
      const key = typeof user === "string" ? user.toLowerCase() : user.id.toLowerCase();
      const oid = key.startsWith("aad:")
        ? key.slice(4)
        : key.startsWith("teams:")
          ? key.slice(6)
          : [...store.listKv<string>(USER_NS)].find((u) => u.value === key)?.key;
      const ref = oid ? store.getKv<ConversationReference>(REF_NS, `user:${oid}`) : undefined;
      if (!ref) return false;
      await send(ref, message);
      return true;
    },
    async permalink(thread: ThreadRef) {
      return `https://teams.microsoft.com/l/message/${encodeURIComponent(thread.channel.split(";")[0] ?? thread.channel)}/${thread.root}`;
    },
    async attach(thread, attachment) {
      // bots cannot upload files into channels without Graph: the pack goes as an inline attachment
      await continueIn(refFor(thread.channel), async (ctx) => {
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

  return {
    gateway,
    handler,
    async stop() {
      // nothing to close: requests are served by the shared HTTP server
    },
  };
}

/** The answer to an Adaptive Card Action.Execute: HTTP 200 carrying the card (or error) response. */
function invokeResponse(statusCode: number, type: string, value: unknown): Activity {
  return Activity.fromObject({
    type: "invokeResponse",
    value: { status: 200, body: { statusCode, type, value } },
  });
}

function stripMention(text: string, a: Activity): string {
  let t = text;
  for (const e of a.entities ?? []) {
    const m = e as { type?: string; text?: string; mentioned?: { id?: string } };
    if (m.type === "mention" && m.mentioned?.id === a.recipient?.id && m.text) t = t.replace(m.text, "");
  }
  return t.replace(/<at>[^<]*<\/at>/g, "").trim();
}

function fileAttachment(a: { filename: string; contentType: string; content: string }) {
  return {
    contentType: a.contentType,
    name: a.filename,
    contentUrl: `data:${a.contentType};base64,${Buffer.from(a.content).toString("base64")}`,
  };
}
