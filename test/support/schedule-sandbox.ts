/**
 * keyturn's engine against the in-process simulated tenant (real SDK clients over HTTPS), with a clock
 * that can be moved ahead: `skip(ms)` jumps keyturn's time forward, and rotations then run in real
 * time from there (the simulated tenant keeps Azure's own time, as a real one would).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAzurePorts } from "../../src/azure/index.js";
import { knownHoldersOf } from "../../src/core/known-holders.js";
import type { Policy } from "../../src/core/policy.js";
import { createPolicyBook } from "../../src/core/policy.js";
import type { Store } from "../../src/core/ports.js";
import { createLogger } from "../../src/log.js";
import { ChatRegistry } from "../../src/runner/chat-registry.js";
import { createEngine, type Engine } from "../../src/runner/engine.js";
import {
  createSimulatorCredential,
  simulatorAzureConfig,
  startSimulator,
  type Simulator,
} from "../../src/sandbox/index.js";
import { openStore } from "../../src/store/open-store.js";
import { ThreadRecorder } from "./thread-recorder.js";
import { asyncStore } from "../../src/store/async-sqlite.js";

export interface ScheduleSandbox {
  readonly sim: Simulator;
  readonly store: Store;
  readonly engine: Engine;
  readonly chat: ThreadRecorder;
  /** keyturn's time now. */
  now(): Date;
  /** Moves keyturn's time to `iso` (never backwards). */
  skipTo(iso: string): void;
  close(): Promise<void>;
}

export async function startScheduleSandbox(policy: Policy): Promise<ScheduleSandbox> {
  const dir = mkdtempSync(join(tmpdir(), "keyturn-sched-"));
  const sim = await startSimulator({ dataDir: join(dir, "sim"), consumerTickMs: 100 });
  const logger = createLogger({ level: "warn", name: "keyturn-test" });
  const store = openStore(join(dir, "keyturn.db"));
  let offset = 0;
  const clock = { now: () => new Date(Date.now() + offset) };
  const azure = createAzurePorts(
    {
      ...simulatorAzureConfig(sim),
      maxRetryAfterSeconds: 5,
      requestTimeoutMs: 1500,
      declaredConsumers: async (id) => store.declaredConsumers(id),
      knownHolders: (id) => knownHoldersOf(asyncStore(store), id),
    },
    createSimulatorCredential(),
    logger,
  );
  const chats = new ChatRegistry();
  const chat = new ThreadRecorder();
  chats.register(chat);
  const engine = createEngine({
    store: asyncStore(store),
    azure,
    policy: createPolicyBook(policy),
    chats,
    clock,
    logger,
    sandbox: true,
    tickMs: 100,
    sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 200))),
    retryDelaySeconds: 2,
    scheduleChannel: { platform: "console", id: "rotations" },
  });
  await engine.start();
  return {
    sim,
    store,
    engine,
    chat,
    now: clock.now,
    skipTo(iso) {
      offset = Math.max(offset, Date.parse(iso) - Date.now());
    },
    async close() {
      await engine.stop();
      store.close();
      await sim.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
