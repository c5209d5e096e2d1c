/**
 * A local Microsoft Entra token issuer for the API's tests: a real HTTP server on 127.0.0.1 serving a
 * tenant's JWKS at `/<tenant>/discovery/v2.0/keys` (as login.microsoftonline.com does), and access
 * tokens signed RS256 with a generated key, shaped as Entra issues them for an app: v1
 * (`iss` https://sts.windows.net/<tenant>/, `appid`) or v2 (`iss` <authority>/<tenant>/v2.0, `azp`),
 * with `tid`, `oid`, `sub`, `idtyp: app`. It can rotate its signing key (a new `kid` appears in the
 * JWKS) and counts how often the JWKS was fetched.
 */
import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT, type JWK } from "jose";

type PrivateKey = Awaited<ReturnType<typeof generateKeyPair>>["privateKey"];

export interface TokenOptions {
  /** The caller's object id (service principal or user). */
  oid?: string;
  aud?: string;
  /** "v1" (sts.windows.net issuer, appid) or "v2" (<authority>/<tenant>/v2.0 issuer, azp). Default v2. */
  version?: "v1" | "v2";
  /** Overrides the issuer outright (another tenant's, another authority's). */
  iss?: string;
  tid?: string;
  /** Seconds from now; negative = already expired. Default 3600. */
  expiresIn?: number;
  /** Seconds from now before which the token is not valid. Default: valid since a minute ago. */
  notBeforeIn?: number;
  /** Signed with a key the JWKS does not publish (same kid): the signature does not verify. */
  forge?: boolean;
  /** A user's token (scp, name) instead of an app's own. */
  user?: { name: string };
}

export class EntraTokenIssuer {
  readonly tenant: string;
  /** The app keyturn is registered as: its client id and Application ID URI. */
  readonly clientId = "6e1c2f8a-3b4d-4c5e-9f60-7a8b9c0d1e2f";
  readonly appIdUri = "api://keyturn-test";
  url = "";
  /** How many times the JWKS was served. */
  jwksFetches = 0;
  #server: Server | null = null;
  #keys: { kid: string; key: PrivateKey; jwk: JWK }[] = [];
  #forger: PrivateKey | null = null;

  constructor(tenant = "8a3d5f2e-1b4c-4d6e-8f7a-9b0c1d2e3f4a") {
    this.tenant = tenant;
  }

  async start(): Promise<this> {
    await this.rotateKey();
    this.#forger = (await generateKeyPair("RS256")).privateKey;
    this.#server = createServer((req, res) => {
      if (req.method === "GET" && req.url === `/${this.tenant}/discovery/v2.0/keys`) {
        this.jwksFetches++;
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ keys: this.#keys.map((k) => k.jwk) }));
        return;
      }
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: "not_found" }));
    });
    await new Promise<void>((r) => this.#server!.listen(0, "127.0.0.1", () => r()));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    await new Promise<void>((r) => (this.#server ? this.#server.close(() => r()) : r()));
  }

  /** Starts signing with a new key, published beside the old one (as Entra rolls its keys). */
  async rotateKey(): Promise<string> {
    const { publicKey, privateKey } = await generateKeyPair("RS256");
    const kid = `k-${randomUUID().slice(0, 8)}`;
    const jwk = { ...(await exportJWK(publicKey)), kid, use: "sig", kty: "RSA" };
    this.#keys.unshift({ kid, key: privateKey, jwk });
    return kid;
  }

  /** The environment that points keyturn's API at this issuer. */
  env(extra: Record<string, string> = {}): Record<string, string> {
    return {
      KEYTURN_API_TENANT_ID: this.tenant,
      KEYTURN_API_AUDIENCE: `${this.clientId},${this.appIdUri}`,
      KEYTURN_API_AUTHORITY: this.url,
      ...extra,
    };
  }

  get v2Issuer(): string {
    return `${this.url}/${this.tenant}/v2.0`;
  }

  /** An access token as Entra issues it for keyturn's app. */
  async token(o: TokenOptions = {}): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const version = o.version ?? "v2";
    const tid = o.tid ?? this.tenant;
    const oid = o.oid ?? randomUUID();
    const client = randomUUID();
    const iss = o.iss ?? (version === "v1" ? `https://sts.windows.net/${tid}/` : `${this.url}/${tid}/v2.0`);
    const claims: Record<string, unknown> = {
      tid,
      oid,
      ver: version === "v1" ? "1.0" : "2.0",
      ...(version === "v1" ? { appid: client, appidacr: "2" } : { azp: client, azpacr: "2" }),
      ...(o.user ? { scp: "access_as_user", name: o.user.name } : { idtyp: "app", roles: [] }),
    };
    const signer = this.#keys[0]!;
    return new SignJWT(claims)
      .setProtectedHeader({ alg: "RS256", kid: signer.kid, typ: "JWT" })
      .setIssuer(iss)
      .setAudience(o.aud ?? (version === "v1" ? this.appIdUri : this.clientId))
      .setSubject(o.user ? randomUUID() : oid)
      .setIssuedAt(now - 60)
      .setNotBefore(now + (o.notBeforeIn ?? -60))
      .setExpirationTime(now + (o.expiresIn ?? 3600))
      .sign(o.forge ? this.#forger! : signer.key);
  }
}
