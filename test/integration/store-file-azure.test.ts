/**
 * The file-backed Azure used by durability tests: it must behave like Azure and stay consistent
 * across processes, including one SIGKILLed in the middle of an effect.
 */
import { spawn } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { KeyturnError } from "../../src/core/errors.js";
import { fingerprintOf, SecretValue } from "../../src/core/secret.js";
import { createPolicyBook } from "../../src/core/policy.js";
import { createLogger } from "../../src/log.js";
import { ChatRegistry } from "../../src/runner/chat-registry.js";
import { createEngine } from "../../src/runner/engine.js";
import { openStore } from "../../src/store/open-store.js";
import {
  allKeyValues,
  armFault,
  createFileAzure,
  readFileAzure,
  seedFileAzure,
  simulateTraffic,
  VAULT,
} from "../support/file-azure.js";
import { fastPolicy, users } from "../support/sandbox-engine.js";
import { findSecrets, scanPaths } from "../support/scan-secrets.js";
import { useTempDir } from "../support/temp-dir.js";
import { ThreadRecorder } from "../support/thread-recorder.js";

const tmp = useTempDir("keyturn-file-azure-");

function seeded() {
  const path = tmp.current.file("azure.json");
  const seed = seedFileAzure(path, { now: new Date(Date.now() - 60_000) });
  const translator = seed.accounts[0]!.account;
  const fabrikam = seed.accounts[1]!.account;
  return { path, seed, translator, fabrikam, azure: createFileAzure(path) };
}

