/**
 * The simulated tenant against Azure's published OpenAPI definitions: every served route driven over
 * HTTP (success and refusals), every answer validated (declared status, headers, body schema, error
 * envelope, paging); the protocol behaviour the schemas cannot say (regenerating key1 leaves key2,
 * a new secret version keeps the old one); a coverage check over the simulator's route table; and each
 * of five known breakages injected to prove a contract check fails on it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SERVED_ROUTES } from "../../src/sandbox/routes.js";
import { Contract, type Answer } from "./contract-openapi.js";
import { startContractSim, token, type Breakage, type ContractSim } from "./contract-harness.js";

const contract = new Contract();
const A1 = "00000000-0000-4000-8000-0000000000a1";
const B2 = "00000000-0000-4000-8000-0000000000b2";
const ACCT = `/subscriptions/${A1}/resourceGroups/rg-ai-prod/providers/Microsoft.CognitiveServices/accounts`;
const CSV = "api-version=2025-09-01";
const SITE = `/subscriptions/${A1}/resourceGroups/rg-apps/providers/Microsoft.Web/sites/translator-web`;
const ARM_AUD = "https://management.azure.com";
const KV_AUD = "https://vault.azure.net";
const LA_AUD = "https://api.loganalytics.io";

async function call(
  url: string,
  init: { method?: string; aud?: string | null; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...(init.headers ?? {}) };
  if (init.aud !== null) headers.authorization = token(init.aud ?? ARM_AUD);
  if (init.body !== undefined) headers["content-type"] = "application/json";
  const r = await fetch(url, {
    method: init.method ?? "GET",
    headers,
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
  const text = await r.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* a text answer (the token exchange) */
  }
  return { status: r.status, headers: r.headers, body };
}

const routeSpec = (id: string) => {
  const r = SERVED_ROUTES.find((x) => x.id === id)!;
  if (!("file" in r.spec)) throw new Error(`${id} has no published operation`);
  return contract.operation(r.spec.file, r.spec.operationId);
};

/** Checks an answer against the route's operation and returns the problems found. */
const problems = (id: string, a: Answer, armEnvelope = false) =>
  contract.check(routeSpec(id), a, { armEnvelope });

