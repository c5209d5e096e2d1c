/**
 * Only authenticated Teams reaches keyturn. The built program, over real HTTP:
 * - with real Azure configured (a standalone simulator, as at Azure) and only Slack set up,
 *   /api/messages is not served: an unauthenticated break-glass rotation gets 404 and nothing moves;
 * - the anonymous local-try switch is refused off loopback and in production;
 * - with a Teams app, tokens from a local signing authority with the wrong issuer or another
 *   tenant's tid, and activities from another tenant, are refused and nothing happens; a valid
 *   token is answered through the Bot Connector with keyturn's own managed-identity token.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  cardOf,
  channelMessage,
  FakeConnector,
  inTenant,
  personalMessage,
  TENANT,
} from "../fakes/bot-connector.js";
import { LocalAuthority } from "../fakes/teams-auth.js";
import { ChaosKeyturn } from "../support/chaos-keyturn.js";
import {
  azureEnv,
  startStandaloneSimulator,
  writeShortPolicy,
  type StandaloneSimulator,
} from "../support/chaos-kit.js";
import { spawnKeyturn, waitUntil, type RunningProgram } from "../support/spawn-keyturn.js";
import { startOutcome } from "../support/start-outcome.js";

const APP_ID = "0f5a6c7d-1111-4222-8333-944444444444";
const OTHER_TENANT = "0c0ffee0-0000-4000-8000-00000000beef";
const BREAK_GLASS = 'rotate contoso-translator --exposure key1 --kill-now --break-glass --reason "leaked"';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "keyturn-trust-teams-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const post = async (url: string, activity: Record<string, unknown>, token?: string) => {
  const r = await fetch(`${url}/api/messages`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(activity),
  });
  await r.arrayBuffer();
  return r.status;
};

/** Changes keyturn recorded in its store (read-only, beside the running writer). */
function changeCount(dataDir: string): number {
  const path = join(dataDir, "keyturn.db");
  if (!existsSync(path)) return 0;
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare("SELECT count(*) AS n FROM changes").get() as { n: number }).n;
  } finally {
    db.close();
  }
}

describe("1. Teams is served only when it is configured", () => {
  let sim: StandaloneSimulator;
  let kt: ChaosKeyturn;
  let fc: FakeConnector;

  beforeAll(async () => {
    sim = await startStandaloneSimulator(dir);
    fc = await new FakeConnector().start();
    kt = await new ChaosKeyturn(join(dir, "azure-data"), {
      ...azureEnv(sim),
      KEYTURN_POLICY_FILE: writeShortPolicy(dir),
    }).start();
  });

  afterAll(async () => {
    await kt?.stop();
    await fc?.stop();
    await sim?.stop();
  });

  it("real Azure and only Slack: an unauthenticated break-glass rotation at /api/messages is 404 and nothing moves", async () => {
    const url = kt.kt!.url;
    expect(await post(url, channelMessage(fc.url, "dave", BREAK_GLASS))).toBe(404);
    expect(await post(url, personalMessage(fc.url, "dave", BREAK_GLASS))).toBe(404);
    // what a served request would have done is over well within this
    await new Promise((r) => setTimeout(r, 1500));
    expect(kt.changes()).toEqual([]);
    const regenerations = await sim.admin<Record<string, { key1: number; key2: number }>>(
      "GET",
      "/regenerations",
    );
    expect(Object.values(regenerations).filter((r) => r.key1 + r.key2 > 0)).toEqual([]);
    // keyturn never called the serviceUrl the caller chose (no member lookup, no reply)
    expect(fc.bodies).toEqual([]);
    const health: unknown = await fetch(`${url}/healthz`).then((r) => r.json());
    expect(health).toMatchObject({
      mode: "azure",
      platforms: ["slack"],
    });
  });

  it.each([
    [
      "off loopback",
      { HOST: "0.0.0.0" },
      "KEYTURN_TEAMS_ANONYMOUS: refused with HOST=0.0.0.0 — unauthenticated Teams only listens on this machine; set HOST=127.0.0.1 (or ::1, localhost), or set MicrosoftAppId for authenticated Teams",
    ],
    [
      "in production",
      { NODE_ENV: "production", HOST: "127.0.0.1" },
      "KEYTURN_TEAMS_ANONYMOUS: refused with NODE_ENV=production — unauthenticated Teams is only for a try on this machine; register an Azure Bot and set MicrosoftAppId, MicrosoftAppTenantId (README: Install in Teams)",
    ],
  ])("the anonymous local-try switch is refused %s: keyturn does not start", async (_where, env, message) => {
    const r = await startOutcome({
      ...azureEnv(sim),
      AZURE_CREDENTIAL: "default",
      KEYTURN_POLICY_FILE: writeShortPolicy(dir),
      KEYTURN_TEAMS_ANONYMOUS: "local",
      KEYTURN_DATA_DIR: join(dir, "refused"),
      ...env,
    });
    expect(r.code).toBe(2);
    expect(r.output).toContain(message);
    expect(r.output).not.toMatch(/keyturn ready/);
  });
});

