/**
 * keyturn in Microsoft Teams on the Microsoft 365 Agents SDK (the maintained successor of
 * botbuilder): @mention commands in channels and group chats, plain text in personal chat,
 * Adaptive Card approvals (Action.Execute, replaced in place), evidence threads, proactive DMs.
 * Served only when configured: with an app id every request is JWT-validated (audience, issuer,
 * the configured tenant) and activities from another tenant are refused; unauthenticated only
 * behind the local-try switch, never in production. Every Bot Connector call has a deadline.
 */
import { Activity, type ConversationReference } from "@microsoft/agents-activity";
import {
  authorizeJWT,
  getAuthConfigWithDefaults,
  OutboundHostValidator,
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
import { asChatError, TimedCloudAdapter, within } from "./timed-adapter.js";
import { teamsTrust } from "./trust.js";

export interface TeamsConfig {
  appId?: string;
  appPassword?: string;
  tenantId?: string;
  appType?: "MultiTenant" | "SingleTenant" | "UserAssignedMSI";
  authorityEndpoint?: string;
  validateServiceUrl?: boolean;
  /** Unauthenticated, for a try on this machine: configuration allows it only on a loopback HOST. */
  anonymous?: boolean;
  /** Per-request deadline of every Bot Connector call (default 10 s). */
  requestTimeoutMs?: number;
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
/** A user's UPN as the Bot Connector named it is trusted this long, then looked up again. */
const UPN_TTL_MS = 24 * 3600_000;
/** Where an anonymous (local-try) bot may send replies: this machine only. */
const LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "[::1]"];

export function createTeamsAdapter(deps: {
  service: KeyturnService;
  store: Store;
  logger: Logger;
  clock: Clock;
  config: TeamsConfig;
  /**
   * People whose e-mail ↔ Entra object id is known from configuration (the sandbox's scenario), so
   * direct messages reach them without a member lookup.
   */
  directory?: readonly { email: string; aadObjectId?: string }[];
}): TeamsAdapter {
  const { service, store, config } = deps;
  const log = deps.logger.child({ component: "teams" });
  if (config.production && !config.appId) {
    throw new KeyturnError(
      "config_invalid",
      "Refusing to serve Teams unauthenticated in production: set MicrosoftAppId (and MicrosoftAppPassword / MicrosoftAppTenantId), or unset NODE_ENV=production for a local try.",
    );
  }
  if (!config.appId && !config.anonymous) {
    throw new KeyturnError(
      "config_invalid",
      "Refusing to serve Teams unauthenticated: set MicrosoftAppId and MicrosoftAppTenantId, or KEYTURN_TEAMS_ANONYMOUS=local on a loopback HOST for a try on this machine.",
    );
  }
  const anonymous = !config.appId;
  const directory = new Map(
    (deps.directory ?? [])
      .filter((p) => p.aadObjectId)
      .map((p) => [p.email.toLowerCase(), p.aadObjectId!.toLowerCase()]),
  );
  const timeoutMs = config.requestTimeoutMs ?? 10_000;
  const authConfig: AuthConfiguration = config.appId
    ? getAuthConfigWithDefaults({
        clientId: config.appId,
        ...(config.appPassword ? { clientSecret: config.appPassword } : {}),
        ...(config.tenantId ? { tenantId: config.tenantId } : {}),
        ...(config.authorityEndpoint ? { authorityEndpoint: config.authorityEndpoint } : {}),
        ...(config.appType === "UserAssignedMSI" ? { authType: "UserManagedIdentity" } : {}),
        // the SDK checks the issuer only when asked; its default list is the Bot Framework issuer
        // and the configured tenant's Entra issuers (trust.ts narrows what the SDK adds to it)
        validateIssuer: true,
      })
    : {};
  const trust = teamsTrust({ issuers: authConfig.issuers ?? [], tenantId: config.tenantId });
  const adapter = new TimedCloudAdapter(
    authConfig,
    { validateServiceUrl: config.validateServiceUrl ?? !!config.appId },
    // unauthenticated, the serviceUrl is the caller's word: replies go to this machine only
    anonymous
      ? new OutboundHostValidator({
          enabled: true,
          includeDefaultMicrosoftHosts: false,
          hosts: LOOPBACK_HOSTS,
        })
      : undefined,
    timeoutMs,
  );
  // the SDK's default answers a failed turn with chat messages and swallows the error: keyturn
  // wants the failure back, to log it and report it (ChatOut, the request handler)
  adapter.onTurnError = async (_ctx, err) => {
    throw err;
  };
  const jwt = authorizeJWT(authConfig);
  const appId = config.appId ?? ANONYMOUS_APP;

  /** The UPN the Bot Connector gives for this user, re-checked once a day. Never for anonymous requests. */
  const upnOf = async (ctx: TurnContext, oid: string): Promise<string | undefined> => {
    const from = ctx.activity.from;
    const key = oid || (from?.id ?? "unknown");
    const cached = store.getKv<{ upn?: string; at?: number }>(USER_NS, key);
    if (
      cached &&
      typeof cached === "object" &&
      cached.upn &&
      deps.clock.now().getTime() - (cached.at ?? 0) < UPN_TTL_MS
    )
      return cached.upn;
    try {
      const client:
        | {
            getConversationMember?: (
              userId: string,
              conversationId: string,
            ) => Promise<{
              userPrincipalName?: string;
              email?: string;
              aadObjectId?: string;
              tenantId?: string;
            }>;
          }
        | undefined = ctx.turnState.get(ctx.adapter.ConnectorClientKey);
      const member = await client?.getConversationMember?.(
        from?.id ?? "",
        ctx.activity.conversation?.id ?? "",
      );
      // the member must be the sender, in keyturn's tenant
      if (member?.aadObjectId && oid && member.aadObjectId.toLowerCase() !== oid) return undefined;
      if (member?.tenantId && trust.tenant && member.tenantId.toLowerCase() !== trust.tenant)
        return undefined;
      const upn = (member?.userPrincipalName ?? member?.email)?.toLowerCase();
      if (upn) store.putKv(USER_NS, key, { upn, at: deps.clock.now().getTime() });
      return upn;
    } catch (e) {
      log.warn(
        { err: asChatError(e, timeoutMs, "member lookup") },
        "member lookup failed; identity without UPN",
      );
      return undefined;
    }
  };

  const principalOf = async (ctx: TurnContext): Promise<Principal> => {
    const from = ctx.activity.from ?? { id: "unknown", name: "unknown" };
    const oid = (from.aadObjectId ?? "").toLowerCase();
    const identities = oid ? [`aad:${oid}`] : [];
    // unauthenticated, the serviceUrl is the caller's choice: no UPN is taken from it
    const upn = anonymous ? undefined : await upnOf(ctx, oid);
    if (upn) identities.push(upn);
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
      const refusal = trust.check((req as unknown as AgentsRequest).user, req.body, anonymous);
      if (refusal) {
        log.warn({ status: refusal.status, reason: refusal.reason }, "Teams request refused");
        res.status(refusal.status).json({ error: refusal.reason });
        return;
      }
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

  const refFor = (conversationId: string): ConversationReference => {
    const base = store.getKv<ConversationReference>(REF_NS, conversationId);
    if (!base)
      throw new KeyturnError(
        "chat_failed",
        `keyturn has no Teams conversation reference for ${conversationId}: mention the bot there once.`,
      );
    return base;
  };

  const send = async (what: string, ref: ConversationReference, message: Message): Promise<string> => {
    let id = "";
    await continueIn(what, ref, async (ctx) => {
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
      const root = await send("post", ref, message);
      return {
        platform: "teams",
        channel: ref.conversation.id,
        root,
        data: { serviceUrl: ref.serviceUrl ?? "" },
      };
    },
    async updateRoot(thread, message) {
      await continueIn("update", refFor(thread.channel), async (ctx) => {
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
      await send("reply", refFor(thread.channel), message);
    },
    async notify(user: PrincipalRef | string, message) {
      const key = typeof user === "string" ? user.toLowerCase() : user.id.toLowerCase();
      const oid = key.startsWith("aad:")
        ? key.slice(4)
        : key.startsWith("teams:")
          ? key.slice(6)
          : (directory.get(key) ??
            [...store.listKv<{ upn?: string } | string>(USER_NS)].find(
              // only UPNs an authenticated request gave (entries of the older string form are not trusted)
              (u) => typeof u.value === "object" && u.value?.upn === key,
            )?.key);
      const ref = oid ? store.getKv<ConversationReference>(REF_NS, `user:${oid}`) : undefined;
      if (!ref) return null;
      // kept under the conversation id too, so updateRoot can change the DM later
      store.putKv(REF_NS, ref.conversation.id, ref);
      const root = await send("direct message", ref, message);
      return {
        platform: "teams",
        channel: ref.conversation.id,
        root,
        data: { serviceUrl: ref.serviceUrl ?? "" },
      };
    },
    async permalink(thread: ThreadRef) {
      return `https://teams.microsoft.com/l/message/${encodeURIComponent(thread.channel.split(";")[0] ?? thread.channel)}/${thread.root}`;
    },
    async attach(thread, attachment) {
      // bots cannot upload files into channels without Graph: the pack goes as an inline attachment
      await continueIn("attachment", refFor(thread.channel), async (ctx) => {
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
