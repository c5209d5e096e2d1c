/**
 * The credential the simulated tenant accepts. It belongs to the sandbox's own wiring: the
 * composition root hands it to the Azure ports, which never know the simulator exists.
 */
import type { AccessToken, TokenCredential } from "@azure/core-auth";

/** A credential the simulator accepts (`sim.<base64url identity>`); the identity shows in its Activity Log. */
export function createSimulatorCredential(
  identity: { name: string; objectId?: string; ip?: string } = { name: "keyturn@sandbox" },
): TokenCredential {
  const token =
    "sim." +
    Buffer.from(
      JSON.stringify({ objectId: "7c1e2d3f-0000-4000-8000-00000000c0de", ip: "10.0.0.5", ...identity }),
    ).toString("base64url");
  return {
    getToken: async (): Promise<AccessToken> => ({ token, expiresOnTimestamp: Date.now() + 3600_000 }),
  };
}