/** Follows nextLink verbatim from `first` and returns every item, failing on a repeat, a relative link or a loop. */
async function allPages(
  id: string,
  first: string,
  aud = ARM_AUD,
): Promise<{ items: unknown[]; pages: number; issues: string[] }> {
  const items: unknown[] = [];
  const issues: string[] = [];
  const seen = new Set<string>();
  let url: string | null = first;
  let pages = 0;
  while (url && pages < 20) {
    const a = await call(url, { aud });
    issues.push(...problems(id, a));
    const body = a.body as { value?: unknown[]; nextLink?: string | null };
    for (const item of body.value ?? []) {
      const key = JSON.stringify((item as { id?: unknown }).id ?? item);
      if (seen.has(key)) issues.push(`page ${pages + 1} repeats ${key}`);
      seen.add(key);
      items.push(item);
    }
    pages++;
    const next = body.nextLink ?? null;
    if (next !== null && !/^https?:\/\//.test(next)) issues.push(`nextLink is not absolute: ${next}`);
    url = next;
  }
  if (url) issues.push("nextLink never ends");
  return { items, pages, issues };
}

describe("simulated tenant against Azure's OpenAPI definitions", () => {
  let sim: ContractSim;
  beforeAll(async () => {
    sim = await startContractSim();
  });
  afterAll(async () => {
    await sim.close();
    // coverage: every route the simulator serves was exercised, and every answer came from a listed route
    const exercised = new Set(sim.served.map((s) => s.route).filter(Boolean));
    const missing = SERVED_ROUTES.filter((r) => !exercised.has(r.id)).map((r) => r.id);
    const unlisted = sim.served.filter((s) => s.status < 400 && !s.route);
    expect(missing, "served routes no contract test exercises").toEqual([]);
    expect(unlisted, "answers from routes the route table does not list").toEqual([]);
  });

  it("ARM itself: anonymous cloud metadata, subscriptions, and its refusals in ARM's error envelope", async () => {
    const meta = await call(`${sim.arm}/metadata/endpoints?api-version=2022-09-01`, { aud: null });
    expect(meta.status).toBe(200);
    expect((meta.body as { resourceManager: string }).resourceManager).toBe(`${sim.arm}/`);
    expect(
      problems("subscriptions-list", await call(`${sim.arm}/subscriptions?api-version=2022-12-01`)),
    ).toEqual([]);
    expect(
      problems("subscriptions-get", await call(`${sim.arm}/subscriptions/${A1}?api-version=2022-12-01`)),
    ).toEqual([]);

    const refusals: [string, Answer, number, string][] = [
      [
        "accounts-list",
        await call(
          `${sim.arm}/subscriptions/00000000-dead-4000-8000-000000000000/providers/Microsoft.CognitiveServices/accounts?${CSV}`,
        ),
        404,
        "SubscriptionNotFound",
      ],
      [
        "accounts-list-rg",
        await call(
          `${sim.arm}/subscriptions/${A1}/resourceGroups/rg-gone/providers/Microsoft.CognitiveServices/accounts?${CSV}`,
        ),
        404,
        "ResourceGroupNotFound",
      ],
      [
        "accounts-list",
        await call(
          `${sim.arm}/subscriptions/${A1}/providers/Microsoft.CognitiveServices/accounts?api-version=2099-01-01`,
        ),
        400,
        "InvalidApiVersionParameter",
      ],
      [
        "accounts-list",
        await call(`${sim.arm}/subscriptions/${A1}/providers/Microsoft.CognitiveServices/accounts`),
        400,
        "MissingApiVersionParameter",
      ],
      [
        "accounts-list",
        await call(`${sim.arm}/subscriptions/${A1}/providers/Microsoft.CognitiveServices/accounts?${CSV}`, {
          aud: null,
        }),
        401,
        "AuthenticationFailed",
      ],
      [
        "accounts-list",
        await call(`${sim.arm}/subscriptions/${A1}/providers/Microsoft.CognitiveServices/accounts?${CSV}`, {
          aud: KV_AUD,
        }),
        401,
        "InvalidAuthenticationTokenAudience",
      ],
    ];
    for (const [id, a, status, code] of refusals) {
      expect(a.status, code).toBe(status);
      expect((a.body as { error: { code: string } }).error.code).toBe(code);
      expect(problems(id, a, true), code).toEqual([]);
      if (status === 401)
        expect(a.headers.get("www-authenticate"), code).toMatch(
          /^Bearer authorization_uri="https:\/\/login\.microsoftonline\.com\/[^"]+"/,
        );
    }
    const echoed = await call(`${sim.arm}/subscriptions?api-version=2022-12-01`, {
      headers: { "x-ms-correlation-request-id": "c0ffee00-0000-4000-8000-000000000001" },
    });
    expect(echoed.headers.get("x-ms-correlation-request-id")).toBe("c0ffee00-0000-4000-8000-000000000001");
  });

  it("Cognitive Services accounts: list (paged), get, update, listKeys, regenerateKey, and their refusals", async () => {
    const bySub = await allPages(
      "accounts-list",
      `${sim.arm}/subscriptions/${A1}/providers/Microsoft.CognitiveServices/accounts?${CSV}`,
    );
    expect(bySub.issues).toEqual([]);
    expect(bySub.pages).toBeGreaterThan(1);
    expect(bySub.items).toHaveLength(sim.tenant.accounts.filter((a) => a.subscriptionId === A1).length);
    const byRg = await allPages("accounts-list-rg", `${sim.arm}${ACCT}?${CSV}`);
    expect(byRg.issues).toEqual([]);
    expect(problems("account-get", await call(`${sim.arm}${ACCT}/contoso-openai?${CSV}`))).toEqual([]);
    const gone = await call(`${sim.arm}${ACCT}/no-such-account?${CSV}`);
    expect(gone.status).toBe(404);
    expect(problems("account-get", gone)).toEqual([]);
    const patched = await call(`${sim.arm}${ACCT}/contoso-openai?${CSV}`, {
      method: "PATCH",
      body: { tags: { owner: "team-ai" } },
    });
    expect(patched.status).toBe(200);
    expect(problems("account-update", patched)).toEqual([]);
    const badTags = await call(`${sim.arm}${ACCT}/contoso-openai?${CSV}`, {
      method: "PATCH",
      body: { tags: ["x"] },
    });
    expect(badTags.status).toBe(400);
    expect(problems("account-update", badTags)).toEqual([]);
    // PATCH of properties.disableLocalAuth turns keys off; a PUT that omits it turns them back on (its default)
    const off = await call(`${sim.arm}${ACCT}/contoso-openai?${CSV}`, {
      method: "PATCH",
      body: { properties: { disableLocalAuth: true } },
    });
    expect(problems("account-update", off)).toEqual([]);
    expect((off.body as { properties: { disableLocalAuth: boolean } }).properties.disableLocalAuth).toBe(
      true,
    );
    const put = await call(`${sim.arm}${ACCT}/contoso-openai?${CSV}`, {
      method: "PUT",
      body: { kind: "OpenAI", location: "swedencentral", sku: { name: "S0" }, properties: {} },
    });
    expect(put.status).toBe(200);
    expect(problems("account-create", put)).toEqual([]);
    expect((put.body as { properties: { disableLocalAuth: boolean } }).properties.disableLocalAuth).toBe(
      false,
    );
    const created = await call(`${sim.arm}${ACCT}/contoso-new?${CSV}`, {
      method: "PUT",
      body: {
        kind: "TextTranslation",
        location: "westeurope",
        sku: { name: "S0" },
        properties: { disableLocalAuth: true },
      },
    });
    expect(created.status).toBe(201);
    expect(problems("account-create", created)).toEqual([]);
    const incomplete = await call(`${sim.arm}${ACCT}/contoso-other?${CSV}`, {
      method: "PUT",
      body: { sku: { name: "S0" } },
    });
    expect(incomplete.status).toBe(400);
    expect(problems("account-create", incomplete)).toEqual([]);

    const before = await call(`${sim.arm}${ACCT}/contoso-openai/listKeys?${CSV}`, { method: "POST" });
    expect(problems("list-keys", before)).toEqual([]);
    const keyless = await call(
      `/subscriptions/${B2}/resourceGroups/rg-ai-dev/providers/Microsoft.CognitiveServices/accounts/contoso-keyless/listKeys?${CSV}`.replace(
        /^/,
        sim.arm,
      ),
      { method: "POST" },
    );
    expect(keyless.status).toBe(400);
    expect(problems("list-keys", keyless)).toEqual([]);
    const regen = await call(`${sim.arm}${ACCT}/contoso-openai/regenerateKey?${CSV}`, {
      method: "POST",
      body: { keyName: "Key1" },
    });
    expect(problems("regenerate-key", regen)).toEqual([]);
    const badName = await call(`${sim.arm}${ACCT}/contoso-openai/regenerateKey?${CSV}`, {
      method: "POST",
      body: { keyName: "Key3" },
    });
    expect(badName.status).toBe(400);
    expect(problems("regenerate-key", badName)).toEqual([]);
  });

  it("regenerating key1 changes key1 only: key2 answers as before, in the response and in listKeys", async () => {
    expect(await regenerateKeepsOtherKey(sim)).toEqual([]);
  });

  it("throttling answers 429 with Retry-After in ARM's envelope", async () => {
    await call(`${sim.arm}/_admin/faults`, {
      method: "POST",
      aud: null,
      body: { match: { operation: "listKeys" }, effect: { type: "throttle", retryAfterSeconds: 7 } },
    });
    const a = await call(`${sim.arm}${ACCT}/contoso-speech/listKeys?${CSV}`, { method: "POST" });
    await call(`${sim.arm}/_admin/faults`, { method: "DELETE", aud: null });
    expect(a.status).toBe(429);
    expect(a.headers.get("retry-after")).toBe("7");
    expect(problems("list-keys", a, true)).toEqual([]);
  });

  it("Monitor: metrics and the Activity Log (paged) as their definitions say", async () => {
    const now = Date.now();
    const span = `${new Date(now - 3600_000).toISOString()}/${new Date(now).toISOString()}`;
    const m = await call(
      `${sim.arm}${ACCT}/contoso-openai/providers/Microsoft.Insights/metrics?api-version=2018-01-01&metricnames=TotalCalls&timespan=${encodeURIComponent(span)}&interval=PT1M&aggregation=Total`,
    );
    expect(problems("metrics", m)).toEqual([]);
    const missing = await call(
      `${sim.arm}${ACCT}/no-such/providers/Microsoft.Insights/metrics?api-version=2018-01-01`,
    );
    expect(missing.status).toBe(404);
    expect(problems("metrics", missing, true)).toEqual([]);
    const filter = encodeURIComponent(`eventTimestamp ge '${new Date(now - 86400_000).toISOString()}'`);
    const log = await allPages(
      "activity-log",
      `${sim.arm}/subscriptions/${A1}/providers/Microsoft.Insights/eventtypes/management/values?api-version=2015-04-01&$filter=${filter}`,
    );
    expect(log.issues).toEqual([]);
    expect(log.pages).toBeGreaterThan(1);
    const noFilter = await call(
      `${sim.arm}/subscriptions/${A1}/providers/Microsoft.Insights/eventtypes/management/values?api-version=2015-04-01`,
    );
    expect(noFilter.status).toBe(400);
  });

  it("permissions at subscription and resource-group scope", async () => {
    expect(
      problems(
        "permissions-subscription",
        await call(
          `${sim.arm}/subscriptions/${A1}/providers/Microsoft.Authorization/permissions?api-version=2022-04-01`,
        ),
      ),
    ).toEqual([]);
    expect(
      problems(
        "permissions-resource-group",
        await call(
          `${sim.arm}/subscriptions/${A1}/resourceGroups/rg-ai-prod/providers/Microsoft.Authorization/permissions?api-version=2022-04-01`,
        ),
      ),
    ).toEqual([]);
  });

  it("App Service: sites, app settings, Key Vault references and their refresh", async () => {
    const v = "api-version=2024-11-01";
    expect(
      (await allPages("sites-list", `${sim.arm}/subscriptions/${A1}/providers/Microsoft.Web/sites?${v}`))
        .issues,
    ).toEqual([]);
    expect(
      (
        await allPages(
          "sites-list-rg",
          `${sim.arm}/subscriptions/${A1}/resourceGroups/rg-apps/providers/Microsoft.Web/sites?${v}`,
        )
      ).issues,
    ).toEqual([]);
    expect(problems("site-get", await call(`${sim.arm}${SITE}?${v}`))).toEqual([]);
    const gone = await call(`${sim.arm}${SITE.replace("translator-web", "no-site")}?${v}`);
    expect(gone.status).toBe(404);
    expect(problems("site-get", gone)).toEqual([]);
    const settings = await call(`${sim.arm}${SITE}/config/appsettings/list?${v}`, { method: "POST" });
    expect(problems("site-appsettings-list", settings)).toEqual([]);
    const put = await call(`${sim.arm}${SITE}/config/appsettings?${v}`, {
      method: "PUT",
      body: { properties: (settings.body as { properties: object }).properties },
    });
    expect(problems("site-appsettings-put", put)).toEqual([]);
    const badPut = await call(`${sim.arm}${SITE}/config/appsettings?${v}`, { method: "PUT", body: {} });
    expect(badPut.status).toBe(400);
    expect(problems("site-appsettings-put", badPut)).toEqual([]);
    expect(
      (await allPages("site-references", `${sim.arm}${SITE}/config/configreferences/appsettings?${v}`))
        .issues,
    ).toEqual([]);
    // no published operation: its answer is the same collection the GET declares
    const refresh = await call(
      `${sim.arm}${SITE}/config/configreferences/appsettings/refresh?api-version=2022-03-01`,
      { method: "POST" },
    );
    expect(refresh.status).toBe(200);
    expect(problems("site-references", refresh)).toEqual([]);
  });

  it("Log Analytics: a query, a bad query and a token for another service", async () => {
    const url = `${sim.arm}/loganalytics/v1/workspaces/${"9b3f6a52-0f2e-4f59-8e3d-5a1b2c3d4e5f"}/query`;
    const ok = await call(url, {
      method: "POST",
      aud: LA_AUD,
      body: {
        query:
          'AzureDiagnostics | where ResultSignature == "401" | summarize count() by CallerIPAddress, OperationName',
      },
    });
    expect(problems("logs-query", ok)).toEqual([]);
    const bad = await call(url, { method: "POST", aud: LA_AUD, body: { query: "AzureDiagnostics | wher" } });
    expect(bad.status).toBe(400);
    expect(problems("logs-query", bad)).toEqual([]);
    const wrong = await call(url, { method: "POST", aud: ARM_AUD, body: { query: "AzureDiagnostics" } });
    expect(wrong.status).toBe(401);
    expect(problems("logs-query", wrong)).toEqual([]);
  });

  it("Key Vault: challenge with resource, versions, listings (paged), refusals", async () => {
    expect(await challengeProblems(sim)).toEqual([]);
    const kv = (p: string) => `${sim.vault}${p}${p.includes("?") ? "&" : "?"}api-version=7.5`;
    const set = await call(kv("/secrets/contract-secret"), {
      method: "PUT",
      aud: KV_AUD,
      body: { value: "first" },
    });
    expect(problems("secret-set", set)).toEqual([]);
    expect(problems("secret-get", await call(kv("/secrets/contract-secret"), { aud: KV_AUD }))).toEqual([]);
    const missing = await call(kv("/secrets/no-such-secret"), { aud: KV_AUD });
    expect(missing.status).toBe(404);
    expect(problems("secret-get", missing)).toEqual([]);
    const badName = await call(kv("/secrets/bad_name"), { method: "PUT", aud: KV_AUD, body: { value: "x" } });
    expect(badName.status).toBe(400);
    expect(problems("secret-set", badName)).toEqual([]);
    const list = await allPages("secrets-list", kv("/secrets?maxresults=1"), KV_AUD);
    expect(list.issues).toEqual([]);
    expect(list.pages).toBeGreaterThan(1);
    const tooMany = await call(kv("/secrets?maxresults=26"), { aud: KV_AUD });
    expect(tooMany.status).toBe(400);
    expect(problems("secrets-list", tooMany)).toEqual([]);
    const version = (set.body as { id: string }).id.split("/").pop()!;
    const patched = await call(kv(`/secrets/contract-secret/${version}`), {
      method: "PATCH",
      aud: KV_AUD,
      body: { tags: { a: "b" } },
    });
    expect(problems("secret-update", patched)).toEqual([]);
    const wrong = await call(kv("/secrets"), { aud: ARM_AUD });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get("www-authenticate")).toContain(`resource="${KV_AUD}"`);
    expect(problems("secrets-list", wrong)).toEqual([]);
  });

  it("a new secret version keeps the previous one: both listed (paged), the old one readable with its value", async () => {
    expect(await versionsKept(sim)).toEqual([]);
  });

  it("data planes: Translator's anonymous language list, the token exchange, and keyed calls", async () => {
    const dp = (name: string, rest: string) => `${sim.arm}/dataplane/${A1}/${name}/${rest}`;
    const key = sim.tenant.accounts.find((a) => a.name === "contoso-translator" && a.subscriptionId === A1)!
      .keys.key1;
    expect((await call(dp("contoso-translator", "languages?api-version=3.0"), { aud: null })).status).toBe(
      200,
    );
    const tokenOk = await call(dp("contoso-translator", "sts/v1.0/issueToken"), {
      method: "POST",
      aud: null,
      headers: { "ocp-apim-subscription-key": key },
    });
    expect(tokenOk.status).toBe(200);
    const tokenDead = await call(dp("contoso-translator", "sts/v1.0/issueToken"), {
      method: "POST",
      aud: null,
      headers: { "ocp-apim-subscription-key": "dead" },
    });
    expect(tokenDead.status).toBe(401);
    expect(Object.keys(tokenDead.body as object)).toEqual(["error"]);
    const openAiKey = sim.tenant.accounts.find((a) => a.name === "contoso-openai")!.keys.key2;
    expect(
      (
        await call(dp("contoso-openai", "openai/models?api-version=2024-10-21"), {
          aud: null,
          headers: { "api-key": openAiKey },
        })
      ).status,
    ).toBe(200);
    expect(
      (await call(dp("contoso-openai", "openai/models?api-version=2024-10-21"), { aud: null })).status,
    ).toBe(401);
    const post = await call(
      dp("contoso-openai", "openai/deployments/gpt/chat/completions?api-version=2024-10-21"),
      { method: "POST", aud: null, headers: { "api-key": openAiKey }, body: {} },
    );
    expect(post.status).toBe(200);
    const wrongAud = await call(dp("contoso-openai", "openai/models?api-version=2024-10-21"), {
      aud: ARM_AUD,
      headers: { "api-key": openAiKey },
    });
    expect(wrongAud.status).toBe(401);
  });
});

