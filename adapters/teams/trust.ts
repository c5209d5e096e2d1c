/**
 * Who may talk to keyturn in Teams, decided before an activity reaches the SDK's turn logic.
 * The SDK's `authorizeJWT` checks signature, audience and expiry, and with `validateIssuer` the
 * issuer — but its list always adds Microsoft's first-party tenants and it binds `tid` only to
 * login.microsoftonline.* issuers. keyturn narrows that to the issuers of its own registration
 * (the Bot Framework issuer and the configured tenant's Entra issuers), requires a token's `tid`
 * to be the configured tenant, and refuses activities from any other tenant.
 */
/** The verified token's claims (the SDK puts them on `req.user`). */
export interface TokenClaims {
  iss?: unknown;
  tid?: unknown;
}

export interface TrustRefusal {
  status: 401 | 403;
  /** Shown to the caller and logged; names what to do. */
  reason: string;
}

export interface TeamsTrust {
  /** The issuers accepted from a token (lower case). */
  readonly issuers: ReadonlySet<string>;
  /** The configured Entra tenant (lower case), if any. */
  readonly tenant: string | undefined;
  /** A reason to refuse the request, or null when it may be processed. */
  check(user: TokenClaims | undefined, activity: unknown, anonymous: boolean): TrustRefusal | null;
}

export function teamsTrust(o: { issuers: readonly string[]; tenantId?: string | undefined }): TeamsTrust {
  const issuers = new Set(o.issuers.map((i) => i.toLowerCase()));
  const tenant = o.tenantId?.toLowerCase();
  return {
    issuers,
    tenant,
    check(user, activity, anonymous) {
      if (!anonymous) {
        const iss = typeof user?.iss === "string" ? user.iss.toLowerCase() : "";
        if (!issuers.has(iss))
          return {
            status: 401,
            reason: `token issuer not accepted (expected one of ${[...issuers].join(", ")}); check MicrosoftAppTenantId and TEAMS_AUTHORITY_ENDPOINT`,
          };
        const tid = user?.tid;
        if (tenant && typeof tid === "string" && tid.toLowerCase() !== tenant)
          return { status: 401, reason: "token from another Entra tenant" };
      }
      if (!tenant) return null;
      const tenants = activityTenants(activity);
      if (tenants.length === 0)
        return { status: 403, reason: "activity names no tenant; keyturn serves one Entra tenant" };
      if (tenants.some((t) => t !== tenant))
        return { status: 403, reason: "activity from another tenant; keyturn serves one Entra tenant" };
      return null;
    },
  };
}

/** The tenant ids an activity names (conversation.tenantId and channelData.tenant.id), lower case. */
function activityTenants(activity: unknown): string[] {
  const a = (activity ?? {}) as {
    conversation?: { tenantId?: unknown };
    channelData?: { tenant?: { id?: unknown } };
  };
  return [a.conversation?.tenantId, a.channelData?.tenant?.id]
    .filter((t): t is string => typeof t === "string" && t !== "")
    .map((t) => t.toLowerCase());
}