describe("2. Teams tokens: issuer and tenant validated; activities from another tenant refused", () => {
  let authority: LocalAuthority;
  let fc: FakeConnector;
  let kt: RunningProgram;
  let data: string;

  beforeAll(async () => {
    authority = await new LocalAuthority().start();
    fc = await new FakeConnector().start();
    data = join(dir, "teams-data");
    kt = await spawnKeyturn({
      KEYTURN_DATA_DIR: data,
      KEYTURN_SANDBOX: "1",
      MicrosoftAppId: APP_ID,
      MicrosoftAppType: "UserAssignedMSI",
      MicrosoftAppTenantId: authority.tenant,
      TEAMS_AUTHORITY_ENDPOINT: authority.url,
      // keyturn's outbound token comes from App Service's managed-identity endpoint (here: local)
      IDENTITY_ENDPOINT: authority.identityEndpoint,
      IDENTITY_HEADER: authority.identityHeader,
    });
  });

  afterAll(async () => {
    await kt?.stop();
    await fc?.stop();
    await authority?.stop();
  });

  const token = (claims: { iss?: string; tid?: string } = {}) =>
    authority.token({ aud: APP_ID, serviceUrl: fc.url, ...claims });

  it.each([
    ["an issuer outside the registration", { iss: "https://issuer.example/" }],
    [
      "Entra's issuer for another tenant",
      { iss: `https://login.microsoftonline.com/${OTHER_TENANT}/v2.0`, tid: OTHER_TENANT },
    ],
    ["the registration's issuer with another tenant's tid", { tid: OTHER_TENANT }],
  ])("a token signed by the authority's key from %s → 401, nothing happens", async (_what, claims) => {
    expect(await post(kt.url, channelMessage(fc.url, "dave", BREAK_GLASS), await token(claims))).toBe(401);
  });

  it("an activity from another tenant with a valid token → 403, nothing happens", async () => {
    const activity = inTenant(channelMessage(fc.url, "dave", BREAK_GLASS), OTHER_TENANT);
    expect(await post(kt.url, activity, await token())).toBe(403);
    await new Promise((r) => setTimeout(r, 1000));
    expect(changeCount(data)).toBe(0);
    expect(fc.bodies).toEqual([]);
  });

  it("a valid token from the tenant is answered, with keyturn's own token and the sender's UPN looked up", async () => {
    const activity = personalMessage(fc.url, "bob", "status contoso-translator");
    expect((activity.conversation as { tenantId: string }).tenantId).toBe(TENANT);
    expect(await post(kt.url, activity, await token())).toBe(200);
    const reply = await waitUntil("Bob's status reply", () => fc.in("a:personal-bob")[0], 20_000);
    expect(JSON.stringify(cardOf(reply.body))).toContain("contoso-translator");
    expect(authority.issued.length).toBeGreaterThan(0);
    expect(fc.authHeaders.every((h) => authority.issued.includes(h.replace(/^Bearer /, "")))).toBe(true);
    expect(fc.memberLookups).toContain("29:bob");
    expect(changeCount(data)).toBe(0);
  });
});
