/**
 * keyturn's Azure side of key-free readiness against the simulated tenant, through the real SDKs:
 * setting disableLocalAuth by ARM PATCH (read back, in the Activity Log as a write, keys then refused
 * with 403), and key vs Entra token traffic from the diagnostic logs — counted for Azure OpenAI,
 * "cannot be known" for kinds whose rows name no caller, and for every kind without a workspace.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAzurePorts } from "../../src/azure/index.js";
import { createLogger } from "../../src/log.js";
import { reportKeyAuthTraffic } from "../../src/runner/report-key-traffic.js";
import {
  createSimulatorCredential,
  simulatorAzureConfig,
  startSimulator,
  type Simulator,
} from "../../src/sandbox/index.js";

const PROD = "00000000-0000-4000-8000-0000000000a1";
const id = (name: string) =>
  `/subscriptions/${PROD}/resourceGroups/rg-ai-prod/providers/Microsoft.CognitiveServices/accounts/${name}`;

let dir: string;
let sim: Simulator;
let azure: ReturnType<typeof createAzurePorts>;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "keyturn-key-auth-"));
  sim = await startSimulator({ dataDir: join(dir, "sim"), consumers: false });
  azure = createAzurePorts(
    { ...simulatorAzureConfig(sim), requestTimeoutMs: 5_000 },
    createSimulatorCredential(),
    createLogger({ level: "silent" }),
  );
});
afterAll(async () => {
  await sim?.close();
  rmSync(dir, { recursive: true, force: true });
});

const window = () => ({ from: new Date(Date.now() - 3_600_000), to: new Date(Date.now() + 1_000) });

describe("key-free readiness on Azure", () => {
  it("counts key and Entra token calls of an OpenAI account from its RequestResponse rows", async () => {
    const openai = await azure.accounts.getAccount(id("contoso-openai"));
    sim.admin.tick(); // openai-chat (10.1.0.4) and the ops laptop script (203.0.113.7) call with the key
    sim.admin.useEntra("openai-chat");
    sim.admin.tick(); // openai-chat now calls with its managed identity's token
    const t = await azure.telemetry.keyAuthTraffic!(openai, window());
    expect(t.known).toBe(true);
    if (!t.known) return;
    expect(t.keyCalls).toBe(3);
    expect(t.tokenCalls).toBe(1);
    expect(t.keyCallers.map((c) => c.callerIp).sort()).toEqual(["10.1.0.4", "203.0.113.7"]);
    expect(t.lastKeyCall).toMatch(/^\d{4}-\d\d-\d\dT/);
    const report = await reportKeyAuthTraffic(azure.telemetry, { now: () => new Date() })!(openai);
    expect(report).toMatchObject({ state: "measured", days: 7, keyCalls: 3, tokenCalls: 1 });
  });

  it("says why it cannot be known: a kind whose rows name no caller; no workspace", async () => {
    const translator = await azure.accounts.getAccount(id("contoso-translator"));
    const t = await azure.telemetry.keyAuthTraffic!(translator, window());
    expect(t).toEqual({
      known: false,
      why: "the RequestResponse logs of kind TextTranslation name no caller identity and Azure Monitor's metrics have no authentication dimension; only the key holders keyturn can see tell what still uses keys",
    });
    const { logAnalytics: _omit, ...noLogs } = simulatorAzureConfig(sim);
    const blind = createAzurePorts(noLogs, createSimulatorCredential(), createLogger({ level: "silent" }));
    const openai = await blind.accounts.getAccount(id("contoso-openai"));
    expect(await blind.telemetry.keyAuthTraffic!(openai, window())).toMatchObject({
      known: false,
      why: expect.stringMatching(/^no Log Analytics workspace is configured/),
    });
  });

  it("sets disableLocalAuth by ARM: read back, an Activity Log write, keys refused with 403, and back", async () => {
    const speechId = id("contoso-speech");
    const keys = await azure.accounts.listKeys(speechId);
    const off = await azure.accounts.setLocalAuth!(speechId, true);
    expect(off.disableLocalAuth).toBe(true);
    expect((await azure.accounts.getAccount(speechId)).disableLocalAuth).toBe(true);
    expect(await azure.dataPlane.probe(off, keys.key1)).toEqual({ status: 403 });
    await expect(azure.accounts.listKeys(speechId)).rejects.toMatchObject({ code: "key_free" });
    const log = await azure.telemetry.activityLog(speechId, {
      from: new Date(Date.now() - 60_000),
      to: new Date(Date.now() + 1_000),
    });
    expect(
      log.some(
        (e) => e.operation === "Microsoft.CognitiveServices/accounts/write" && e.status === "Succeeded",
      ),
    ).toBe(true);
    const on = await azure.accounts.setLocalAuth!(speechId, false);
    expect(on.disableLocalAuth).toBe(false);
    expect(await azure.dataPlane.probe(on, keys.key1)).toEqual({ status: 200 });
  });
});