async function regenerateKeepsOtherKey(sim: ContractSim): Promise<string[]> {
  const url = `${sim.arm}${ACCT}/contoso-translator`;
  const before = (await call(`${url}/listKeys?${CSV}`, { method: "POST" })).body as {
    key1: string;
    key2: string;
  };
  const regen = await call(`${url}/regenerateKey?${CSV}`, { method: "POST", body: { keyName: "Key1" } });
  const out = problems("regenerate-key", regen);
  const after = regen.body as { key1: string; key2: string };
  const listed = (await call(`${url}/listKeys?${CSV}`, { method: "POST" })).body as {
    key1: string;
    key2: string;
  };
  if (after.key1 === before.key1) out.push("key1 did not change");
  if (after.key2 !== before.key2) out.push("regenerating Key1 changed key2 in the response");
  if (listed.key2 !== before.key2) out.push("regenerating Key1 changed key2 in listKeys");
  if (listed.key1 !== after.key1) out.push("listKeys does not return the regenerated key1");
  return out;
}

async function challengeProblems(sim: ContractSim): Promise<string[]> {
  const a = await call(`${sim.vault}/secrets?api-version=7.5`, { aud: null });
  const out = problems("secrets-list", a);
  const challenge = a.headers.get("www-authenticate") ?? "";
  if (a.status !== 401) out.push(`a request without a token got ${a.status}, not the 401 challenge`);
  if (!/^Bearer authorization="https:\/\/login\.microsoftonline\.com\/[^"]+"/.test(challenge))
    out.push(`challenge lacks authorization: ${challenge}`);
  if (!/resource="https:\/\/vault\.azure\.net"/.test(challenge))
    out.push(`challenge lacks resource="https://vault.azure.net": ${challenge}`);
  return out;
}

