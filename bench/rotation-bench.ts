/**
 * The rotation's critical path with every policy window at 0 s: from the final approval to the old
 * key dead (the regenerate_old step finished). With no waits configured, what remains besides the
 * Azure calls themselves is keyturn's own overhead.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import YAML from "yaml";
import { createAzurePorts } from "../src/azure/index.js";
import type { Principal } from "../src/core/domain.js";
import { createPolicyBook, parsePolicy } from "../src/core/policy.js";
import type { StoredEvent } from "../src/core/ports.js";
import { createLogger } from "../src/log.js";
import { ChatRegistry } from "../src/runner/chat-registry.js";
import { createEngine } from "../src/runner/engine.js";
import { createSimulatorCredential, simulatorAzureConfig, startSimulator } from "../src/sandbox/index.js";
import { openStore } from "../src/store/open-store.js";
import { ThreadRecorder } from "../test/support/thread-recorder.js";
import { meterAzure } from "./counting-ports.js";
import { median, round } from "./stats.js";
import { asyncStore } from "../src/store/async-sqlite.js";

export interface RotationFigures {
  readonly rotations: number;
  readonly account: string;
  readonly paused: number;
  readonly wallMedianMs: number;
  readonly azureBusyMedianMs: number;
  readonly overheadMedianMs: number;
  readonly overheadMs: number[];
  readonly azureCallsMedian: number;
  readonly azureCalls: Record<string, number>;
}

const person = (name: string, slack: string): Principal => ({
  platform: "console",
  id: `console:${name}`,
  displayName: name,
  identities: [`${name}@contoso.com`, `console:${name}`, `slack:${slack.toLowerCase()}`],
});

export async function benchRotation(opts: { rotations: number }): Promise<RotationFigures> {
  const overhead: number[] = [];
  const wall: number[] = [];
  const busy: number[] = [];
  const calls: number[] = [];
  let lastCalls: Record<string, number> = {};
  let paused = 0;
  // each rotation against a freshly started tenant: with every window at 0 s, a second rotation of
  // the same account starts while its consumers' 401s from the first are still in the metrics, and
  // its cutover gate rightly stops it
  for (let i = 0; wall.length < opts.rotations; i++) {
    if (i >= opts.rotations * 2)
      throw new Error(
        `only ${wall.length} of ${opts.rotations} rotations reached the old key's death (${paused} paused)`,
      );
    const r = await oneRotation(i);
    if (!r) {
      paused++;
      continue;
    }
    wall.push(r.wallMs);
    busy.push(r.busyMs);
    overhead.push(Math.max(0, r.wallMs - r.busyMs));
    calls.push(r.calls);
    lastCalls = r.byPort;
  }
  return {
    rotations: opts.rotations,
    account: ACCOUNT,
    paused,
    wallMedianMs: round(median(wall)),
    azureBusyMedianMs: round(median(busy)),
    overheadMedianMs: round(median(overhead)),
    overheadMs: overhead.map((n) => round(n)),
    azureCallsMedian: median(calls),
    azureCalls: lastCalls,
  };
}

const ACCOUNT = "contoso-translator";

async function oneRotation(
  i: number,
): Promise<{ wallMs: number; busyMs: number; calls: number; byPort: Record<string, number> } | null> {
  const dir = mkdtempSync(join(tmpdir(), "keyturn-bench-rotation-"));
  const sim = await startSimulator({ dataDir: join(dir, "sim"), consumerTickMs: 100 });
  const store = openStore(join(dir, "keyturn.db"));
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
    store: asyncStore(store),
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
    const opened = await engine.service.handleText(
      { principal: alice, channel },
      `rotate ${ACCOUNT} --reason "benchmark ${i + 1}"`,
    );
    const id = /CHG-\d+/.exec(opened.message.text)?.[0];
    if (!id) throw new Error(`no change opened: ${opened.message.text}`);
    await engine.idle();
    const change = store.getChange(id)!;
    await engine.service.handleAction(
      { principal: bob, channel },
      { kind: "approve", changeId: id, planHash: change.plan.hash },
    );
    await engine.idle();
    azure.reset();
    await engine.service.handleAction(
      { principal: carol, channel },
      { kind: "approve", changeId: id, planHash: change.plan.hash },
    );
    const regenIndex = change.plan.steps.findIndex((s) => s.kind === "regenerate_old");
    const done = (e: StoredEvent) =>
      e.type === "step_succeeded" && (e.payload as { index?: number }).index === regenIndex;
    const end = Date.now() + 60_000;
    let events = store.events({ changeId: id });
    while (!events.some(done)) {
      const c = store.getChange(id)!;
      if (c.state === "paused" || Date.now() > end) {
        process.stderr.write(`${id} ${c.state}: ${c.pause?.message ?? "timed out"}\n`);
        return null;
      }
      await new Promise((r) => setTimeout(r, 5));
      events = store.events({ changeId: id });
    }
    // the snapshot at the moment regenerate_old finished: later steps' calls are not on this path
    const busyMs = azure.busyMs();
    const calls = azure.total();
    const byPort = azure.calls();
    const approved = events.filter((e) => e.type === "approved").at(-1)!;
    const finished = events.find(done)!;
    await waitDone(() => store.getChange(id)!);
    return { wallMs: Date.parse(finished.at) - Date.parse(approved.at), busyMs, calls, byPort };
  } finally {
    await engine.stop();
    store.close();
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function waitDone<T extends { state: string }>(get: () => T): Promise<T> {
  const end = Date.now() + 60_000;
  for (;;) {
    const c = get();
    if (
      ["completed", "paused", "rolled_back", "cancelled", "rejected", "expired"].includes(c.state) ||
      Date.now() > end
    )
      return c;
    await new Promise((r) => setTimeout(r, 20));
  }
}
