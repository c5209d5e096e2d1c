/**
 * The Activity Log as Azure writes it: a Started and a Succeeded event per operation, paged with
 * nextLink; keyturn's reader follows the pages and counts each operation once.
 */
import { CognitiveServicesManagementClient } from "@azure/arm-cognitiveservices";
import { MonitorClient } from "@azure/arm-monitor";
import { request } from "node:https";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { settingsOf } from "../../src/azure/index.js";
import { Monitor } from "../../src/azure/telemetry.js";
import {
  createSimulatorCredential,
  simulatorAzureConfig,
  startSimulator,
  type Simulator,
} from "../../src/sandbox/index.js";

const DEV = "00000000-0000-4000-8000-0000000000b2";
const fabrikam = `/subscriptions/${DEV}/resourceGroups/rg-ai-dev/providers/Microsoft.CognitiveServices/accounts/fabrikam-ai`;
const LIST_KEYS = "Microsoft.CognitiveServices/accounts/listKeys/action";
const silent = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return silent;
  },
} as never;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- Azure's JSON, read field by field
type Json = any;

let sim: Simulator;
const opts = () => ({
  endpoint: sim.armEndpoint,
  credentialScopes: ["https://management.azure.com/.default"],
  tlsOptions: { ca: sim.caPem },
  retryOptions: { maxRetries: 0 },
});
const filter = () =>
  `eventTimestamp ge '${new Date(Date.now() - 3600_000).toISOString()}' and eventTimestamp le '${new Date(Date.now() + 60_000).toISOString()}' and resourceUri eq '${fabrikam}'`;

function get(url: string, token: string) {
  return new Promise<Json>((resolve, reject) => {
    const req = request(url, { ca: sim.caPem, headers: { authorization: `Bearer ${token}` } }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString("utf8")));
      res.on("end", () => resolve(JSON.parse(body)));
    });
    req.on("error", reject);
    req.end();
  });
}

beforeAll(async () => {
  sim = await startSimulator({ consumers: false, activityPageSize: 3 });
  const cs = new CognitiveServicesManagementClient(
    createSimulatorCredential({ name: "ci@contoso.com" }),
    DEV,
    opts(),
  );
  await cs.accounts.listKeys("rg-ai-dev", "fabrikam-ai");
  await cs.accounts.listKeys("rg-ai-dev", "fabrikam-ai");
  await cs.accounts.regenerateKey("rg-ai-dev", "fabrikam-ai", "Key2");
});
afterAll(async () => {
  await sim.close();
});

describe("simulated Activity Log", () => {
  it("writes Started and Succeeded per operation, in Azure's shape, and pages with nextLink", async () => {
    const token = (await createSimulatorCredential().getToken("x"))!.token;
    const first = await get(
      `${sim.armEndpoint}/subscriptions/${DEV}/providers/Microsoft.Insights/eventtypes/management/values?api-version=2015-04-01&$filter=${encodeURIComponent(filter())}`,
      token,
    );
    expect(first.value).toHaveLength(3);
    expect(first.nextLink.startsWith(`${sim.armEndpoint}/subscriptions/${DEV}/`)).toBe(true);
    expect(first.nextLink).toContain("$skiptoken=");
    const all = [...first.value];
    let next: string | undefined = first.nextLink;
    while (next) {
      const page = await get(next, token);
      all.push(...page.value);
      next = page.nextLink;
    }
    expect(all).toHaveLength(6);
    const listKeys = all.filter((e) => e.operationName.value === LIST_KEYS);
    expect(listKeys).toHaveLength(4);
    const byCorrelation = new Map<string, string[]>();
    for (const e of listKeys)
      byCorrelation.set(e.correlationId, [...(byCorrelation.get(e.correlationId) ?? []), e.status.value]);
    expect([...byCorrelation.values()].map((s) => s.sort())).toEqual([
      ["Started", "Succeeded"],
      ["Started", "Succeeded"],
    ]);
    const started = listKeys.find((e) => e.status.value === "Started");
    const done = listKeys.find(
      (e) => e.status.value === "Succeeded" && e.correlationId === started.correlationId,
    );
    expect(started.eventName.value).toBe("BeginRequest");
    expect(done.eventName.value).toBe("EndRequest");
    expect(done.caller).toBe("ci@contoso.com");
    expect(done.httpRequest.clientIpAddress).toBeTruthy();
    expect(done.eventDataId).not.toBe(started.eventDataId);
  });

  it("the SDK follows nextLink through every page", async () => {
    const monitor = new MonitorClient(createSimulatorCredential(), DEV, opts());
    const seen: string[] = [];
    for await (const e of monitor.activityLogs.list(filter()))
      seen.push(`${e.status?.value} ${e.operationName?.value}`);
    expect(seen).toHaveLength(6);
  });

  it("keyturn's reader counts each operation once (Started + Succeeded are one listKeys call)", async () => {
    const monitor = new Monitor(createSimulatorCredential(), settingsOf(simulatorAzureConfig(sim)), silent);
    const events = await monitor.activityLog(fabrikam, {
      from: new Date(Date.now() - 3600_000),
      to: new Date(Date.now() + 60_000),
      operations: [LIST_KEYS],
    });
    expect(events).toHaveLength(2);
    expect(events.every((e) => e.status === "Succeeded" && e.caller === "ci@contoso.com")).toBe(true);
  });
});
