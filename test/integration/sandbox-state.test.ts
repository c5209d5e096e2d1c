import { CognitiveServicesManagementClient } from "@azure/arm-cognitiveservices";
import { MonitorClient } from "@azure/arm-monitor";
import { SecretClient } from "@azure/keyvault-secrets";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  createSimulatorCredential,
  generateScenario,
  loadScenario,
  startSimulator,
} from "../../src/sandbox/index.js";

const PROD = "00000000-0000-4000-8000-0000000000a1";
const speechId = `/subscriptions/${PROD}/resourceGroups/rg-ai-prod/providers/Microsoft.CognitiveServices/accounts/contoso-speech`;
const cred = createSimulatorCredential();
const dir = mkdtempSync(join(tmpdir(), "keyturn-sim-state-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("simulator state", () => {
  it("persists keys, secret versions, site pins, counters and the activity log across a restart", async () => {
    const stateFile = join(dir, "tenant.json");
    const first = await startSimulator({ consumers: false, stateFile, dataDir: dir });
    const cs = new CognitiveServicesManagementClient(cred, PROD, {
      endpoint: first.armEndpoint,
      credentialScopes: ["https://management.azure.com/.default"],
      tlsOptions: { ca: first.caPem },
    });
    const rotated = await cs.accounts.regenerateKey("rg-ai-prod", "contoso-speech", "Key2");
    const kv = new SecretClient(first.vaultUrls["contoso-kv"]!, cred, {
      disableChallengeResourceVerification: true,
      tlsOptions: { ca: first.caPem },
    });
    const v = await kv.setSecret("speech-key", rotated.key2!);
    first.admin.repin("speech-ivr", v.properties.version!);
    first.admin.tick();
    const calls = first.admin.consumers().find((c) => c.name === "speech-ivr")!.calls;
    await first.close();
    expect(existsSync(stateFile)).toBe(true);
    expect(readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);

    const second = await startSimulator({ consumers: false, stateFile, dataDir: dir });
    try {
      expect(second.admin.currentKeys(speechId).key2).toBe(rotated.key2);
      expect(second.admin.regenerations()[speechId]).toEqual({ key1: 0, key2: 1 });
      expect(second.admin.keyValues()).toContain(rotated.key2);
      const kv2 = new SecretClient(second.vaultUrls["contoso-kv"]!, cred, {
        disableChallengeResourceVerification: true,
        tlsOptions: { ca: second.caPem },
      });
      expect((await kv2.getSecret("speech-key")).properties.version).toBe(v.properties.version);
      second.admin.tick();
      const report = second.admin.consumers().find((c) => c.name === "speech-ivr")!;
      expect(report).toMatchObject({ mode: "pinned", secretVersion: v.properties.version, lastStatus: 200 });
      expect(report.calls).toBe(calls + 1);
      const cs2 = new CognitiveServicesManagementClient(cred, PROD, {
        endpoint: second.armEndpoint,
        credentialScopes: ["https://management.azure.com/.default"],
        tlsOptions: { ca: second.caPem },
      });
      expect((await cs2.accounts.listKeys("rg-ai-prod", "contoso-speech")).key2).toBe(rotated.key2);
      const monitor = new MonitorClient(cred, PROD, {
        endpoint: second.armEndpoint,
        credentialScopes: ["https://management.azure.com/.default"],
        tlsOptions: { ca: second.caPem },
      });
      const ops: string[] = [];
      const filter = `eventTimestamp ge '${new Date(Date.now() - 3600_000).toISOString()}' and eventTimestamp le '${new Date(Date.now() + 60_000).toISOString()}' and resourceUri eq '${speechId}'`;
      for await (const e of monitor.activityLogs.list(filter))
        ops.push(`${e.caller} ${e.operationName?.value}`);
      expect(ops).toEqual(
        expect.arrayContaining([
          "keyturn@sandbox Microsoft.CognitiveServices/accounts/regenerateKey/action",
          "keyturn@sandbox Microsoft.CognitiveServices/accounts/listKeys/action",
        ]),
      );
    } finally {
      await second.close();
    }
  });

  it("refuses an invalid scenario with a message naming the field", () => {
    const bad = join(dir, "bad.json");
    writeFileSync(bad, JSON.stringify({ tenantId: "t", subscriptions: [{ id: "s" }], accounts: [] }));
    expect(() => loadScenario(bad)).toThrow(/subscriptions\.0\.displayName/);
  });

  it("generates a large tenant for benchmarks and lists it page by page", async () => {
    const scenario = generateScenario({ subscriptions: 20, accountsPerSubscription: 250, seed: 1 });
    expect(scenario.accounts).toHaveLength(5000);
    const sim = await startSimulator({ scenario, consumers: false });
    try {
      const cs = new CognitiveServicesManagementClient(cred, scenario.subscriptions[3]!.id, {
        endpoint: sim.armEndpoint,
        credentialScopes: ["https://management.azure.com/.default"],
        tlsOptions: { ca: sim.caPem },
      });
      let n = 0;
      for await (const a of cs.accounts.list()) if (a.name) n++;
      expect(n).toBe(250);
    } finally {
      await sim.close();
    }
  });

  it("runs standalone, prints how to point keyturn at it, and stops on SIGTERM", async () => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "src/sandbox/standalone.ts", "--data-dir", dir],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString("utf8")));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`standalone did not start: ${out}`)), 30_000);
      child.stdout.on("data", () => {
        if (out.includes("simulator ready")) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once("exit", (code) => reject(new Error(`exited ${code}: ${out}`)));
    });
    expect(out).toContain("SANDBOX");
    expect(out).toMatch(/AZURE_ARM_ENDPOINT=https:\/\/127\.0\.0\.1:\d+/);
    expect(out).toContain("AZURE_CREDENTIAL=simulator");
    expect(out).toContain(`AZURE_CA_FILE=${join(dir, "ca.pem")}`);
    expect(readFileSync(join(dir, "ca.pem"), "utf8")).toContain("BEGIN CERTIFICATE");
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
  });
});
