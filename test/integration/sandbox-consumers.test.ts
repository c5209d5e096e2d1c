import { WebSiteManagementClient } from "@azure/arm-appservice";
import { CognitiveServicesManagementClient } from "@azure/arm-cognitiveservices";
import { MonitorClient } from "@azure/arm-monitor";
import { SecretClient } from "@azure/keyvault-secrets";
import { LogsQueryClient, LogsQueryResultStatus } from "@azure/monitor-query-logs";
import { request } from "node:https";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createSimulatorCredential,
  loadScenario,
  startSimulator,
  type Simulator,
} from "../../src/sandbox/index.js";

const PROD = "00000000-0000-4000-8000-0000000000a1";
const DEV = "00000000-0000-4000-8000-0000000000b2";
const acct = (sub: string, rg: string, name: string) =>
  `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.CognitiveServices/accounts/${name}`;
const translator = acct(PROD, "rg-ai-prod", "contoso-translator");
const openai = acct(PROD, "rg-ai-prod", "contoso-openai");
const speech = acct(PROD, "rg-ai-prod", "contoso-speech");

let sim: Simulator;
const cred = createSimulatorCredential();
const arm = () => ({
  endpoint: sim.armEndpoint,
  credentialScopes: ["https://management.azure.com/.default"],
  tlsOptions: { ca: sim.caPem },
  retryOptions: { maxRetries: 0 },
});
const cs = () => new CognitiveServicesManagementClient(cred, PROD, arm());
const web = (sub = PROD) => new WebSiteManagementClient(cred, sub, arm());
const kv = () =>
  new SecretClient(sim.vaultUrls["contoso-kv"]!, cred, {
    disableChallengeResourceVerification: true,
    tlsOptions: { ca: sim.caPem },
  });
const consumer = (name: string) => sim.admin.consumers().find((c) => c.name === name)!;

