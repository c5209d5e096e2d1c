import { AuthorizationManagementClient } from "@azure/arm-authorization";
import { CognitiveServicesManagementClient } from "@azure/arm-cognitiveservices";
import { isRestError } from "@azure/core-rest-pipeline";
import { SecretClient } from "@azure/keyvault-secrets";
import { request } from "node:https";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createSimulatorCredential, startSimulator, type Simulator } from "../../src/sandbox/index.js";

const PROD = "00000000-0000-4000-8000-0000000000a1";
const openaiId = `/subscriptions/${PROD}/resourceGroups/rg-ai-prod/providers/Microsoft.CognitiveServices/accounts/contoso-openai`;
const cred = createSimulatorCredential();
let sim: Simulator;

const cs = (retries = 0) =>
  new CognitiveServicesManagementClient(cred, PROD, {
    endpoint: sim.armEndpoint,
    credentialScopes: ["https://management.azure.com/.default"],
    tlsOptions: { ca: sim.caPem },
    retryOptions: { maxRetries: retries, retryDelayInMs: 10, maxRetryDelayInMs: 20 },
  });
const fail = <T>(p: Promise<T>) =>
  p.then(
    () => {
      throw new Error("expected a failure");
    },
    (e: unknown) => {
      if (!isRestError(e)) throw e;
      return e;
    },
  );

