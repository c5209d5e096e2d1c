/**
 * The API tried in the sandbox with nothing but keyturn: KEYTURN_SANDBOX_API=1 starts the sandbox's own
 * token issuer (the client credentials grant on 127.0.0.1), and the built program accepts its tokens
 * for the simulated tenant and no other.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EntraTokenIssuer } from "../fakes/entra-tokens.js";
import { spawnKeyturn, type RunningProgram } from "../support/spawn-keyturn.js";

const ALICE = "11111111-1111-4111-8111-111111111111";
let kt: RunningProgram;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "keyturn-api-sandbox-"));
  kt = await spawnKeyturn({ KEYTURN_DATA_DIR: join(dir, "data"), KEYTURN_SANDBOX_API: "1" });
}, 90_000);

afterAll(async () => {
  await kt?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** The token command keyturn printed at start, run as the sandbox person with that object id. */
async function tokenFor(
  oid: string,
  scope?: string,
): Promise<{ status: number; body: Record<string, string> }> {
  const line = /API tokens \(SANDBOX issuer\): curl .* -d scope=(\S+) (http:\/\/127\.0\.0\.1:\d+\/\S+)/.exec(
    kt.output(),
  );
  expect(line).not.toBeNull();
  const res = await fetch(line![2]!, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "client_credentials",
      client_id: oid,
      scope: scope ?? line![1]!,
    }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, string> };
}

describe("the API in the sandbox, with the sandbox's own token issuer", () => {
  it("a sandbox person's token reads status and requests a rotation, which the console's incident room gets", async () => {
    const t = await tokenFor(ALICE);
    expect(t.status).toBe(200);
    const auth = { authorization: `Bearer ${t.body.access_token}` };
    const status = await fetch(`${kt.url}/api/v1/accounts/contoso-translator/status`, { headers: auth });
    expect(status.status).toBe(200);
    expect(await status.json()).toMatchObject({ account: { name: "contoso-translator" }, label: "SANDBOX" });
    const opened = await fetch(`${kt.url}/api/v1/rotations`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ account: "contoso-speech", reason: "trying the API" }),
    });
    expect(opened.status).toBe(201);
    const body = (await opened.json()) as { changeId: string; change: { requester: unknown } };
    expect(body.change.requester).toEqual({ id: `aad:${ALICE}`, name: "Alice Ng" });
    expect(kt.output()).toContain("rotations post to console:incident-room");
  });

  it("refuses a scope other than keyturn's, and tokens of any other issuer", async () => {
    const wrong = await tokenFor(ALICE, "https://management.azure.com/.default");
    expect(wrong.status).toBe(400);
    expect(wrong.body.error).toBe("invalid_scope");
    // a token from another issuer, for the same audience and tenant, signed by another key
    const other = await new EntraTokenIssuer("72f988bf-86f1-41af-91ab-2d7cd011db47").start();
    try {
      // the sandbox issuer's own issuer string: only the signature tells the tokens apart
      const tokenUrl = /(http:\/\/127\.0\.0\.1:\d+)\/(\S+)\/oauth2\/v2\.0\/token/.exec(kt.output())!;
      const iss = `${tokenUrl[1]}/${tokenUrl[2]}/v2.0`;
      const forged = await other.token({ oid: ALICE, aud: "api://keyturn-sandbox", iss });
      const r = await fetch(`${kt.url}/api/v1/accounts/contoso-translator/status`, {
        headers: { authorization: `Bearer ${forged}` },
      });
      expect(r.status).toBe(401);
    } finally {
      await other.stop();
    }
  });
});
