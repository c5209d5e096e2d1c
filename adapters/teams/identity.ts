/**
 * Who sent an activity, as keyturn's principal: the Entra object id from the activity, and — only on
 * authenticated requests — the UPN the Bot Connector gives for that member in keyturn's tenant,
 * re-checked once a day.
 */
import type { TurnContext } from "@microsoft/agents-hosting";
import type { Principal } from "../../src/core/domain.js";
import type { Clock, Logger, AsyncStore } from "../../src/core/ports.js";
import { USER_NS } from "./directory.js";
import { asChatError } from "./timed-adapter.js";

/** A user's UPN as the Bot Connector named it is trusted this long, then looked up again. */
const UPN_TTL_MS = 24 * 3600_000;

interface MemberClient {
  getConversationMember?: (
    userId: string,
    conversationId: string,
  ) => Promise<{ userPrincipalName?: string; email?: string; aadObjectId?: string; tenantId?: string }>;
}

export function teamsIdentity(deps: {
  store: AsyncStore;
  clock: Clock;
  log: Logger;
  /** Unauthenticated, the serviceUrl is the caller's choice: no UPN is taken from it. */
  anonymous: boolean;
  tenant: string | undefined;
  timeoutMs: number;
}): (ctx: TurnContext) => Promise<Principal> {
  const { store, clock, log } = deps;

  const upnOf = async (ctx: TurnContext, oid: string): Promise<string | undefined> => {
    const from = ctx.activity.from;
    const key = oid || (from?.id ?? "unknown");
    const cached = await store.getKv<{ upn?: string; at?: number }>(USER_NS, key);
    if (
      cached &&
      typeof cached === "object" &&
      cached.upn &&
      clock.now().getTime() - (cached.at ?? 0) < UPN_TTL_MS
    )
      return cached.upn;
    try {
      const client: MemberClient | undefined = ctx.turnState.get(ctx.adapter.ConnectorClientKey);
      const member = await client?.getConversationMember?.(
        from?.id ?? "",
        ctx.activity.conversation?.id ?? "",
      );
      // the member must be the sender, in keyturn's tenant
      if (member?.aadObjectId && oid && member.aadObjectId.toLowerCase() !== oid) return undefined;
      if (member?.tenantId && deps.tenant && member.tenantId.toLowerCase() !== deps.tenant) return undefined;
      const upn = (member?.userPrincipalName ?? member?.email)?.toLowerCase();
      if (upn) await store.putKv(USER_NS, key, { upn, at: clock.now().getTime() });
      return upn;
    } catch (e) {
      log.warn(
        { err: asChatError(e, deps.timeoutMs, "member lookup") },
        "member lookup failed; identity without UPN",
      );
      return undefined;
    }
  };

  return async (ctx) => {
    const from = ctx.activity.from ?? { id: "unknown", name: "unknown" };
    const oid = (from.aadObjectId ?? "").toLowerCase();
    const identities = oid ? [`aad:${oid}`] : [];
    const upn = deps.anonymous ? undefined : await upnOf(ctx, oid);
    if (upn) identities.push(upn);
    return {
      platform: "teams",
      id: `teams:${oid || from.id}`,
      displayName: from.name ?? "unknown",
      identities,
    };
  };
}
