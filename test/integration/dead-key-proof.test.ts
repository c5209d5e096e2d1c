/**
 * The dead-key proof per kind: a documented request that requires the key. The simulated tenant serves
 * anonymous routes anonymously (Translator `GET /languages` answers 200 to a dead key; the bare endpoint
 * answers 404 without looking at the key), so a probe there never proves a key dead.
 */
import { CognitiveServicesManagementClient } from "@azure/arm-cognitiveservices";
import { request } from "node:https";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HttpsProbe, keyProbeFor } from "../../src/azure/data-plane.js";
import type { Account } from "../../src/core/domain.js";
import { SecretValue } from "../../src/core/secret.js";
import {
  createSimulatorCredential,
  REALISTIC_TIMING,
  startSimulator,
  type Simulator,
} from "../../src/sandbox/index.js";
import { startSandboxEngine, users } from "../support/sandbox-engine.js";

const PROD = "00000000-0000-4000-8000-0000000000a1";
const DEV = "00000000-0000-4000-8000-0000000000b2";

let sim: Simulator;
const cs = (s: Simulator, sub: string) =>
  new CognitiveServicesManagementClient(createSimulatorCredential(), sub, {
    endpoint: s.armEndpoint,
    credentialScopes: ["https://management.azure.com/.default"],
    tlsOptions: { ca: s.caPem },
    retryOptions: { maxRetries: 0 },
  });

async function accountOf(s: Simulator, sub: string, rg: string, name: string): Promise<Account> {
  const a = await cs(s, sub).accounts.get(rg, name);
  return {
    id: a.id!,
    subscriptionId: sub,
    resourceGroup: rg,
    name,
    kind: a.kind!,
    location: a.location!,
    endpoint: a.properties!.endpoint!,
    disableLocalAuth: false,
    provisioningState: "Succeeded",
    tags: a.tags ?? {},
  };
}

/** The request the proof used to make: GET /languages for Translator, the bare endpoint for other non-OpenAI kinds. */
function anonymousChoice(account: Account, key: string): Promise<number> {
  const path = account.kind === "TextTranslation" ? "languages?api-version=3.0" : "";
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(path, account.endpoint),
      { headers: { "Ocp-Apim-Subscription-Key": key }, ca: sim.caPem },
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
});
afterAll(async () => {
  await sim.close();
});

describe("dead-key proof per kind", () => {
  const cases: [string, string, string, string][] = [
    ["TextTranslation", PROD, "rg-ai-prod", "contoso-translator"],
    ["SpeechServices", PROD, "rg-ai-prod", "contoso-speech"],
    ["OpenAI", PROD, "rg-ai-prod", "contoso-openai"],
    ["AIServices", DEV, "rg-ai-dev", "fabrikam-ai"],
  ];
  for (const [kind, sub, rg, name] of cases) {
    it(`${kind}: the documented key-only request answers 401 to the regenerated key and 200 to the new one`, async () => {
      const account = await accountOf(sim, sub, rg, name);
      expect(account.kind).toBe(kind);
      const probe = keyProbeFor(kind);
      expect("doc" in probe && probe.doc).toMatch(/^https:\/\/learn\.microsoft\.com\//);
      const old = (await cs(sim, sub).accounts.listKeys(rg, name)).key1!;
      const fresh = (await cs(sim, sub).accounts.regenerateKey(rg, name, "Key1")).key1!;
      if (kind === "TextTranslation" || kind === "SpeechServices") {
        // the old, anonymous choice cannot tell a dead key from a live one
        expect(await anonymousChoice(account, old)).not.toBe(401);
        expect(await anonymousChoice(account, "not-a-key")).not.toBe(401);
      }
      const p = new HttpsProbe(sim.caPem);
      expect(await p.probe(account, new SecretValue(old))).toEqual({ status: 401 });
      expect(await p.probe(account, new SecretValue(fresh))).toEqual({ status: 200 });
    });
  }

  it("a kind with no documented key-only request makes no call and says the soak metrics are the evidence", async () => {
    const account: Account = {
      ...(await accountOf(sim, PROD, "rg-ai-prod", "contoso-translator")),
      kind: "ComputerVision",
    };
    expect(await new HttpsProbe(sim.caPem).probe(account, new SecretValue("whatever"))).toEqual({
      unreachable:
        "no documented key-only request for kind ComputerVision: the soak metrics are the evidence",
    });
  });
});

describe("key invalidation delay", () => {
  it("a regenerated key keeps answering for keyInvalidationSeconds, then the proof comes", async () => {
    const slow = await startSimulator({ consumers: false, keyInvalidationSeconds: 1 });
    try {
      const account = await accountOf(slow, PROD, "rg-ai-prod", "contoso-speech");
      const old = (await cs(slow, PROD).accounts.listKeys("rg-ai-prod", "contoso-speech")).key2!;
      await cs(slow, PROD).accounts.regenerateKey("rg-ai-prod", "contoso-speech", "Key2");
      const p = new HttpsProbe(slow.caPem);
      expect(await p.probe(account, new SecretValue(old))).toEqual({ status: 200 });
      const t0 = Date.now();
      let status = 200;
      for (let wait = 100; status !== 401 && Date.now() - t0 < 5000; wait = Math.min(wait * 2, 800)) {
        await new Promise((r) => setTimeout(r, wait));
        const r = await p.probe(account, new SecretValue(old));
        status = "status" in r ? r.status : 0;
      }
      expect(status).toBe(401);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    } finally {
      await slow.close();
    }
  });
});

describe("dead-key proof bound", () => {
  it("by default keyturn probes longer than the simulator's realistic 30 s invalidation", () => {
    expect(REALISTIC_TIMING.keyInvalidationSeconds).toBe(30);
    expect(new HttpsProbe().proofBoundMs).toBeGreaterThanOrEqual(
      4 * REALISTIC_TIMING.keyInvalidationSeconds * 1000,
    );
  });

  it("an old key that still answers 200 at the bound is a finding on the change, with what to do", async () => {
    // the old key keeps answering for 20 s; keyturn is configured to probe for 1 s
    const kt = await startSandboxEngine({
      sim: { keyInvalidationSeconds: 20 },
      azure: { deadKeyProofSeconds: 1 },
    });
    try {
      await kt.say(
        users.alice,
        'rotate contoso-translator --exposure key2 --reason "key2 pasted in a ticket"',
      );
      for (const who of [users.bob, users.carol])
        await kt.press(who, { kind: "approve", changeId: "CHG-1", planHash: kt.change("CHG-1").plan.hash });
      const done = await kt.waitFor("CHG-1", ["completed", "completed_with_findings", "paused"], 30_000);
      expect(done.state).toBe("completed_with_findings");
      const step = done.steps.find((s) => /regenerate|kill/.test(s.kind))!;
      expect(step.outcome).toBe("succeeded_with_findings");
      expect(step.validation?.result).toMatch(
        /OLD KEY STILL ANSWERED 200 after \d+ probes over \d+ s \(the proof's bound is 1 s\)/,
      );
      expect(done.findings?.[0]?.what).toMatch(
        /old contoso-translator key still answered 200 .* could not prove it dead/,
      );
      expect(done.findings?.[0]?.next).toMatch(/KEYTURN_DEAD_KEY_PROOF_SECONDS/);
      // what the people in the thread see
      expect(kt.chat.allText()).toMatch(/old contoso-translator key still answered 200/);
      for (const v of kt.sim.admin.keyValues()) expect(kt.chat.allText()).not.toContain(v);
    } finally {
      await kt.close();
    }
  }, 40_000);
});
