/**
 * The sandbox's Microsoft Entra token issuer, so keyturn's HTTP API can be tried with no tenant: the
 * simulated tenant's JWKS at `/<tenant>/discovery/v2.0/keys` and its token endpoint
 * `/<tenant>/oauth2/v2.0/token` (the client credentials grant, as a pipeline's service principal uses
 * it), signing v2 access tokens with an RSA key generated at start. There is no client secret: the
 * `client_id` sent is the caller's object id (the sandbox policy's people are `aad:1111…`, `aad:2222…`),
 * so it listens on 127.0.0.1 only and runs only in the sandbox.
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT } from "jose";

export interface SandboxEntraIssuer {
  /** The authority keyturn's API reads keys from (KEYTURN_API_AUTHORITY). */
  readonly url: string;
  readonly tenantId: string;
  readonly audience: string;
  readonly tokenUrl: string;
  close(): Promise<void>;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export async function startSandboxEntraIssuer(o: {
  tenantId: string;
  audience: string;
}): Promise<SandboxEntraIssuer> {
  const { publicKey, privateKey } = await generateKeyPair("RS256");
  const kid = `sandbox-${randomUUID().slice(0, 8)}`;
  const jwk = { ...(await exportJWK(publicKey)), kid, use: "sig", alg: "RS256" };
  const tenant = o.tenantId.toLowerCase();
  let url = "";

  const token = async (form: URLSearchParams): Promise<{ status: number; body: unknown }> => {
    const refuse = (error: string, description: string) => ({
      status: 400,
      body: { error, error_description: `SANDBOX: ${description}` },
    });
    if (form.get("grant_type") !== "client_credentials")
      return refuse("unsupported_grant_type", "only grant_type=client_credentials is served here.");
    const oid = (form.get("client_id") ?? "").toLowerCase();
    if (!GUID.test(oid))
      return refuse(
        "invalid_client",
        "client_id must be the object id of a sandbox principal, e.g. 11111111-1111-4111-8111-111111111111 (Alice).",
      );
    const scope = form.get("scope") ?? "";
    if (scope !== `${o.audience}/.default`)
      return refuse("invalid_scope", `scope must be ${o.audience}/.default (keyturn's sandbox API).`);
    const now = Math.floor(Date.now() / 1000);
    const access = await new SignJWT({ tid: tenant, oid, azp: oid, azpacr: "1", idtyp: "app", ver: "2.0" })
      .setProtectedHeader({ alg: "RS256", kid, typ: "JWT" })
      .setIssuer(`${url}/${tenant}/v2.0`)
      .setAudience(o.audience)
      .setSubject(oid)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + 3600)
      .sign(privateKey);
    return { status: 200, body: { token_type: "Bearer", expires_in: 3600, access_token: access } };
  };

  const server: Server = createServer((req, res) => {
    const answer = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (req.method === "GET" && req.url === `/${tenant}/discovery/v2.0/keys`)
      return answer(200, { keys: [jwk] });
    if (req.method === "POST" && req.url === `/${tenant}/oauth2/v2.0/token`) {
      readForm(req).then(
        (form) => token(form).then((r) => answer(r.status, r.body)),
        () => answer(400, { error: "invalid_request", error_description: "SANDBOX: send a form body." }),
      );
      return;
    }
    answer(404, {
      error: "not_found",
      error_description: `SANDBOX: this issuer serves tenant ${tenant} only.`,
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    tenantId: tenant,
    audience: o.audience,
    tokenUrl: `${url}/${tenant}/oauth2/v2.0/token`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > 16_384) throw new Error("too large");
    chunks.push(c as Buffer);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
}
