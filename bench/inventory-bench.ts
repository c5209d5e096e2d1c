/**
 * Fleet scale: 20 subscriptions × 250 accounts behind ARM's per-subscription token buckets (reads
 * 250 burst, 25/s; writes 200 burst, 10/s) and 50 ms per request. Times `list` (listAccounts) and
 * an inventory of every account at bounded concurrency, each against the least time the buckets and
 * the latency allow for the requests the simulator actually granted.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { createAzurePorts } from "../src/azure/index.js";
import type { Account } from "../src/core/domain.js";
import { createLogger } from "../src/log.js";
import {
  createSimulatorCredential,
  generateScenario,
  simulatorAzureConfig,
  startSimulator,
} from "../src/sandbox/index.js";
import { elapsedMs, round, rssSampler } from "./stats.js";

type Counts = Record<string, { reads: number; writes: number }>;

// the simulator hands out its live counters: copy them, or before and after are the same objects
const snapshot = (c: Counts): Counts => Object.fromEntries(Object.entries(c).map(([k, v]) => [k, { ...v }]));

export interface PhaseFigures {
  readonly seconds: number;
  readonly requests: number;
  readonly minimumSeconds: number;
  readonly ratio: number;
  readonly bound: string;
}

export interface InventoryFigures {
  readonly subscriptions: number;
  readonly accounts: number;
  readonly armLatencyMs: number;
  readonly concurrency: number;
  readonly list: PhaseFigures;
  readonly inventory: PhaseFigures & { readonly failed: number };
  readonly peakRssMiB: number;
}

const READ = { burst: 250, rate: 25 };
const WRITE = { burst: 200, rate: 10 };

/**
 * The least wall time for a phase: no subscription can go faster than its buckets refill, and no
 * request chain can go faster than `latency × requests / lanes` (lanes = requests in flight at once).
 */
function minimum(
  delta: Counts,
  latencyMs: number,
  lanes: number,
  startTokens: (sub: string, write: boolean) => number,
): { seconds: number; bound: string } {
  let bucket = 0;
  let total = 0;
  for (const [sub, c] of Object.entries(delta)) {
    total += c.reads + c.writes;
    bucket = Math.max(
      bucket,
      Math.max(0, c.reads - startTokens(sub, false)) / READ.rate,
      Math.max(0, c.writes - startTokens(sub, true)) / WRITE.rate,
    );
  }
  const latency = (total * latencyMs) / 1000 / lanes;
  return bucket >= latency
    ? { seconds: bucket, bound: "token buckets" }
    : { seconds: latency, bound: "latency" };
}

function diff(after: Counts, before: Counts): Counts {
  const out: Counts = {};
  for (const [sub, c] of Object.entries(after)) {
    const b = before[sub] ?? { reads: 0, writes: 0 };
    out[sub] = { reads: c.reads - b.reads, writes: c.writes - b.writes };
  }
  return out;
}

const sum = (c: Counts) => Object.values(c).reduce((a, x) => a + x.reads + x.writes, 0);

const phase = (ms: number, delta: Counts, min: { seconds: number; bound: string }): PhaseFigures => ({
  seconds: round(ms / 1000, 2),
  requests: sum(delta),
  minimumSeconds: round(min.seconds, 2),
  ratio: round(ms / 1000 / min.seconds, 2),
  bound: min.bound,
});

export async function benchInventory(opts: {
  subscriptions: number;
  accountsPerSubscription: number;
  armLatencyMs: number;
  concurrency: number;
}): Promise<InventoryFigures> {
  const dir = mkdtempSync(join(tmpdir(), "keyturn-bench-inventory-"));
  const rss = rssSampler();
  const sim = await startSimulator({
    scenario: generateScenario({
      subscriptions: opts.subscriptions,
      accountsPerSubscription: opts.accountsPerSubscription,
      seed: 7,
    }),
    dataDir: join(dir, "sim"),
    armLatencyMs: opts.armLatencyMs,
    throttle: true,
    consumers: false,
  });
  const logger = createLogger({
    level: "warn",
    destination: new Writable({ write: (_c, _e, cb) => cb() }),
    name: "keyturn-bench",
  });
  const azure = createAzurePorts(
    {
      ...simulatorAzureConfig(sim),
      maxRetryAfterSeconds: 30,
      declaredConsumers: async () => [],
    },
    createSimulatorCredential(),
    logger,
  );
  try {
    const full = () => ({ reads: READ.burst, writes: WRITE.burst });
    const c0 = snapshot(sim.admin.requestCounts());
    const t0 = process.hrtime.bigint();
    const accounts = await azure.accounts.listAccounts();
    const listMs = elapsedMs(t0);
    const c1 = snapshot(sim.admin.requestCounts());
    if (accounts.length !== opts.subscriptions * opts.accountsPerSubscription)
      throw new Error(`listAccounts returned ${accounts.length} accounts`);
    // the list runs one page chain per subscription: its lanes are the subscriptions
    const listDelta = diff(c1, c0);
    const listMin = minimum(listDelta, opts.armLatencyMs, opts.subscriptions, (_s, w) =>
      w ? full().writes : full().reads,
    );

    // a pause long enough for every bucket to refill, so the inventory starts from full buckets as a scan would
    await new Promise((r) => setTimeout(r, (READ.burst / READ.rate) * 1000));
    const c2 = snapshot(sim.admin.requestCounts());
    const t1 = process.hrtime.bigint();
    let failed = 0;
    // subscriptions taken in turn: each has its own buckets, so a scan spreads across them
    const bySub = new Map<string, Account[]>();
    for (const a of accounts) bySub.set(a.subscriptionId, [...(bySub.get(a.subscriptionId) ?? []), a]);
    const queue: Account[] = [];
    for (let i = 0; queue.length < accounts.length; i++)
      for (const list of bySub.values()) if (list[i]) queue.push(list[i]!);
    await Promise.all(
      Array.from({ length: opts.concurrency }, async () => {
        for (let a = queue.shift(); a; a = queue.shift()) {
          await azure.inventory.take(a).catch(() => failed++);
        }
      }),
    );
    const invMs = elapsedMs(t1);
    const invDelta = diff(snapshot(sim.admin.requestCounts()), c2);
    const invMin = minimum(invDelta, opts.armLatencyMs, opts.concurrency, (_s, w) =>
      w ? full().writes : full().reads,
    );
    return {
      subscriptions: opts.subscriptions,
      accounts: accounts.length,
      armLatencyMs: opts.armLatencyMs,
      concurrency: opts.concurrency,
      list: phase(listMs, listDelta, listMin),
      inventory: { ...phase(invMs, invDelta, invMin), failed },
      peakRssMiB: rss.stop(),
    };
  } finally {
    rss.stop();
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
