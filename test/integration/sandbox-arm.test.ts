import { CognitiveServicesManagementClient } from "@azure/arm-cognitiveservices";
import { isRestError } from "@azure/core-rest-pipeline";
import { request } from "node:https";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSimulatorCredential, startSimulator, type Simulator } from "../../src/sandbox/index.js";

const PROD = "00000000-0000-4000-8000-0000000000a1";
const DEV = "00000000-0000-4000-8000-0000000000b2";
const translatorId = `/subscriptions/${PROD}/resourceGroups/rg-ai-prod/providers/Microsoft.CognitiveServices/accounts/contoso-translator`;

let sim: Simulator;
const client = (sub: string, identity?: { name: string; objectId?: string }) =>
  new CognitiveServicesManagementClient(createSimulatorCredential(identity), sub, {
    endpoint: sim.armEndpoint,
    credentialScopes: ["https://management.azure.com/.default"],
    tlsOptions: { ca: sim.caPem },
    retryOptions: { maxRetries: 0 },
  });

function call(path: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) {
  const url = new URL(path, sim.armEndpoint);
  return new Promise<{
    status: number;
    headers: Record<string, string | string[] | undefined>;
    body: string;
  }>((resolve, reject) => {
    const req = request(
      url,
      { method: init.method ?? "GET", headers: init.headers, ca: sim.caPem },
      (res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString("utf8")));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on("error", reject);
    req.end(init.body);
  });
}

beforeAll(async () => {
  sim = await startSimulator({ consumers: false, pageSize: 2 });
});
afterAll(async () => {
  await sim.close();
});