async function versionsKept(sim: ContractSim): Promise<string[]> {
  const kv = (p: string) => `${sim.vault}${p}${p.includes("?") ? "&" : "?"}api-version=7.5`;
  const first = (
    await call(kv("/secrets/versioned"), { method: "PUT", aud: KV_AUD, body: { value: "v-one" } })
  ).body as { id: string };
  const second = (
    await call(kv("/secrets/versioned"), { method: "PUT", aud: KV_AUD, body: { value: "v-two" } })
  ).body as { id: string };
  const out: string[] = [];
  if (first.id === second.id) out.push("the second PUT returned the first version's id");
  const versions = await allPages("secret-versions", kv("/secrets/versioned/versions?maxresults=1"), KV_AUD);
  out.push(...versions.issues);
  const ids = versions.items.map((v) => (v as { id: string }).id);
  if (!ids.includes(first.id) || !ids.includes(second.id))
    out.push(`versions list ${ids.join(", ")} lacks one of both versions`);
  const old = await call(kv(`/secrets/versioned/${first.id.split("/").pop()}`), { aud: KV_AUD });
  out.push(...problems("secret-get", old));
  if ((old.body as { value?: string }).value !== "v-one")
    out.push(`the first version reads ${JSON.stringify(old.body)}, not its own value`);
  const latest = await call(kv("/secrets/versioned"), { aud: KV_AUD });
  if ((latest.body as { value?: string }).value !== "v-two")
    out.push("the latest version is not the second value");
  return out;
}

