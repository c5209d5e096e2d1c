/**
 * A local Entra-like signing authority: an RS256 key, a JWKS endpoint, tokens as Azure Bot Service
 * issues them (issuer `<authority>/v2.0`, as Entra's `https://login.microsoftonline.com/<tenant>/v2.0`),
 * and an App Service managed-identity endpoint (`IDENTITY_ENDPOINT`) that gives keyturn its
 * outbound token for the Bot Connector.
 */
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
  identityEndpoint = "";
  readonly tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
  /** The secret App Service puts in IDENTITY_HEADER. */
  readonly identityHeader = "local-identity-header";
  /** Outbound tokens handed out by the managed-identity endpoint. */
  readonly issued: string[] = [];

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
      if (req.url?.startsWith("/msi/token")) {
        void this.#managedIdentityToken(req.headers["x-identity-header"], new URL(req.url, "http://x")).then(
          ({ status, body }) => {
            res.writeHead(status, { "content-type": "application/json" });
            res.end(JSON.stringify(body));
          },
        );
        return;
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => this.#server!.listen(0, "127.0.0.1", () => r()));
    const base = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    this.url = `${base}/${this.tenant}`;
    this.identityEndpoint = `${base}/msi/token`;
    return this;
  }

  async stop(): Promise<void> {
    await new Promise<void>((r) => this.#server?.close(() => r()));
  }

  /** The issuer Entra uses for this authority's tenant. */
  get issuer(): string {
    return `${this.url}/v2.0`;
  }

  /**
   * A token; `forge` signs with a key the JWKS does not publish; `iss` and `tid` default to this
   * authority's issuer and tenant.
   */
  async token(o: {
    aud: string;
    expiresInSeconds?: number;
    forge?: boolean;
    serviceUrl?: string;
    iss?: string;
    tid?: string;
  }): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ serviceurl: o.serviceUrl ?? "", tid: o.tid ?? this.tenant, appid: "bot-service" })
      .setProtectedHeader({ alg: "RS256", kid: "local-1", typ: "JWT" })
      .setIssuer(o.iss ?? this.issuer)
      .setAudience(o.aud)
      .setIssuedAt(now - 60)
      .setNotBefore(now - 60)
      .setExpirationTime(now + (o.expiresInSeconds ?? 3600))
      .sign(o.forge ? this.#otherKey! : this.#key!);
  }

  /** App Service's managed-identity answer (api-version 2019-08-01). */
  async #managedIdentityToken(
    header: string | string[] | undefined,
    url: URL,
  ): Promise<{ status: number; body: unknown }> {
    if (header !== this.identityHeader) return { status: 401, body: { error: "bad identity header" } };
    const resource = url.searchParams.get("resource") ?? "";
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ tid: this.tenant, appid: url.searchParams.get("client_id") ?? "" })
      .setProtectedHeader({ alg: "RS256", kid: "local-1", typ: "JWT" })
      .setIssuer(this.issuer)
      .setAudience(resource)
      .setIssuedAt(now)
      .setExpirationTime(now + 3600)
      .sign(this.#key!);
    this.issued.push(token);
    return {
      status: 200,
      body: {
        access_token: token,
        expires_on: String(now + 3600),
        resource,
        token_type: "Bearer",
        client_id: url.searchParams.get("client_id") ?? "",
      },
    };
  }
}