async function post(path: string): Promise<number> {
  const token = (await cred.getToken("https://management.azure.com/.default"))!.token;
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(path, sim.armEndpoint),
      { method: "POST", headers: { authorization: `Bearer ${token}` }, ca: sim.caPem },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

beforeAll(async () => {
  sim = await startSimulator({ consumers: false });
  sim.admin.tick();
});
afterAll(async () => {
  await sim.close();
});

describe("simulated consumers, App Service and Azure Monitor", () => {
  it("lists the sites and their settings: versionless, pinned and literal", async () => {
    const names: string[] = [];
    for await (const s of web().webApps.list()) names.push(s.name!);
    expect(names.sort()).toEqual(["openai-chat", "speech-ivr", "translator-web"]);
    const tr = await web().webApps.listApplicationSettings("rg-apps", "translator-web");
    expect(tr.properties?.TRANSLATOR_KEY).toBe(
      `@Microsoft.KeyVault(SecretUri=${sim.vaultUrls["contoso-kv"]}/secrets/translator-key/)`,
    );
    const sp = await web().webApps.listApplicationSettings("rg-apps", "speech-ivr");
    expect(sp.properties?.SPEECH_KEY).toMatch(/\/secrets\/speech-key\/[0-9a-f]{32}\)$/);
    const fab = await web(DEV).webApps.listApplicationSettings("rg-apps", "fabrikam-app");
    expect(fab.properties?.FABRIKAM_KEY).toBe(
      sim.admin.currentKeys(acct(DEV, "rg-ai-dev", "fabrikam-ai")).key1,
    );
    expect(consumer("fabrikam-app")).toMatchObject({ mode: "literal", lastStatus: 200 });
    expect(consumer("speech-ivr")).toMatchObject({ mode: "pinned", lastStatus: 200 });
    expect(consumer("ops laptop script")).toMatchObject({
      mode: "external",
      accountId: openai,
      lastStatus: 200,
    });
  });

  it("moves a versionless reference on refresh (activeVersion proves it) and keeps it working through rotation", async () => {
    const fresh = await cs().accounts.regenerateKey("rg-ai-prod", "contoso-translator", "Key2");
    const v = await kv().setSecret("translator-key", fresh.key2!);
    expect(
      await post(
        `/subscriptions/${PROD}/resourceGroups/rg-apps/providers/Microsoft.Web/sites/translator-web/config/configreferences/appsettings/refresh?api-version=2022-03-01`,
      ),
    ).toBe(200);
    const refs: { name?: string; activeVersion?: string; status?: string; secretName?: string }[] = [];
    for await (const r of web().webApps.listAppSettingsKeyVaultReferences("rg-apps", "translator-web"))
      refs.push({ name: r.name, activeVersion: r.activeVersion, status: r.status, secretName: r.secretName });
    expect(refs).toEqual([
      expect.objectContaining({
        name: "TRANSLATOR_KEY",
        status: "Resolved",
        secretName: "translator-key",
        activeVersion: v.properties.version,
      }),
    ]);
    await cs().accounts.regenerateKey("rg-ai-prod", "contoso-translator", "Key1");
    sim.admin.tick();
    expect(consumer("translator-web")).toMatchObject({
      mode: "versionless",
      secretVersion: v.properties.version,
      lastStatus: 200,
      failures: 0,
    });
  });

  it("a pinned consumer fails once its key dies, and recovers when re-pinned to a live version", async () => {
    const fresh = await cs().accounts.regenerateKey("rg-ai-prod", "contoso-speech", "Key1");
    const v = await kv().setSecret("speech-key", fresh.key1!);
    sim.admin.refreshAll();
    await cs().accounts.regenerateKey("rg-ai-prod", "contoso-speech", "Key2");
    sim.admin.tick();
    const failing = consumer("speech-ivr");
    expect(failing.lastStatus).toBe(401);
    expect(failing.failures).toBeGreaterThan(0);
    expect(failing.lastFailureAt).toBeTruthy();
    sim.admin.repin("speech-ivr", v.properties.version!);
    sim.admin.tick();
    expect(consumer("speech-ivr")).toMatchObject({ lastStatus: 200, secretVersion: v.properties.version });
    expect(sim.admin.currentKeys(speech).key1).toBe(fresh.key1);
  });

  it("re-pins through the App Service API and reports it", async () => {
    const versions: string[] = [];
    for await (const p of kv().listPropertiesOfSecretVersions("speech-key")) versions.push(p.version!);
    const settings = await web().webApps.listApplicationSettings("rg-apps", "speech-ivr");
    const current = /\/([0-9a-f]{32})\)$/.exec(settings.properties!.SPEECH_KEY!)![1]!;
    const other = versions.find((x) => x !== current)!;
    await web().webApps.updateApplicationSettings("rg-apps", "speech-ivr", {
      properties: {
        SPEECH_KEY: `@Microsoft.KeyVault(SecretUri=${sim.vaultUrls["contoso-kv"]}/secrets/speech-key/${other})`,
      },
    });
    const refs: string[] = [];
    for await (const r of web().webApps.listAppSettingsKeyVaultReferences("rg-apps", "speech-ivr"))
      refs.push(r.activeVersion!);
    expect(refs).toEqual([other]);
    sim.admin.repin("speech-ivr", current);
  });

  it("metrics show the consumers' real traffic, split by ApiName, and 401s by StatusCode for OpenAI", async () => {
    const monitor = new MonitorClient(cred, PROD, arm());
    await cs().accounts.regenerateKey("rg-ai-prod", "contoso-openai", "Key1"); // the external script's key dies
    sim.admin.tick();
    sim.admin.tick();
    const timespan = `${new Date(Date.now() - 3600_000).toISOString()}/${new Date(Date.now() + 60_000).toISOString()}`;
    const m = await monitor.metrics.list(translator, {
      metricnames: "TotalCalls,SuccessfulCalls",
      timespan,
      interval: "PT1M",
      aggregation: "Total",
      filter: "ApiName eq '*'",
    });
    const total = m.value.find((x) => x.name.value === "TotalCalls")!;
    expect(total.timeseries?.[0]?.metadatavalues?.[0]).toMatchObject({
      name: { value: "apiname" },
      value: "TextTranslation",
    });
    const sum = total.timeseries.flatMap((t) => t.data ?? []).reduce((s, d) => s + (d.total ?? 0), 0);
    expect(sum).toBeGreaterThanOrEqual(3);
    const ai = await monitor.metrics.list(openai, {
      metricnames: "AzureOpenAIRequests",
      timespan,
      interval: "PT1M",
      aggregation: "Total",
      filter: "StatusCode eq '*'",
    });
    const codes = ai.value[0]!.timeseries.map((t) => t.metadatavalues![0]!.value);
    expect(codes).toEqual(expect.arrayContaining(["200", "401"]));
  });

  it("Log Analytics shows the 401s of the external holder by caller IP", async () => {
    const logs = new LogsQueryClient(cred, {
      endpoint: sim.logAnalyticsEndpoint,
      credentials: { scopes: ["https://api.loganalytics.io/.default"] },
      tlsOptions: { ca: sim.caPem },
    });
    const r = await logs.queryWorkspace(
      sim.workspaceId,
      `AzureDiagnostics | where ResourceId =~ "${openai}" | where ResultSignature == "401" | summarize count() by CallerIPAddress, OperationName`,
      { duration: "PT1H" },
    );
    expect(r.status).toBe(LogsQueryResultStatus.Success);
    const rows = r.status === LogsQueryResultStatus.Success ? r.tables[0]!.rows : [];
    expect(rows).toEqual(expect.arrayContaining([expect.arrayContaining(["203.0.113.7"])]));
  });

  it("the Activity Log names who listed and regenerated keys, with seeded history", async () => {
    const monitor = new MonitorClient(cred, PROD, arm());
    const from = new Date(Date.now() - 30 * 86_400_000).toISOString();
    const filter = `eventTimestamp ge '${from}' and eventTimestamp le '${new Date(Date.now() + 60_000).toISOString()}' and resourceUri eq '${openai}'`;
    const events: { caller?: string; op?: string; ip?: string }[] = [];
    for await (const e of monitor.activityLogs.list(filter))
      events.push({ caller: e.caller, op: e.operationName?.value, ip: e.claims?.ipaddr });
    expect(events).toEqual(
      expect.arrayContaining([
        {
          caller: "jenkins@contoso.com",
          op: "Microsoft.CognitiveServices/accounts/listKeys/action",
          ip: "198.51.100.20",
        },
        expect.objectContaining({
          caller: "keyturn@sandbox",
          op: "Microsoft.CognitiveServices/accounts/regenerateKey/action",
        }),
      ]),
    );
  });
});

