/**
 * keyturn in Microsoft Teams on the Microsoft 365 Agents SDK (the maintained successor of
 * botbuilder): @mention commands in channels and group chats, plain text in personal chat,
 * Adaptive Card approvals (Action.Execute, replaced in place), evidence threads, proactive DMs.
 * Served only when configured: with an app id every request is JWT-validated (audience, issuer,
 * the configured tenant) and activities from another tenant are refused; unauthenticated only
 * behind the local-try switch, never in production. Every Bot Connector call has a deadline.
 */
import {
  authorizeJWT,
  getAuthConfigWithDefaults,
  OutboundHostValidator,
  type AuthConfiguration,
  type Request as AgentsRequest,
} from "@microsoft/agents-hosting";
import type { NextFunction, Request, RequestHandler, Response } from "express";
import { KeyturnError } from "../../src/core/errors.js";
import type { ChatGateway, Clock, KeyturnService, Logger, AsyncStore } from "../../src/core/ports.js";
import { turnLogic } from "./activity.js";
import { messageDedup } from "./dedup.js";
import { TeamsDirectory } from "./directory.js";
import { teamsGateway } from "./gateway.js";
import { teamsIdentity } from "./identity.js";
import { TimedCloudAdapter } from "./timed-adapter.js";
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

const ANONYMOUS_APP = "keyturn-local";
/** Where an anonymous (local-try) bot may send replies: this machine only. */
const LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "[::1]"];

export function createTeamsAdapter(deps: {
  service: KeyturnService;
  store: AsyncStore;
  logger: Logger;
  clock: Clock;
  config: TeamsConfig;
  /**
   * People whose e-mail ↔ Entra object id is known from configuration (the sandbox's scenario), so
   * direct messages reach them without a member lookup.
   */
  directory?: readonly { email: string; aadObjectId?: string }[];
}): TeamsAdapter {
  const { store, config } = deps;
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
  const directory = new TeamsDirectory(store, deps.directory, config.tenantId);
  const logic = turnLogic({
    service: deps.service,
    directory,
    principalOf: teamsIdentity({ store, clock: deps.clock, log, anonymous, tenant: trust.tenant, timeoutMs }),
    dedup: messageDedup(store),
    log,
  });

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

  const gateway = teamsGateway({
    adapter,
    appId: config.appId ?? ANONYMOUS_APP,
    directory,
    clock: deps.clock,
    log,
    timeoutMs,
  });

  return {
    gateway,
    handler,
    async stop() {
      // nothing to close: requests are served by the shared HTTP server
    },
  };
}
