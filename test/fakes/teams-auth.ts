/** A local Entra-like signing authority: an RS256 key, a JWKS endpoint, and tokens as Azure Bot Service issues them. */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT, type JWK } from "jose";

type PrivateKey = Awaited<ReturnType<typeof generateKeyPair>>["privateKey"];

export class LocalAuthority {
  #server: Server | null = null;
  #jwk: JWK | null = null;
  #key: PrivateKey | null = null;
  #otherKey: PrivateKey | null = null;
  url = "";
  readonly tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";

  async start(): Promise<this> {
    const { publicKey, privateKey } = await generateKeyPair("RS256");
    this.#key = privateKey;
    this.#otherKey = (await generateKeyPair("RS256")).privateKey;
    this.#jwk = { ...(await exportJWK(publicKey)), kid: "local-1", use: "sig", alg: "RS256" };
    this.#server = createServer((req, res) => {
      if (req.url?.endsWith("/discovery/v2.0/keys")) {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ keys: [this.#jwk] }));
        return;
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => this.#server!.listen(0, "127.0.0.1", () => r()));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/${this.tenant}`;
    return this;
  }

  async stop(): Promise<void> {
    await new Promise<void>((r) => this.#server?.close(() => r()));
  }

  /** A token; `forge` signs with a key the JWKS does not publish. */
  async token(o: {
    aud: string;
    expiresInSeconds?: number;
    forge?: boolean;
    serviceUrl?: string;
  }): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ serviceurl: o.serviceUrl ?? "", tid: this.tenant, appid: "bot-service" })
      .setProtectedHeader({ alg: "RS256", kid: "local-1", typ: "JWT" })
      .setIssuer(`https://login.microsoftonline.com/${this.tenant}/v2.0`)
      .setAudience(o.aud)
      .setIssuedAt(now - 60)
      .setNotBefore(now - 60)
      .setExpirationTime(now + (o.expiresInSeconds ?? 3600))
      .sign(o.forge ? this.#otherKey! : this.#key!);
  }
}