describe("consumers on their own clock", () => {
  it("call continuously and pick up a new secret version after refreshSeconds, without a refresh call", async () => {
    const scenario = { ...loadScenario(), refreshSeconds: 0.3 };
    const own = await startSimulator({ scenario, consumerTickMs: 50 });
    try {
      const kv2 = new SecretClient(own.vaultUrls["contoso-kv"]!, cred, {
        disableChallengeResourceVerification: true,
        tlsOptions: { ca: own.caPem },
      });
      const fresh = own.admin.currentKeys(translator).key2;
      const pinnedBefore = (await kv2.getSecret("speech-key")).properties.version;
      const v = await kv2.setSecret("translator-key", fresh);
      await kv2.setSecret("speech-key", own.admin.currentKeys(speech).key1);
      const deadline = Date.now() + 5000;
      while (
        Date.now() < deadline &&
        own.admin.consumers().find((c) => c.name === "translator-web")?.secretVersion !== v.properties.version
      )
        await new Promise((r) => setTimeout(r, 50));
      const report = own.admin.consumers().find((c) => c.name === "translator-web")!;
      expect(report.secretVersion).toBe(v.properties.version);
      expect(report.calls).toBeGreaterThan(3);
      expect(own.admin.consumers().find((c) => c.name === "speech-ivr")!.secretVersion).toBe(pinnedBefore);
    } finally {
      await own.close();
    }
  });
});
