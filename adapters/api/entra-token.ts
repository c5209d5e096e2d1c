/**
 * Who is calling the API: a Microsoft Entra access token (RS256 JWT), checked against the configured
 * tenant and app before anything else is read.
 *
 * - signature: a key of the tenant's JWKS (`<authority>/<tenant>/discovery/v2.0/keys`), fetched over
 *   HTTPS and cached by jose; a token naming a key id not in the cache refetches the set (at most once
 *   every 30 s, so made-up key ids cannot make keyturn hammer Entra);
 * - `iss`: the tenant's v1 issuer (`https://sts.windows.net/<tenant>/`) or v2 issuer
 *   (`<authority>/<tenant>/v2.0`). Entra signs every tenant's tokens with the same keys, so the
 *   issuer and `tid` are what keep another tenant out;
 * - `aud`: the app's client id or Application ID URI (v1 tokens carry whichever the client asked for);
 * - `exp` / `nbf` with a minute of clock skew; `tid` = the tenant; `oid` present.
 * The caller is `aad:<oid>`: the object id of the service principal or user, which the policy
 * names. Display names and UPNs are mutable and never decide anything.
 */
import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload } from "jose";

export interface EntraCaller {
  /** The object id of the service principal or user (lower case). */
  readonly oid: string;
  /** `app` for a service principal's own token, `user` for a person's. */
  readonly kind: "app" | "user";
  /** The client application that obtained the token (v1 `appid`, v2 `azp`). */
  readonly clientAppId: string | null;
  /** A name to show until the policy names the caller (the token's `name`, else the object id). */
  readonly displayName: string;
}

/**
 * Why a token was refused: `missing` (no bearer token), `invalid` (RFC 6750 invalid_token), or
 * `unavailable` (the tenant's signing keys could not be read: nothing is wrong with the token yet).
 */
export class TokenRefused extends Error {
  override readonly name = "TokenRefused";
  constructor(
    readonly kind: "missing" | "invalid" | "unavailable",
    /** What was wrong and what to do, safe to show the caller (never the token). */
    readonly reason: string,
  ) {
    super(reason);
  }
}

export interface EntraVerifierOptions {
  readonly tenantId: string;
  readonly audiences: readonly string[];
  /** The sign-in host, e.g. https://login.microsoftonline.com. */
  readonly authority: string;
  /** Seconds of clock skew allowed on exp / nbf (default 60). */
  readonly clockToleranceSeconds?: number;
  /** Timeout of one JWKS fetch (default 5 s). */
  readonly jwksTimeoutMs?: number;
  /** After a fetch, how long an unknown key id waits before it may refetch the set (default 30 s). */
  readonly jwksCooldownMs?: number;
}

export interface EntraVerifier {
  /** The caller behind an `Authorization` header value; throws TokenRefused. */
  verify(authorization: string | undefined): Promise<EntraCaller>;
  readonly issuers: readonly string[];
  readonly jwksUrl: string;
}

export function createEntraVerifier(o: EntraVerifierOptions): EntraVerifier {
  const tenant = o.tenantId.toLowerCase();
  const authority = o.authority.replace(/\/+$/, "");
  const jwksUrl = `${authority}/${tenant}/discovery/v2.0/keys`;
  const issuers = [`https://sts.windows.net/${tenant}/`, `${authority}/${tenant}/v2.0`];
  const keys = createRemoteJWKSet(new URL(jwksUrl), {
    timeoutDuration: o.jwksTimeoutMs ?? 5000,
    cooldownDuration: o.jwksCooldownMs ?? 30_000,
    cacheMaxAge: 24 * 3600_000,
  });
  const audiences = [...o.audiences];

  return {
    issuers,
    jwksUrl,
    async verify(authorization) {
      const m = /^Bearer[ ]+([A-Za-z0-9\-_.~+/]+=*)\s*$/i.exec(authorization ?? "");
      if (!m)
        throw new TokenRefused(
          "missing",
          "Send a Microsoft Entra access token for keyturn's app: Authorization: Bearer <token> (e.g. from `az account get-access-token --resource <app id URI>`).",
        );
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(m[1]!, keys, {
          algorithms: ["RS256"],
          issuer: issuers,
          audience: audiences,
          clockTolerance: o.clockToleranceSeconds ?? 60,
          requiredClaims: ["exp", "iss", "aud"],
        }));
      } catch (e) {
        throw refusal(e, tenant, audiences);
      }
      const tid = typeof payload.tid === "string" ? payload.tid.toLowerCase() : "";
      if (tid !== tenant)
        throw new TokenRefused(
          "invalid",
          `The token is for tenant ${tid || "(none)"}; keyturn accepts tokens of tenant ${tenant} only. Sign in to that tenant.`,
        );
      const oid = typeof payload.oid === "string" ? payload.oid.toLowerCase() : "";
      if (!/^[0-9a-f-]{36}$/.test(oid))
        throw new TokenRefused(
          "invalid",
          "The token names no object id (oid): request it as a service principal or a user of the tenant, not a personal account.",
        );
      const clientAppId = str(payload.azp) ?? str(payload.appid);
      // idtyp=app is an optional claim; an app-only token otherwise has no scp and sub == oid
      const kind = payload.idtyp === "app" || (!payload.scp && payload.sub === payload.oid) ? "app" : "user";
      return { oid, kind, clientAppId, displayName: str(payload.name) ?? `aad:${oid}` };
    },
  };
}

const str = (v: unknown): string | null => (typeof v === "string" && v ? v : null);

/** What was wrong with a token, in words, with what to do (never the token itself). */
function refusal(e: unknown, tenant: string, audiences: readonly string[]): TokenRefused {
  const invalid = (reason: string) => new TokenRefused("invalid", reason);
  if (e instanceof errors.JWTExpired) return invalid("The token has expired: request a new one.");
  if (e instanceof errors.JWTClaimValidationFailed) {
    if (e.claim === "iss")
      return invalid(
        `The token was not issued by tenant ${tenant} (its issuer is another tenant or not Entra ID): request it from that tenant.`,
      );
    if (e.claim === "aud")
      return invalid(
        `The token is for another application: request it for keyturn's app (${audiences.join(" or ")}), e.g. \`az account get-access-token --resource ${audiences[0]}\`.`,
      );
    if (e.claim === "nbf")
      return invalid("The token is not valid yet: check this machine's clock, or request a new one.");
    return invalid(`The token's ${e.claim} claim is not acceptable: request a new token for keyturn's app.`);
  }
  if (e instanceof errors.JWKSNoMatchingKey || e instanceof errors.JWSSignatureVerificationFailed)
    return invalid(
      `The token's signature does not verify with tenant ${tenant}'s signing keys: request a token from Microsoft Entra ID for that tenant.`,
    );
  if (e instanceof errors.JOSEAlgNotAllowed)
    return invalid(
      "The token is not signed with RS256 as Entra access tokens are: request one from Entra ID.",
    );
  if (
    e instanceof errors.JWTInvalid ||
    e instanceof errors.JWSInvalid ||
    e instanceof errors.JOSENotSupported
  )
    return invalid("The bearer token is not a signed JWT: send the access_token Entra returned, unchanged.");
  // the keys could not be fetched or read (timeout, network, a non-200 answer): not the caller's fault
  return new TokenRefused(
    "unavailable",
    "keyturn could not read the tenant's signing keys just now: try again in a minute (keyturn's log says why).",
  );
}