function admin(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${sim.adminUrl}${path}`,
      { method, ca: sim.caPem, headers: body ? { "content-type": "application/json" } : {} },
      (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString("utf8")));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : null }));
      },
    );
    req.on("error", reject);
    req.end(body ? JSON.stringify(body) : undefined);
  });
}

beforeAll(async () => {
  sim = await startSimulator({ consumers: false });
});
afterEach(() => sim.admin.clearFaults());
afterAll(async () => {
  await sim.close();
});

describe("simulator faults", () => {
  it("throttle with Retry-After: 429 SubscriptionRequestsThrottled, and the SDK's retry then succeeds", async () => {
    sim.admin.injectFault({
      match: { operation: "listKeys" },
      effect: { type: "throttle", retryAfterSeconds: 7 },
    });
    const e = await fail(cs().accounts.listKeys("rg-ai-prod", "contoso-openai"));
    expect(e.statusCode).toBe(429);
    expect(e.code).toBe("SubscriptionRequestsThrottled");
    expect(e.response?.headers.get("retry-after")).toBe("7");
    sim.admin.injectFault({
      match: { operation: "listKeys" },
      effect: { type: "throttle", retryAfterSeconds: 0 },
    });
    const keys = await cs(1).accounts.listKeys("rg-ai-prod", "contoso-openai");
    expect(keys.key1).toBe(sim.admin.currentKeys(openaiId).key1);
  });

  it("throttle without Retry-After: a 429 the SDK does not retry", async () => {
    sim.admin.injectFault({ match: { operation: "getAccount" }, effect: { type: "throttle" } });
    const e = await fail(cs(3).accounts.get("rg-ai-prod", "contoso-openai"));
    expect(e.statusCode).toBe(429);
    expect(e.response?.headers.get("retry-after")).toBeUndefined();
  });

  it("fail-after-success really regenerates, and the SDK's re-sent POST regenerates again", async () => {
    const before = sim.admin.regenerations()[openaiId]!.key2;
    const old = sim.admin.currentKeys(openaiId).key2;
    sim.admin.injectFault({
      match: { operation: "regenerateKey" },
      effect: { type: "fail-after-success", status: 503 },
    });
    const r = await cs(1).accounts.regenerateKey("rg-ai-prod", "contoso-openai", "Key2");
    expect(sim.admin.regenerations()[openaiId]!.key2).toBe(before + 2);
    expect(r.key2).toBe(sim.admin.currentKeys(openaiId).key2);
    expect(r.key2).not.toBe(old);
  });

  it("forbidden: 403 AuthorizationFailed naming the action, and the permissions API shows it in notActions", async () => {
    sim.admin.injectFault({
      match: { operation: "regenerateKey" },
      effect: { type: "forbidden" },
      times: -1,
    });
    const e = await fail(cs().accounts.regenerateKey("rg-ai-prod", "contoso-openai", "Key1"));
    expect(e.statusCode).toBe(403);
    expect(e.code).toBe("AuthorizationFailed");
    expect(e.message).toContain(
      "does not have authorization to perform action 'Microsoft.CognitiveServices/accounts/regenerateKey/action'",
    );
    expect(e.message).toContain("7c1e2d3f-0000-4000-8000-00000000c0de");
    const authz = new AuthorizationManagementClient(cred, PROD, {
      endpoint: sim.armEndpoint,
      credentialScopes: ["https://management.azure.com/.default"],
      tlsOptions: { ca: sim.caPem },
    });
    const perms: { actions?: string[]; notActions?: string[] }[] = [];
    for await (const p of authz.permissions.listForResource(
      "rg-ai-prod",
      "Microsoft.CognitiveServices",
      "",
      "accounts",
      "contoso-openai",
    ))
      perms.push(p);
    expect(perms.flatMap((p) => p.actions ?? [])).toContain("Microsoft.CognitiveServices/*");
    expect(perms.flatMap((p) => p.notActions ?? [])).toContain(
      "Microsoft.CognitiveServices/accounts/regenerateKey/action",
    );
    sim.admin.clearFaults();
    perms.length = 0;
    for await (const p of authz.permissions.listForResourceGroup("rg-ai-prod")) perms.push(p);
    expect(perms.flatMap((p) => p.notActions ?? [])).toEqual([]);
  });

  it("not-found and latency", async () => {
    sim.admin.injectFault({
      match: { pathIncludes: "contoso-openai", operation: "getAccount" },
      effect: { type: "not-found" },
    });
    expect((await fail(cs().accounts.get("rg-ai-prod", "contoso-openai"))).statusCode).toBe(404);
    sim.admin.injectFault({ match: { operation: "getAccount" }, effect: { type: "latency", ms: 300 } });
    const t0 = Date.now();
    await cs().accounts.get("rg-ai-prod", "contoso-openai");
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
  });

  it("timeout: the socket is held without an answer until the client gives up", async () => {
    sim.admin.injectFault({ match: { operation: "listKeys" }, effect: { type: "timeout" } });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 400);
    const e = await cs()
      .accounts.listKeys("rg-ai-prod", "contoso-openai", { abortSignal: ac.signal })
      .catch((x: unknown) => x);
    expect((e as Error).name).toBe("AbortError");
  });

  it("faults reach Key Vault and the data plane too", async () => {
    sim.admin.injectFault({
      match: { operation: "setSecret" },
      effect: { type: "fail-after-success", status: 500 },
    });
    const kv = new SecretClient(sim.vaultUrls["contoso-kv"]!, cred, {
      disableChallengeResourceVerification: true,
      tlsOptions: { ca: sim.caPem },
      retryOptions: { maxRetries: 0 },
    });
    expect((await fail(kv.setSecret("faulty", "v"))).statusCode).toBe(500);
    const versions: string[] = [];
    for await (const p of kv.listPropertiesOfSecretVersions("faulty")) versions.push(p.version!);
    expect(versions).toHaveLength(1);
  });

  it("admin HTTP routes: faults, keys, regenerations, consumers, tick", async () => {
    expect(
      (await admin("POST", "/faults", { match: { operation: "getAccount" }, effect: { type: "forbidden" } }))
        .status,
    ).toBe(204);
    expect((await fail(cs().accounts.get("rg-ai-prod", "contoso-openai"))).statusCode).toBe(403);
    await admin("POST", "/faults", {
      match: { operation: "getAccount" },
      effect: { type: "forbidden" },
      times: -1,
    });
    expect((await admin("DELETE", "/faults")).status).toBe(204);
    await cs().accounts.get("rg-ai-prod", "contoso-openai");
    const keys = (await admin("GET", "/keys")).json as { values: string[] };
    expect(keys.values).toContain(sim.admin.currentKeys(openaiId).key1);
    expect(
      ((await admin("GET", "/regenerations")).json as Record<string, { key1: number; key2: number }>)[
        openaiId
      ],
    ).toEqual(sim.admin.regenerations()[openaiId]);
    expect((await admin("POST", "/tick")).status).toBe(204);
    const consumers = (await admin("GET", "/consumers")).json as {
      consumers: { name: string; calls: number }[];
    };
    expect(consumers.consumers.find((c) => c.name === "translator-web")?.calls).toBeGreaterThan(0);
    expect((await admin("POST", "/repin", { site: "no-such-site", version: "x" })).status).toBe(400);
  });
});

describe("simulator throttling", () => {
  it("enforces the read bucket: 429 with Retry-After once 250 reads are spent", async () => {
    const s = await startSimulator({ consumers: false, throttle: true });
    try {
      const token = (await cred.getToken("x"))!.token;
      const get = () =>
        new Promise<{ status: number; retryAfter?: string; remaining?: string }>((resolve, reject) => {
          const req = request(
            `${s.armEndpoint}${openaiId}?api-version=2025-09-01`,
            { ca: s.caPem, headers: { authorization: `Bearer ${token}` } },
            (res) => {
              res.resume();
              res.on("end", () =>
                resolve({
                  status: res.statusCode ?? 0,
                  retryAfter: res.headers["retry-after"],
                  remaining: res.headers["x-ms-ratelimit-remaining-subscription-reads"] as string | undefined,
                }),
              );
            },
          );
          req.on("error", reject);
          req.end();
        });
      const t0 = Date.now();
      const results = await Promise.all(Array.from({ length: 400 }, () => get()));
      const seconds = (Date.now() - t0) / 1000;
      const ok = results.filter((r) => r.status === 200).length;
      const throttled = results.filter((r) => r.status === 429);
      // the bucket holds 250 and refills 25 per second while the burst is in flight
      expect(ok).toBeGreaterThanOrEqual(250);
      expect(ok).toBeLessThanOrEqual(250 + Math.ceil(seconds * 25) + 1);
      expect(throttled.length).toBe(400 - ok);
      expect(throttled.length).toBeGreaterThan(0);
      expect(throttled[0]!.retryAfter).toMatch(/^\d+$/);
      expect(
        Math.min(...results.filter((r) => r.status === 200).map((r) => Number(r.remaining))),
      ).toBeLessThan(5);
    } finally {
      await s.close();
    }
  });
});
