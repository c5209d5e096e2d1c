import { createDefaultHttpClient, isRestError, type HttpClient } from "@azure/core-rest-pipeline";
import { SecretClient } from "@azure/keyvault-secrets";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSimulatorCredential, startSimulator, type Simulator } from "../../src/sandbox/index.js";

let sim: Simulator;
const wire: { method: string; url: string; auth: boolean; hasBody: boolean; status: number }[] = [];

/** Records what really crosses the wire (the challenge happens inside the SDK's auth policy). */
function recordingClient(): HttpClient {
  const inner = createDefaultHttpClient();
  return {
    async sendRequest(req) {
      const res = await inner.sendRequest(req);
      wire.push({ method: req.method, url: req.url, auth: req.headers.has("authorization"), hasBody: req.body !== undefined && req.body !== null, status: res.status });
      return res;
    },
  };
}

const secrets = () =>
  new SecretClient(sim.vaultUrls["contoso-kv"]!, createSimulatorCredential(), {
    disableChallengeResourceVerification: true,
    tlsOptions: { ca: sim.caPem },
    httpClient: recordingClient(),
    retryOptions: { maxRetries: 0 },
  });

beforeAll(async () => {
  sim = await startSimulator({ consumers: false });
});
afterAll(async () => {
  await sim.close();
});

describe("simulated Key Vault", () => {
  it("has its own listener per vault, with no path prefix", () => {
    expect(new URL(sim.vaultUrls["contoso-kv"]!).pathname).toBe("/");
    expect(sim.vaultUrls["contoso-kv"]).not.toBe(sim.armEndpoint);
  });

  it("challenges the first bodiless request, then accepts the token: setSecret stores the real value", async () => {
    wire.length = 0;
    const client = secrets();
    const created = await client.setSecret("challenge-probe", "v-one", { contentType: "text/plain", tags: { purpose: "test" } });
    expect(wire[0]).toMatchObject({ method: "PUT", auth: false, hasBody: false, status: 401 });
    expect(wire.at(-1)).toMatchObject({ method: "PUT", auth: true, status: 200 });
    expect(created.properties.version).toMatch(/^[0-9a-f]{32}$/);
    expect(created.properties.id).toBe(`${sim.vaultUrls["contoso-kv"]}/secrets/challenge-probe/${created.properties.version}`);
    const read = await client.getSecret("challenge-probe");
    expect(read.value).toBe("v-one");
    expect(read.properties.tags).toEqual({ purpose: "test" });
    expect(read.properties.contentType).toBe("text/plain");
    expect(read.properties.enabled).toBe(true);
    expect(read.properties.createdOn).toBeInstanceOf(Date);
  });

  it("versions secrets: latest by default, each version by id, version listing without values", async () => {
    const client = secrets();
    const v1 = await client.setSecret("versioned", "first");
    const v2 = await client.setSecret("versioned", "second");
    expect((await client.getSecret("versioned")).value).toBe("second");
    expect((await client.getSecret("versioned", { version: v1.properties.version! })).value).toBe("first");
    const versions: string[] = [];
    for await (const p of client.listPropertiesOfSecretVersions("versioned")) versions.push(p.version!);
    expect(versions.sort()).toEqual([v1.properties.version, v2.properties.version].sort());
    const names: string[] = [];
    for await (const p of client.listPropertiesOfSecrets()) names.push(p.name);
    expect(names).toEqual(expect.arrayContaining(["translator-key", "openai-key", "speech-key", "fabrikam-key", "versioned"]));
  });

  it("seeds secrets with the accounts' real keys", async () => {
    const translator = `/subscriptions/00000000-0000-4000-8000-0000000000a1/resourceGroups/rg-ai-prod/providers/Microsoft.CognitiveServices/accounts/contoso-translator`;
    expect((await secrets().getSecret("translator-key")).value).toBe(sim.admin.currentKeys(translator).key1);
  });

  it("answers 403 SecretDisabled for a disabled version and 404 SecretNotFound for a missing secret", async () => {
    const client = secrets();
    const v = await client.setSecret("to-disable", "x");
    await client.updateSecretProperties("to-disable", v.properties.version!, { enabled: false });
    const disabled = await client.getSecret("to-disable", { version: v.properties.version! }).catch((e: unknown) => e);
    expect(isRestError(disabled) && disabled.statusCode).toBe(403);
    expect(isRestError(disabled) && (disabled.details as { error?: { innerError?: { code?: string } } }).error?.innerError?.code).toBe("SecretDisabled");
    const missing = await client.getSecret("never-was").catch((e: unknown) => e);
    expect(isRestError(missing) && missing.statusCode).toBe(404);
    expect(isRestError(missing) && missing.code).toBe("SecretNotFound");
  });
});