/** Each breakage, injected into an otherwise correct simulator, makes the named contract check fail. */
const MUTANTS: Record<Breakage, (sim: ContractSim) => Promise<string[]>> = {
  "both-keys-regenerated": regenerateKeepsOtherKey,
  "error-unwrapped": async (sim) =>
    problems("account-get", await call(`${sim.arm}${ACCT}/no-such-account?${CSV}`)),
  "challenge-without-resource": challengeProblems,
  "broken-nextlink": async (sim) =>
    (
      await allPages(
        "accounts-list",
        `${sim.arm}/subscriptions/${A1}/providers/Microsoft.CognitiveServices/accounts?${CSV}`,
      )
    ).issues,
  "versions-overwritten": versionsKept,
};

describe("each known breakage fails a contract check", () => {
  for (const [breakage, check] of Object.entries(MUTANTS) as [
    Breakage,
    (s: ContractSim) => Promise<string[]>,
  ][]) {
    it(`${breakage}: passes on the simulator, fails with the breakage`, async () => {
      const good = await startContractSim();
      const broken = await startContractSim({ breakage });
      try {
        expect(await check(good)).toEqual([]);
        expect((await check(broken)).length, `${breakage} went unnoticed`).toBeGreaterThan(0);
      } finally {
        await good.close();
        await broken.close();
      }
    });
  }
});
