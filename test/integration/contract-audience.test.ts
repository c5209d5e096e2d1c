/**
 * Token audience per service: the simulator's credential issues each token for the scope asked, each
 * simulated service refuses a token for another, and `keyturn doctor` turns that refusal into the
 * setting to change.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkAccess } from "../../src/azure/access.js";
import { createLogger } from "../../src/log.js";
import {
  createSimulatorCredential,
  simulatorAzureConfig,
  startSimulator,
  type Simulator,
} from "../../src/sandbox/index.js";

let sim: Simulator;
beforeAll(async () => {
  sim = await startSimulator({ consumers: false });
});
afterAll(async () => {
  await sim.close();
});

const logger = createLogger({ level: "silent" });

describe("token audience", () => {
  it("the simulator's credential issues each token for the audience of the scope asked", async () => {
    const cred = createSimulatorCredential();
    const aud = async (scope: string) =>
      (
        JSON.parse(Buffer.from((await cred.getToken(scope))!.token.slice(4), "base64url").toString()) as {
          aud: string;
        }
      ).aud;
    expect(await aud("https://management.azure.com/.default")).toBe("https://management.azure.com");
    expect(await aud("https://vault.azure.net/.default")).toBe("https://vault.azure.net");
    expect(await aud("https://api.loganalytics.io/.default")).toBe("https://api.loganalytics.io");
  });

  it("keyturn asks ARM and Key Vault for their own audiences: doctor passes with the defaults", async () => {
    const rows = await checkAccess(simulatorAzureConfig(sim), createSimulatorCredential(), logger);
    expect(rows.filter((r) => !r.ok)).toEqual([]);
  });

  it("doctor names the scope to fix when ARM refuses a token issued for another service", async () => {
    const config = { ...simulatorAzureConfig(sim), armScope: "https://vault.azure.net/.default" };
    const rows = await checkAccess(config, createSimulatorCredential(), logger);
    const refused = rows.filter((r) => !r.ok && r.check === "list accounts");
    expect(refused).toHaveLength(sim.subscriptionIds.length);
    expect(refused[0]!.detail).toContain("issued for another service (audience https://vault.azure.net)");
    expect(refused[0]!.fix).toContain(
      "remove AZURE_ARM_SCOPE or set it to https://management.azure.com/.default",
    );
    expect(refused[0]!.fix).not.toContain("grant");
  });
});