describe("the file-backed Azure", () => {
  it("finds consumers and the active slot from the secrets they read", async () => {
    const { azure, translator, fabrikam } = seeded();
    expect((await azure.accounts.listAccounts()).map((a) => a.name)).toEqual([
      "contoso-translator",
      "fabrikam-ai",
    ]);
    const inv = await azure.inventory.take(translator);
    expect(inv.activeSlot).toBe("key1");
    expect(inv.consumers.map((c) => [c.id, c.source, c.slot, c.reload])).toEqual([
      ["kv:contoso-kv.vault.azure.net/translator-key", "keyvault-secret", "key1", "versionless"],
      ["site:translator-web/TRANSLATOR_KEY", "app-setting-reference", "key1", "refreshable"],
    ]);
    const fab = await azure.inventory.take(fabrikam);
    expect(fab.consumers.map((c) => [c.source, c.slot, c.reload])).toEqual([
      ["keyvault-secret", "key1", "versionless"],
      ["app-setting-literal", "key1", "manual"],
    ]);
  });

  it("really regenerates: the old key answers 401, another instance sees the new key, the counter counts", async () => {
    const { path, azure, translator } = seeded();
    const before = await azure.accounts.listKeys(translator.id);
    const after = await azure.accounts.regenerateKey(translator.id, "key2");
    expect(after.key2.fingerprint).not.toBe(before.key2.fingerprint);
    expect(after.key2.reveal()).toMatch(/^[A-Za-z0-9]{84}$/);
    expect(after.key1.equals(before.key1)).toBe(true);
    expect(await azure.dataPlane.probe(translator, before.key2)).toEqual({ status: 401 });
    expect(await azure.dataPlane.probe(translator, after.key2)).toEqual({ status: 200 });

    const other = createFileAzure(path); // as a restarted process would
    expect((await other.accounts.listKeys(translator.id)).key2.fingerprint).toBe(after.key2.fingerprint);
    const state = readFileAzure(path);
    expect(state.regenerations[translator.id]).toEqual({ key1: 0, key2: 1 });
    expect(state.operations.find((o) => o.op === "regenerateKey")?.detail).toMatchObject({
      slot: "key2",
      before: before.key2.fingerprint,
      after: after.key2.fingerprint,
    });
    // the operation log holds fingerprints, never values
    expect(JSON.stringify(state.operations)).not.toContain(after.key2.reveal());
  });

  it("versions secrets on publish, and moves a refreshable consumer only when refreshed", async () => {
    const { path, azure, translator } = seeded();
    const inv = await azure.inventory.take(translator);
    const site = inv.consumers.find((c) => c.source === "app-setting-reference")!;
    const oldVersion = await azure.consumers.activeVersion(site);
    const keys = await azure.accounts.regenerateKey(translator.id, "key2");
    const published = await azure.secrets.publish({ vaultUrl: VAULT, name: "translator-key" }, keys.key2, {
      "keyturn-change": "CHG-1",
    });
    expect(published.locator.version).not.toBe(oldVersion);
    expect(
      (await azure.secrets.getSecret({ vaultUrl: VAULT + "/", name: "TRANSLATOR-KEY" })).value.fingerprint,
    ).toBe(keys.key2.fingerprint);
    expect(
      (await azure.secrets.listVersions({ vaultUrl: VAULT, name: "translator-key" })).map((v) => v.tags),
    ).toEqual([{}, { "keyturn-change": "CHG-1" }]);
    expect(await azure.consumers.activeVersion(site)).toBe(oldVersion);
    expect(await azure.consumers.refresh(site)).toBe(true);
    expect(await azure.consumers.activeVersion(site)).toBe(published.locator.version);
    expect((await azure.inventory.take(translator)).activeSlot).toBe("key2");

    // the old key dies; the consumer already reads the new one, so its traffic stays green
    await azure.accounts.regenerateKey(translator.id, "key1");
    simulateTraffic(path);
    const m = await azure.telemetry.metrics(translator.id, {
      from: new Date(Date.now() - 60_000),
      to: new Date(Date.now() + 1000),
      names: ["TotalCalls", "ClientErrors"],
    });
    expect(m.map((s) => [s.name, s.points.reduce((a, p) => a + p.total, 0)])).toEqual([
      ["TotalCalls", 1],
      ["ClientErrors", 0],
    ]);
    expect(readFileAzure(path).regenerations[translator.id]).toEqual({ key1: 1, key2: 1 });
  });

  it("shows 401s by caller when a consumer still holds a dead key", async () => {
    const { path, azure, fabrikam } = seeded();
    await azure.accounts.regenerateKey(fabrikam.id, "key1");
    simulateTraffic(path);
    const q = { from: new Date(Date.now() - 60_000), to: new Date(Date.now() + 1000) };
    expect(await azure.telemetry.unauthorizedCallers!(fabrikam.id, q)).toEqual([
      { callerIp: "10.0.2.7", operation: "Translate", count: 1 },
    ]);
    const errors = await azure.telemetry.metrics(fabrikam.id, {
      ...q,
      names: ["ClientErrors"],
      splitBy: "ApiName",
    });
    expect(errors).toMatchObject([
      { name: "ClientErrors", dimension: { ApiName: "Translate" }, points: [{ total: 1 }] },
    ]);
    expect((await azure.telemetry.activityLog(fabrikam.id, q)).map((e) => e.operation)).toEqual([
      "Microsoft.CognitiveServices/accounts/regenerateKey/action",
    ]);
  });

  it("fails the next calls of an operation with an armed KeyturnError, before the effect", async () => {
    const { path, azure, translator } = seeded();
    const before = await azure.accounts.listKeys(translator.id);
    armFault(path, { op: "regenerateKey", kind: "fail", code: "azure_throttled", times: 2 });
    for (let i = 0; i < 2; i++) {
      const e = await azure.accounts.regenerateKey(translator.id, "key2").catch((x: unknown) => x);
      expect(e).toBeInstanceOf(KeyturnError);
      expect((e as KeyturnError).code).toBe("azure_throttled");
    }
    expect((await azure.accounts.listKeys(translator.id)).key2.equals(before.key2)).toBe(true);
    await azure.accounts.regenerateKey(translator.id, "key2");
    expect(readFileAzure(path).regenerations[translator.id]?.key2).toBe(1);
    // a fault can be limited to one target
    armFault(path, { op: "getSecret", kind: "fail", code: "azure_permission", match: "fabrikam" });
    await expect(azure.secrets.getSecret({ vaultUrl: VAULT, name: "translator-key" })).resolves.toBeDefined();
    await expect(azure.secrets.getSecret({ vaultUrl: VAULT, name: "fabrikam-key" })).rejects.toMatchObject({
      code: "azure_permission",
    });
  });

  it("keeps one consistent Azure when a process is SIGKILLed in the middle of a regenerate", async () => {
    const { path, translator } = seeded();
    armFault(path, { op: "regenerateKey", kind: "hang", ms: 30_000 });
    const script = tmp.current.file("regenerate.mts"); // .mts: ESM with top-level await outside the package;
    const lib = new URL("../support/file-azure.ts", import.meta.url).pathname;
    writeFileSync(
      script,
      `import { createFileAzure } from ${JSON.stringify(lib)};\nawait createFileAzure(${JSON.stringify(path)}).accounts.regenerateKey(${JSON.stringify(translator.id)}, "key2");\nconsole.log("returned");\n`,
    );
    const child = spawn(process.execPath, ["--import", "tsx", script], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (b: Buffer) => (out += b.toString()));
    child.stderr.on("data", (b: Buffer) => (out += b.toString()));
    const exited = new Promise<NodeJS.Signals | null>((r) =>
      child.once("exit", (_code, signal) => r(signal)),
    );
    try {
      // Azure has regenerated and the caller has not heard back: the moment a crash hurts most
      const deadline = Date.now() + 20_000;
      while (!readFileAzure(path).operations.some((o) => o.detail?.fault === "hang")) {
        if (Date.now() > deadline || child.exitCode !== null)
          throw new Error(`the child never reached the hang: ${out}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      child.kill("SIGKILL");
      expect(await exited).toBe("SIGKILL");
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }
    expect(out).not.toContain("returned");
    const state = readFileAzure(path);
    expect(state.regenerations[translator.id]).toEqual({ key1: 0, key2: 1 });
    const restarted = createFileAzure(path);
    const live = await restarted.accounts.listKeys(translator.id);
    expect(live.key2.fingerprint).toBe(fingerprintOf(state.accounts[0]!.key2));
    expect(live.key2.fingerprint).not.toBe(fingerprintOf(readSeedKey2(state)));
    expect(existsSync(path + ".lock")).toBe(false);

    // a lock left behind by a dead process is taken over, not waited on forever
    writeFileSync(path + ".lock", String(child.pid));
    await restarted.accounts.regenerateKey(translator.id, "key1");
    expect(readFileAzure(path).regenerations[translator.id]).toEqual({ key1: 1, key2: 1 });
    expect(await restarted.dataPlane.probe(translator, new SecretValue(readSeedKey2(state)))).toEqual({
      status: 401,
    });
  });
});

/** The key2 value the seed issued (the first key2 in the issue history). */
function readSeedKey2(state: ReturnType<typeof readFileAzure>): string {
  return state.issuedKeys.find((k) => k.slot === "key2")!.value;
}

describe("the file-backed Azure under keyturn's engine", () => {
  it("carries a whole staged rotation, and nothing keyturn wrote holds a key", async () => {
    const { path, translator } = seeded();
    const store = openStore(tmp.current.file("keyturn.db"));
    const chats = new ChatRegistry();
    const chat = new ThreadRecorder();
    chats.register(chat);
    const engine = createEngine({
      store,
      azure: createFileAzure(path, { label: "SANDBOX" }),
      policy: createPolicyBook(fastPolicy()),
      chats,
      clock: { now: () => new Date() },
      logger: createLogger({ level: "silent" }),
      sandbox: true,
      tickMs: 50,
      sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 100))),
    });
    await engine.start();
    try {
      const channel = { platform: "console" as const, id: "incident" };
      await engine.service.handleText(
        { principal: users.alice, channel },
        'rotate contoso-translator --reason "quarterly"',
      );
      for (const who of [users.bob, users.carol]) {
        const planHash = store.getChange("CHG-1")!.plan.hash;
        await engine.service.handleAction(
          { principal: who, channel },
          { kind: "approve", changeId: "CHG-1", planHash },
        );
      }
      const deadline = Date.now() + 60_000;
      while (!["completed", "paused", "rolled_back"].includes(store.getChange("CHG-1")?.state ?? "")) {
        if (Date.now() > deadline) throw new Error(`CHG-1 is ${store.getChange("CHG-1")?.state}`);
        simulateTraffic(path);
        await new Promise((r) => setTimeout(r, 50));
      }
      await engine.idle();
      const done = store.getChange("CHG-1")!;
      expect(done.pause).toBeNull();
      expect(done.state).toBe("completed");
    } finally {
      await engine.stop();
      store.close();
    }
    const state = readFileAzure(path);
    expect(state.regenerations[translator.id]).toEqual({ key1: 1, key2: 1 });
    const web = state.consumers.find((c) => c.siteName === "translator-web")!;
    expect(web.activeVersion).toBe(
      state.secrets.find((s) => s.name === "translator-key")!.versions.at(-1)!.version,
    );
    expect(state.calls.filter((c) => c.callerIp === web.callerIp && c.status !== 200)).toEqual([]);
    const keys = allKeyValues(state);
    expect(keys.length).toBeGreaterThanOrEqual(6);
    expect(await scanPaths([tmp.current.file("keyturn.db")], keys)).toEqual([]);
    expect(findSecrets([{ name: "chat", text: chat.allText() }], keys)).toEqual([]);
  });
});
