/**
 * The simulated tenant refuses configuration mistakes as Azure does (checked with the real SDKs over
 * HTTPS), and keyturn's doctor turns each refusal into a message that says what to fix.
 */
import { CognitiveServicesManagementClient } from "@azure/arm-cognitiveservices";
import { isRestError } from "@azure/core-rest-pipeline";
import { SecretClient } from "@azure/keyvault-secrets";
import { request } from "node:https";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkAccess, classifyAzureError } from "../../src/azure/index.js";
import {
  createSimulatorCredential,
  simulatorAzureConfig,
  startSimulator,
  type Simulator,
} from "../../src/sandbox/index.js";

const PROD = "00000000-0000-4000-8000-0000000000a1";
const TYPO = "00000000-0000-4000-8000-0000000000a7";
const silent = { debug() {}, info() {}, warn() {}, error() {} } as never;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- Azure's JSON, read field by field
type Json = any;

let sim: Simulator;
let token = "";
const arm = (sub: string) =>
  new CognitiveServicesManagementClient(createSimulatorCredential(), sub, {
    endpoint: sim.armEndpoint,
    credentialScopes: ["https://management.azure.com/.default"],
    tlsOptions: { ca: sim.caPem },
    retryOptions: { maxRetries: 0 },
  });
const vault = () =>
  new SecretClient(sim.vaultUrls["contoso-kv"]!, createSimulatorCredential(), {
    disableChallengeResourceVerification: true,
    tlsOptions: { ca: sim.caPem },
    retryOptions: { maxRetries: 0 },
  });

function call(base: string, path: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; headers: Record<string, unknown>; json: Json }>((resolve, reject) => {
    const req = request(new URL(path, base), { method: "GET", headers, ca: sim.caPem }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString("utf8")));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, json: body ? JSON.parse(body) : null }),
      );
    });
    req.on("error", reject);
    req.end();
  });
}
const authed = () => ({ authorization: `Bearer ${token}` });

async function refusal(
  p: Promise<unknown>,
): Promise<{ statusCode?: number; code?: string; message: string; e: unknown }> {
  try {
    await p;
  } catch (e) {
    if (!isRestError(e)) throw e;
    return { statusCode: e.statusCode, code: e.code, message: e.message, e };
  }
  throw new Error("expected Azure to refuse");
}

beforeAll(async () => {
  sim = await startSimulator({ consumers: false });
  token = (await createSimulatorCredential().getToken("https://management.azure.com/.default"))!.token;
});
afterAll(async () => {
  await sim.close();
});

describe("ARM refuses configuration mistakes", () => {
  it("an unknown subscription is 404 SubscriptionNotFound, not an empty list", async () => {
    const list = async () => {
      for await (const _ of arm(TYPO).accounts.list());
    };
    const r = await refusal(list());
    expect(r.statusCode).toBe(404);
    expect(r.code).toBe("SubscriptionNotFound");
    expect(r.message).toBe(`The subscription '${TYPO}' could not be found.`);
    const err = classifyAzureError(r.e, { action: "list accounts", scope: `/subscriptions/${TYPO}` });
    expect(err.userMessage).toContain("AZURE_SUBSCRIPTION_IDS");
  });

  it("a missing resource group is ResourceGroupNotFound; a missing account in a real group stays ResourceNotFound", async () => {
    const rg = await refusal(arm(PROD).accounts.get("rg-ai-prdo", "contoso-translator"));
    expect(rg.statusCode).toBe(404);
    expect(rg.code).toBe("ResourceGroupNotFound");
    expect(rg.message).toBe("Resource group 'rg-ai-prdo' could not be found.");
    const acc = await refusal(arm(PROD).accounts.get("rg-ai-prod", "contoso-nope"));
    expect(acc.code).toBe("ResourceNotFound");
  });

  it("an unsupported api-version is 400 InvalidApiVersionParameter listing the type's versions", async () => {
    const accounts = await call(
      sim.armEndpoint,
      `/subscriptions/${PROD}/providers/Microsoft.CognitiveServices/accounts?api-version=2099-01-01`,
      authed(),
    );
    expect(accounts.status).toBe(400);
    expect(accounts.json.error.code).toBe("InvalidApiVersionParameter");
    expect(accounts.json.error.message).toMatch(
      /^The api-version '2099-01-01' is invalid\. The supported versions are '2025-09-01,[^']*'\.$/,
    );
    const metrics = await call(
      sim.armEndpoint,
      `/subscriptions/${PROD}/resourceGroups/rg-ai-prod/providers/Microsoft.CognitiveServices/accounts/contoso-translator/providers/Microsoft.Insights/metrics?api-version=2025-09-01`,
      authed(),
    );
    expect(metrics.status).toBe(400);
    expect(metrics.json.error.message).toContain("'2024-02-01,");
    expect(metrics.json.error.message).toContain("2018-01-01");
    expect(metrics.json.error.message).not.toContain("2025-09-01,");
  });

  it("GET /subscriptions lists the caller's subscriptions", async () => {
    const r = await call(sim.armEndpoint, "/subscriptions?api-version=2022-12-01", authed());
    expect(r.status).toBe(200);
    expect(r.json.value.map((s: { subscriptionId: string }) => s.subscriptionId).sort()).toEqual(
      [...sim.subscriptionIds].sort(),
    );
    expect(r.json.value[0]).toMatchObject({
      state: "Enabled",
      tenantId: sim.tenantId,
      id: `/subscriptions/${r.json.value[0].subscriptionId}`,
    });
  });

  it("GET /metadata/endpoints is anonymous and points at the simulator", async () => {
    const r = await call(sim.armEndpoint, "/metadata/endpoints?api-version=2022-09-01");
    expect(r.status).toBe(200);
    expect(r.json.resourceManager).toBe(`${sim.armEndpoint}/`);
    expect(r.json.authentication.audiences).toContain("https://management.azure.com/");
    expect(r.json.suffixes.keyVaultDns).toBe("vault.azure.net");
  });

  it("echoes the caller's correlation and client request ids", async () => {
    const r = await call(
      sim.armEndpoint,
      `/subscriptions/${PROD}/providers/Microsoft.CognitiveServices/accounts?api-version=2025-09-01`,
      {
        ...authed(),
        "x-ms-correlation-request-id": "corr-123",
        "x-ms-client-request-id": "client-456",
      },
    );
    expect(r.headers["x-ms-correlation-request-id"]).toBe("corr-123");
    expect(r.headers["x-ms-client-request-id"]).toBe("client-456");
    expect(r.headers["x-ms-request-id"]).not.toBe("corr-123");
  });
});

