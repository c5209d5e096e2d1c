/**
 * The inventory reads each Key Vault secret's value once per version: a fleet scan lists the vaults
 * every few seconds but does not re-read thousands of unchanged secrets, and a version written by
 * someone else (not through keyturn) is still seen on the next listing.
 */
import { SecretClient } from "@azure/keyvault-secrets";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAzurePorts } from "../../src/azure/index.js";
import { AzureInventory } from "../../src/azure/inventory.js";
import { knownHolders } from "../../src/core/known-holders.js";
import type { SecretsPort } from "../../src/core/ports.js";
import { SecretValue } from "../../src/core/secret.js";
import { createLogger } from "../../src/log.js";
import {
  createSimulatorCredential,
  simulatorAzureConfig,
  startSimulator,
  type Simulator,
} from "../../src/sandbox/index.js";

const TRANSLATOR =
  "/subscriptions/00000000-0000-4000-8000-0000000000a1/resourceGroups/rg-ai-prod/providers/Microsoft.CognitiveServices/accounts/contoso-translator";

let sim: Simulator;

beforeAll(async () => {
  sim = await startSimulator({ consumers: false });
});

afterAll(async () => {
  await sim?.close();
});

describe("inventory of Key Vault secrets", () => {
  it("reads a secret's value once per version, and sees a version written outside keyturn", async () => {
    const logger = createLogger({ level: "silent" });
    const ports = createAzurePorts(simulatorAzureConfig(sim), createSimulatorCredential(), logger);
    const reads: string[] = [];
    const secrets: SecretsPort = {
      ...ports.secrets,
      getSecret: (l) => (reads.push(l.name), ports.secrets.getSecret(l)),
    };
    const inventory = new AzureInventory({
      accounts: ports.accounts,
      secrets,
      telemetry: ports.telemetry,
      sites: ports.consumers as ConstructorParameters<typeof AzureInventory>[0]["sites"],
      clock: { now: () => new Date() },
      logger,
      cacheMs: 0,
    });
    const account = await ports.accounts.getAccount(TRANSLATOR);
    const slotOfSecret = (inv: Awaited<ReturnType<AzureInventory["take"]>>) =>
      inv.consumers.find((c) => c.id.endsWith("/translator-key"))?.slot;

    const first = await inventory.take(account);
    expect(slotOfSecret(first)).toBe("key1");
    const listed = reads.length;
    expect(listed).toBeGreaterThan(0);
    expect(reads).toContain("translator-key");

    // listed again, nothing changed: no value is read twice
    await inventory.take(account);
    expect(reads.length).toBe(listed);

    // someone sets the secret to key2 by hand: the next listing reads that secret again, and only it
    const client = new SecretClient(sim.vaultUrls["contoso-kv"]!, createSimulatorCredential(), {
      disableChallengeResourceVerification: true,
      tlsOptions: { ca: sim.caPem },
    });
    await client.setSecret("translator-key", sim.admin.currentKeys(TRANSLATOR).key2);
    const third = await inventory.take(account);
    expect(reads.slice(listed)).toEqual(["translator-key"]);
    expect(slotOfSecret(third)).toBe("key2");

    // a version this young is read on every listing: one written within the same second would share its timestamp
    await inventory.take(account);
    expect(reads.slice(listed)).toEqual(["translator-key", "translator-key"]);
  });

  it("marks holders NEW unless keyturn's record knows them, with when their copy was written; a tagged secret holding no key says so", async () => {
    const logger = createLogger({ level: "silent" });
    const ports = createAzurePorts(simulatorAzureConfig(sim), createSimulatorCredential(), logger);
    const account = await ports.accounts.getAccount(TRANSLATOR);
    const vault = Object.values(sim.vaultUrls)[0]!;
    const keys = await ports.accounts.listKeys(TRANSLATOR);
    await ports.secrets.publish({ vaultUrl: vault, name: "planted-copy" }, keys.key1, {});
    await ports.secrets.publish({ vaultUrl: vault, name: "tagged-junk" }, new SecretValue("junk"), {
      "keyturn-account": TRANSLATOR,
      "created-by": "mallory@example.com",
    });
    const declared = [
      {
        accountId: TRANSLATOR,
        name: "web",
        owner: "team-lang@contoso.com",
        secret: { vaultUrl: vault, name: "translator-key" },
        reload: "versionless" as const,
        addedBy: "console:bob",
        addedAt: new Date().toISOString(),
      },
    ];
    const inventory = new AzureInventory({
      accounts: ports.accounts,
      secrets: ports.secrets,
      telemetry: ports.telemetry,
      sites: ports.consumers as ConstructorParameters<typeof AzureInventory>[0]["sites"],
      clock: { now: () => new Date() },
      logger,
      cacheMs: 0,
      declared: async () => declared,
      known: async () => knownHolders([], declared),
    });
    const inv = await inventory.take(account);
    const byName = (n: string) => inv.consumers.find((c) => c.name === n);
    expect(byName("Key Vault secret translator-key")?.known).toBe(true);
    expect(byName("translator-web")?.known).toBe(true); // reads the declared secret
    expect(byName("web")?.known).toBe(true);
    const planted = byName("Key Vault secret planted-copy");
    expect(planted).toMatchObject({ known: false, slot: "key1" });
    expect(Date.now() - Date.parse(planted!.firstSeen!.createdAt!)).toBeLessThan(60_000);
    expect(planted!.firstSeen!.createdBy).toBeNull();
    const junk = byName("Key Vault secret tagged-junk");
    expect(junk).toMatchObject({ known: false, slot: "unknown", source: "keyvault-tagged" });
    expect(junk!.evidence).toMatch(/holds neither key/);
    expect(junk!.firstSeen!.createdBy).toMatch(/mallory@example\.com \(per its created-by tag, unverified\)/);
  });
});
