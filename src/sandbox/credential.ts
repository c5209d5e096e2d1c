/**
 * The credential the simulated tenant accepts. It belongs to the sandbox's own wiring: the
 * composition root hands it to the Azure ports, which never know the simulator exists.
 */
import type { AccessToken, TokenCredential } from "@azure/core-auth";

/** The audience a scope asks for, as Microsoft Entra ID puts it in the token (`https://vault.azure.net/.default` → `https://vault.azure.net`). */
export function audienceOfScope(scopes: string | string[]): string | undefined {
  const scope = Array.isArray(scopes) ? scopes[0] : scopes;
  // a scope that names no resource (tests ask for "x") gives a token without audience, taken anywhere
  if (!scope || !/^https:\/\//i.test(scope)) return undefined;
  return scope.replace(/\/\.default$/, "").replace(/\/+$/, "");
}

/**
 * A credential the simulator accepts (`sim.<base64url identity>`); the identity shows in its Activity
 * Log. Like Entra ID, it issues each token for the audience of the scope asked, and each simulated
 * service refuses a token issued for another.
 */
export function createSimulatorCredential(
  identity: { name: string; objectId?: string; ip?: string } = { name: "keyturn@sandbox" },
): TokenCredential {
  return {
    getToken: async (scopes): Promise<AccessToken> => {
      const aud = audienceOfScope(scopes);
      const token =
        "sim." +
        Buffer.from(
          JSON.stringify({
            objectId: "7c1e2d3f-0000-4000-8000-00000000c0de",
            ip: "10.0.0.5",
            ...identity,
            ...(aud ? { aud } : {}),
          }),
        ).toString("base64url");
      return { token, expiresOnTimestamp: Date.now() + 3600_000 };
    },
  };
}
