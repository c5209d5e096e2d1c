/**
 * The simulated Log Analytics reads the query and the time as Azure does: a filter that excludes
 * rows excludes them, a query outside the evaluated KQL subset is 400 BadArgumentError, an unknown
 * workspace is 404 WorkspaceNotFoundError, and a call's AzureDiagnostics row (and its metrics point)
 * exists only after the ingestion delay, `ingestion_time()` saying when it arrived.
 */
import { CognitiveServicesManagementClient } from "@azure/arm-cognitiveservices";
import { request } from "node:https";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAzurePorts } from "../../src/azure/index.js";
import {
  createSimulatorCredential,
  simulatorAzureConfig,
  startSimulator,
  type Simulator,
} from "../../src/sandbox/index.js";

const PROD = "00000000-0000-4000-8000-0000000000a1";
const OPENAI = `/subscriptions/${PROD}/resourceGroups/rg-ai-prod/providers/Microsoft.CognitiveServices/accounts/contoso-openai`;
const OPS_SCRIPT = "203.0.113.7";
const silent = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent } as never;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the query API's JSON, read field by field
type Json = any;

let sim: Simulator;
let token = "";

function query(q: string, opts: { workspace?: string; timespan?: string } = {}) {
  const body = JSON.stringify({ query: q, ...(opts.timespan ? { timespan: opts.timespan } : {}) });
  return new Promise<{ status: number; json: Json }>((resolve, reject) => {
    const req = request(
      new URL(`${sim.logAnalyticsEndpoint}/workspaces/${opts.workspace ?? sim.workspaceId}/query`),
      {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        ca: sim.caPem,
      },
      (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString("utf8")));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : null }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** The result's rows as objects by column name. */
const rowsOf = (json: Json): Record<string, unknown>[] => {
  const t = json.tables[0];
  return t.rows.map((r: unknown[]) =>
    Object.fromEntries(t.columns.map((c: { name: string }, i: number) => [c.name, r[i]])),
  );
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  // logs 0.8 s late, metrics 0.4 s: short, but the order and the gap are Azure's
  sim = await startSimulator({
    consumers: false,
    timing: { metricsDelaySeconds: 0.4, logsDelaySeconds: 0.8, jitterSeconds: 0 },
  });
  token = (await createSimulatorCredential().getToken("https://api.loganalytics.io/.default"))!.token;
  // the ops laptop script's copy of key1 dies: its calls are refused from now on
  await new CognitiveServicesManagementClient(createSimulatorCredential(), PROD, {
    endpoint: sim.armEndpoint,
    credentialScopes: ["https://management.azure.com/.default"],
    tlsOptions: { ca: sim.caPem },
  }).accounts.regenerateKey("rg-ai-prod", "contoso-openai", "Key1");
});
afterAll(async () => {
  await sim.close();
});

describe("simulated Log Analytics", () => {
  it("refuses a workspace that does not exist with 404 WorkspaceNotFoundError", async () => {
    const r = await query("AzureDiagnostics | take 1", { workspace: "00000000-1111-2222-3333-444444444444" });
    expect(r.status).toBe(404);
    expect(r.json.error.code).toBe("WorkspaceNotFoundError");
    expect((await query("AzureDiagnostics | take 1")).status).toBe(200);
  });

  it("shows a call only after its ingestion delay, with ingestion_time() after TimeGenerated", async () => {
    const before = Date.now();
    sim.admin.tick();
    const q = `AzureDiagnostics | where CallerIPAddress == "${OPS_SCRIPT}" and ResultSignature == "401" and TimeGenerated >= datetime(${new Date(before).toISOString()}) | project TimeGenerated, ingested = ingestion_time(), _TimeReceived`;
    expect(rowsOf((await query(q)).json)).toEqual([]);
    const azure = createAzurePorts(simulatorAzureConfig(sim), createSimulatorCredential(), silent);
    const errors = async () =>
      (
        await azure.telemetry.metrics(OPENAI, {
          from: new Date(before - 60_000),
          to: new Date(Date.now() + 60_000),
          names: ["ClientErrors"],
        })
      )
        .flatMap((s) => s.points)
        .reduce((n, p) => n + p.total, 0);
    expect(await errors()).toBe(0);
    await sleep(500);
    expect(await errors()).toBeGreaterThan(0); // metrics first
    expect(rowsOf((await query(q)).json)).toEqual([]); // the logs later
    await sleep(500);
    const rows = rowsOf((await query(q)).json);
    expect(rows).toHaveLength(1);
    const generated = Date.parse(String(rows[0]!.TimeGenerated));
    expect(Date.parse(String(rows[0]!.ingested)) - generated).toBeGreaterThanOrEqual(800);
    expect(rows[0]!._TimeReceived).toBe(rows[0]!.ingested);
    // keyturn's own query names the caller once the row is in
    const callers = await azure.telemetry.unauthorizedCallers!(OPENAI, {
      from: new Date(before - 1000),
      to: new Date(),
    });
    expect(callers.find((c) => c.callerIp === OPS_SCRIPT)?.count).toBe(1);
    expect(azure.telemetry.ingestionLatency).toEqual({ metricsMs: 400, logsMs: 800 });
  });

  it('evaluates the filter: ResultSignature == "200" returns the accepted calls, not the 401s', async () => {
    sim.admin.tick();
    await sleep(900);
    const ok = rowsOf(
      (
        await query(
          'AzureDiagnostics | where Category == "RequestResponse" and ResultSignature == "200" | summarize count() by CallerIPAddress, ResultSignature',
        )
      ).json,
    );
    expect(ok.length).toBeGreaterThan(0);
    expect(ok.every((r) => r.ResultSignature === "200")).toBe(true);
    expect(ok.map((r) => r.CallerIPAddress)).not.toContain(OPS_SCRIPT);
    const refused = rowsOf(
      (
        await query(
          `AzureDiagnostics | where ResourceId =~ "${OPENAI}" and ResultSignature != "200" | summarize n = count() by CallerIPAddress`,
        )
      ).json,
    );
    expect(refused.map((r) => r.CallerIPAddress)).toContain(OPS_SCRIPT);
    // an account with no refused call returns no rows, whatever its name in the text
    const none = await query(
      'AzureDiagnostics | where Resource == "CONTOSO-TRANSLATOR" and ResultSignature == "401" | summarize count() by CallerIPAddress',
    );
    expect(rowsOf(none.json)).toEqual([]);
  });

  it("evaluates in, between, ago, or, not, order by and take", async () => {
    const r = await query(
      `AzureDiagnostics | where TimeGenerated between (ago(1h) .. now()) | where CallerIPAddress in ("${OPS_SCRIPT}", "198.51.100.1") or (ResultSignature == "401" and not(Resource == "CONTOSO-OPENAI")) | order by TimeGenerated desc | take 1 | project CallerIPAddress, OperationName`,
    );
    expect(r.status).toBe(200);
    expect(r.json.tables[0].columns.map((c: { name: string }) => c.name)).toEqual([
      "CallerIPAddress",
      "OperationName",
    ]);
    expect(rowsOf(r.json)).toEqual([{ CallerIPAddress: OPS_SCRIPT, OperationName: "ChatCompletions" }]);
    const empty = await query("AzureDiagnostics | where TimeGenerated < ago(2d) | summarize count()");
    expect(rowsOf(empty.json)).toEqual([{ count_: 0 }]);
  });

  it("refuses what it cannot evaluate as Log Analytics does: 400 BadArgumentError", async () => {
    const join = await query("AzureDiagnostics | join kind=inner (AzureActivity) on CorrelationId");
    expect(join.status).toBe(400);
    expect(join.json.error.code).toBe("BadArgumentError");
    expect(join.json.error.innererror.code).toBe("SyntaxError");
    const column = await query('AzureDiagnostics | where ResultCode == "401"');
    expect(column.status).toBe(400);
    expect(column.json.error.innererror.code).toBe("SemanticError");
    expect(column.json.error.innererror.innererror.message).toMatch(/ResultCode/);
    const table = await query("AzureActivity | take 1");
    expect(table.status).toBe(400);
    expect(table.json.error.innererror.code).toBe("SemanticError");
  });
});
