/**
 * A burst of `status` questions about one account reads its Activity Log once, counted where the
 * simulated tenant answers (a standing fault on the Activity Log operation counts the requests it
 * meets); what each person is shown is unchanged; and what keyturn itself does to an account shows
 * in the next answer at once, however recently the log was read.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Agent, fetch as undiciFetch } from "undici";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { renderText } from "../../adapters/console/render.js";
import { createAzurePorts } from "../../src/azure/index.js";
import { renderStatus } from "../../src/core/render/answers.js";
import { createPolicyBook } from "../../src/core/policy.js";
import type { Store } from "../../src/core/ports.js";
import { createLogger } from "../../src/log.js";
import { Queries } from "../../src/runner/queries.js";
import {
  createSimulatorCredential,
  simulatorAzureConfig,
  startSimulator,
  type Simulator,
} from "../../src/sandbox/index.js";
import { openStore } from "../../src/store/open-store.js";
import { fastPolicy } from "../support/sandbox-engine.js";
import { asyncStore } from "../../src/store/async-sqlite.js";

const SUB = "00000000-0000-4000-8000-0000000000a1";
const translator = `/subscriptions/${SUB}/resourceGroups/rg-ai-prod/providers/Microsoft.CognitiveServices/accounts/contoso-translator`;
const openai = translator.replace("contoso-translator", "contoso-openai");
const COUNTED = 1_000;

let dir: string;
let sim: Simulator;
let store: Store;
let azure: ReturnType<typeof createAzurePorts>;
let queries: Queries;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "keyturn-activity-cache-"));
  sim = await startSimulator({ dataDir: join(dir, "sim"), consumers: false });
  store = openStore(join(dir, "keyturn.db"));
  azure = createAzurePorts(
    { ...simulatorAzureConfig(sim), requestTimeoutMs: 5_000 },
    createSimulatorCredential(),
    createLogger({ level: "silent" }),
  );
  queries = new Queries(asyncStore(store), azure, createPolicyBook(fastPolicy()), { now: () => new Date() });
});

afterEach(async () => {
  store?.close();
  await sim?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function admin(method: "GET" | "POST", path: string, body?: unknown): Promise<unknown> {
  const r = await undiciFetch(`${sim.adminUrl}${path}`, {
    method,
    ...(body ? { body: JSON.stringify(body), headers: { "content-type": "application/json" } } : {}),
    dispatcher: new Agent({ connect: { ca: sim.caPem } }),
  });
  expect(r.status).toBeLessThan(300);
  return r.status === 204 ? null : r.json();
}

/** Every Activity Log request from now on meets a 100 ms latency fault; it counts them. */
async function countActivityReads(): Promise<() => Promise<number>> {
  await admin("POST", "/faults", {
    match: { operation: "activityLog" },
    effect: { type: "latency", ms: 100 },
    times: COUNTED,
  });
  return async () => {
    const { faults } = (await admin("GET", "/faults")) as { faults: { times: number }[] };
    return COUNTED - (faults[0]?.times ?? 0);
  };
}

/** What a person reads for `status <account>` (the console's rendering of the answer). */
async function statusSeen(accountId: string): Promise<string> {
  const account = await azure.accounts.getAccount(accountId);
  const { status } = await queries.status(account);
  return renderText(renderStatus(status, "SANDBOX")).text;
}

describe("the Activity Log behind status", () => {
  it("eight statuses of one account at once read its Activity Log once, and each shows what the log says", async () => {
    const reads = await countActivityReads();
    const seen = await Promise.all(Array.from({ length: 8 }, () => statusSeen(translator)));
    expect(await reads()).toBe(1);
    for (const text of seen)
      expect(text).toMatch(/Regenerated since .* by carol@contoso\.com \(Azure Activity Log\)/);

    // another account is its own read, and its listKeys caller is still named
    const other = await Promise.all([statusSeen(openai), statusSeen(openai)]);
    expect(await reads()).toBe(2);
    for (const text of other) expect(text).toMatch(/jenkins@contoso\.com/);
  });

  it("a key keyturn regenerates shows in the next status, however recently the log was read", async () => {
    const before = await statusSeen(translator);
    expect(before).toMatch(/Regenerated since .* by carol@contoso\.com/);
    const reads = await countActivityReads();

    // keyturn's own regeneration (as a change that stopped after regenerating the standby would leave it)
    await azure.accounts.regenerateKey(translator, "key2");
    const after = await statusSeen(translator);
    expect(after).toMatch(/Regenerated since .* by keyturn@sandbox \(Azure Activity Log\)/);
    expect(await reads()).toBe(1);
  });
});