describe("simulated ARM: Cognitive Services accounts", () => {
  it("lists accounts across pages through the SDK and shows the sandbox marker", async () => {
    const names: string[] = [];
    for await (const a of client(PROD).accounts.list()) names.push(a.name!);
    expect(names.sort()).toEqual(["contoso-openai", "contoso-speech", "contoso-translator", "shared-lang"]);
    const byRg: string[] = [];
    for await (const a of client(DEV).accounts.listByResourceGroup("rg-ai-dev")) byRg.push(a.name!);
    expect(byRg.sort()).toEqual(["contoso-keyless", "fabrikam-ai", "shared-lang"]);
    const first = await client(PROD).accounts.get("rg-ai-prod", "contoso-translator");
    expect(first.kind).toBe("TextTranslation");
    expect(first.tags).toMatchObject({
      environment: "production",
      owner: "team-lang@contoso.com",
      "keyturn-sandbox": "true",
    });
    expect(first.properties?.endpoint).toBe(`${sim.armEndpoint}/dataplane/${PROD}/contoso-translator/`);
  });

  it("pages with an absolute nextLink carrying $skiptoken", async () => {
    const token = (await createSimulatorCredential().getToken("x"))!.token;
    const r = await call(
      `/subscriptions/${PROD}/providers/Microsoft.CognitiveServices/accounts?api-version=2025-09-01`,
      { headers: { authorization: `Bearer ${token}` } },
    );
    const page = JSON.parse(r.body) as { value: unknown[]; nextLink: string };
    expect(page.value).toHaveLength(2);
    expect(page.nextLink.startsWith(`${sim.armEndpoint}/subscriptions/${PROD}/`)).toBe(true);
    expect(page.nextLink).toContain("$skiptoken=");
    expect(r.headers["x-ms-request-id"]).toBeTruthy();
    expect(r.headers["x-ms-correlation-request-id"]).toBeTruthy();
    expect(r.headers["x-ms-ratelimit-remaining-subscription-reads"]).toBeTruthy();
    expect(r.headers["x-keyturn-sandbox"]).toBe("1");
  });

  it("refuses requests without a token with AuthenticationFailed and a challenge", async () => {
    const r = await call(
      `/subscriptions/${PROD}/providers/Microsoft.CognitiveServices/accounts?api-version=2025-09-01`,
    );
    expect(r.status).toBe(401);
    expect(JSON.parse(r.body).error.code).toBe("AuthenticationFailed");
    expect(r.headers["www-authenticate"]).toContain("Bearer");
  });

  it("regenerates a key: the old key dies at once on the data plane, the new one works", async () => {
    const c = client(PROD);
    const before = await c.accounts.listKeys("rg-ai-prod", "contoso-translator");
    expect(before.key1).toMatch(/^[A-Za-z0-9]{84}$/);
    const dp = (key: string) =>
      // the token exchange requires the key (GET /languages is anonymous and cannot tell)
      call(`/dataplane/${PROD}/contoso-translator/sts/v1.0/issueToken`, {
        method: "POST",
        headers: { "ocp-apim-subscription-key": key },
      });
    expect((await dp(before.key1!)).status).toBe(200);
    const after = await c.accounts.regenerateKey("rg-ai-prod", "contoso-translator", "Key1");
    expect(after.key1).not.toBe(before.key1);
    expect(after.key2).toBe(before.key2);
    const dead = await dp(before.key1!);
    expect(dead.status).toBe(401);
    expect(JSON.parse(dead.body).error.message).toContain("Access denied due to invalid subscription key");
    expect((await dp(after.key1!)).status).toBe(200);
    expect(sim.admin.regenerations()[translatorId]).toEqual({ key1: 1, key2: 0 });
    expect(sim.admin.currentKeys(translatorId).key1).toBe(after.key1);
    expect(sim.admin.keyValues()).toEqual(expect.arrayContaining([before.key1, after.key1, before.key2]));
  });

  it("issues legacy 32-hex keys for legacy accounts", async () => {
    const keys = await client(PROD).accounts.listKeys("rg-ai-prod", "contoso-speech");
    expect(keys.key1).toMatch(/^[0-9a-f]{32}$/);
  });

  it("answers OpenAI's api-key header on the data plane", async () => {
    const keys = await client(PROD).accounts.listKeys("rg-ai-prod", "contoso-openai");
    const ok = await call(`/dataplane/${PROD}/contoso-openai/openai/models?api-version=2024-10-21`, {
      headers: { "api-key": keys.key2! },
    });
    expect(ok.status).toBe(200);
    const bad = await call(`/dataplane/${PROD}/contoso-openai/openai/models?api-version=2024-10-21`, {
      headers: { "api-key": "nope" },
    });
    expect(bad.status).toBe(401);
  });

  it("refuses listKeys on a disableLocalAuth account as Azure does, and 403s a key on its data plane", async () => {
    const err = await client(DEV)
      .accounts.listKeys("rg-ai-dev", "contoso-keyless")
      .catch((e: unknown) => e);
    expect(isRestError(err) && err.statusCode).toBe(400);
    expect(isRestError(err) && err.code).toBe("BadRequest");
    expect(isRestError(err) && err.message).toContain("disableLocalAuth is set to be true");
    const acct = await client(DEV).accounts.get("rg-ai-dev", "contoso-keyless");
    expect(acct.properties?.disableLocalAuth).toBe(true);
    // Azure OpenAI / AI Services: 403 AuthenticationTypeDisabled for any key once local auth is off
    const keyed = await call(`/dataplane/${DEV}/contoso-keyless/x`, {
      headers: { "ocp-apim-subscription-key": "anything" },
    });
    expect(keyed.status).toBe(403);
    expect(JSON.parse(keyed.body)).toEqual({
      error: {
        code: "AuthenticationTypeDisabled",
        message: "Key based authentication is disabled for this resource.",
      },
    });
  });

  it("answers 404 ResourceNotFound for an unknown account", async () => {
    const err = await client(PROD)
      .accounts.get("rg-ai-prod", "nope")
      .catch((e: unknown) => e);
    expect(isRestError(err) && err.statusCode).toBe(404);
    expect(isRestError(err) && err.code).toBe("ResourceNotFound");
    expect(isRestError(err) && err.message).toContain("Microsoft.CognitiveServices/accounts/nope");
  });

  it("rejects a malformed regenerateKey body", async () => {
    const token = (await createSimulatorCredential().getToken("x"))!.token;
    const r = await call(`${translatorId}/regenerateKey?api-version=2025-09-01`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ keyName: "Key3" }),
    });
    expect(r.status).toBe(400);
  });
});