describe("Key Vault refuses what Azure refuses", () => {
  it("a name outside ^[0-9a-zA-Z-]{1,127}$ is 400 BadParameter", async () => {
    const r = await refusal(vault().setSecret("bad_name.x", "v"));
    expect(r.statusCode).toBe(400);
    expect(r.code).toBe("BadParameter");
    const long = await refusal(vault().setSecret("a".repeat(128), "v"));
    expect(long.statusCode).toBe(400);
  });

  it("names are case-insensitive", async () => {
    const client = vault();
    await client.setSecret("Case-Probe", "first");
    const v2 = await client.setSecret("CASE-PROBE", "second");
    expect((await client.getSecret("case-probe")).value).toBe("second");
    const versions: string[] = [];
    for await (const p of client.listPropertiesOfSecretVersions("case-PROBE")) versions.push(p.version!);
    expect(versions).toHaveLength(2);
    expect(versions).toContain(v2.properties.version);
  });

  it("a missing api-version and maxresults above 25 are 400", async () => {
    const base = sim.vaultUrls["contoso-kv"]!;
    const kvToken = (await createSimulatorCredential().getToken("https://vault.azure.net/.default"))!.token;
    const h = { authorization: `Bearer ${kvToken}` };
    const none = await call(base, "/secrets", h);
    expect(none.status).toBe(400);
    expect(none.json.error.code).toBe("BadParameter");
    const big = await call(base, "/secrets?api-version=2025-07-01&maxresults=26", h);
    expect(big.status).toBe(400);
    expect(big.json.error.code).toBe("BadParameter");
    const ok = await call(base, "/secrets?api-version=2025-07-01&maxresults=25", h);
    expect(ok.status).toBe(200);
  });
});

describe("keyturn doctor on a configuration mistake", () => {
  it("a typo in AZURE_SUBSCRIPTION_IDS names the subscription and the ones the identity can see", async () => {
    const config = { ...simulatorAzureConfig(sim), subscriptionIds: [PROD, TYPO] };
    const rows = await checkAccess(config, createSimulatorCredential(), silent);
    const bad = rows.find((r) => r.scope === `/subscriptions/${TYPO}`)!;
    expect(bad.ok).toBe(false);
    expect(bad.detail).toContain(`subscription ${TYPO} not found for keyturn's identity`);
    expect(bad.fix).toContain("check AZURE_SUBSCRIPTION_IDS");
    expect(bad.fix).toContain(`${PROD} (contoso-prod)`);
    expect(rows.filter((r) => r.scope === `/subscriptions/${PROD}`).every((r) => r.ok)).toBe(true);
  });
});
