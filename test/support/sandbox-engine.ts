/**
 * keyturn's engine wired to the simulated tenant exactly as production wires it to Azure (real SDK
 * clients over HTTPS), with a SQLite file and a thread recorder as the chat platform.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import YAML from "yaml";
import { createAzurePorts, type AzureConfig } from "../../src/azure/index.js";
import type { Change, Principal } from "../../src/core/domain.js";
import type { ActionRequest, Reply } from "../../src/core/messages.js";
import { knownHoldersOf } from "../../src/core/known-holders.js";
import { createPolicyBook, parsePolicy } from "../../src/core/policy.js";
import type { Store } from "../../src/core/ports.js";
import { createLogger } from "../../src/log.js";
import { ChatRegistry } from "../../src/runner/chat-registry.js";
import { createEngine, type Engine } from "../../src/runner/engine.js";
import {
  createSimulatorCredential,
  simulatorAzureConfig,
  startSimulator,
  type Simulator,
  type SimulatorOptions,
} from "../../src/sandbox/index.js";
import { openStore } from "../../src/store/open-store.js";
import { ThreadRecorder } from "./thread-recorder.js";
import { asyncStore } from "../../src/store/async-sqlite.js";

export const users = {
  alice: person("alice", "Alice Ng", "U0ALICE"),
  bob: person("bob", "Bob Okafor", "U0BOB"),
  carol: person("carol", "Carol Diaz", "U0CAROL"),
  dave: person("dave", "Dave Kim", "U0DAVE"),
  erin: person("erin", "Erin Cho", "U0ERIN"),
};

function person(name: string, displayName: string, slack: string): Principal {
  return {
    platform: "console",
    id: `console:${name}`,
    displayName,
    identities: [`${name}@contoso.com`, `console:${name}`, `slack:${slack.toLowerCase()}`],
  };
}

export interface SandboxEngine {
  readonly dir: string;
  readonly sim: Simulator;
  readonly store: Store;
  readonly engine: Engine;
  readonly chat: ThreadRecorder;
  readonly logText: () => string;
  say(who: Principal, text: string): Promise<Reply>;
  press(who: Principal, action: ActionRequest): Promise<Reply>;
  change(id: string): Change;
  waitFor(id: string, states: Change["state"][], timeoutMs?: number): Promise<Change>;
  close(): Promise<void>;
}

export const fastPolicy = (over: Record<string, unknown> = {}) => {
  const base = YAML.parse(
    readFileSync(new URL("../../src/sandbox/scenarios/default-policy.yaml", import.meta.url), "utf8"),
  );
  return parsePolicy({
    ...base,
    defaults: {
      ...base.defaults,
      propagation: "2s",
      exposurePropagation: "1s",
      soak: "2s",
      exposureSoak: "1s",
      ...over,
    },
  });
};

export async function startSandboxEngine(
  opts: {
    sim?: SimulatorOptions;
    policy?: ReturnType<typeof parsePolicy>;
    version?: string;
    /** Overrides of keyturn's Azure configuration (e.g. the dead-key proof's bound). */
    azure?: Partial<AzureConfig>;
  } = {},
): Promise<SandboxEngine> {
  const dir = mkdtempSync(join(tmpdir(), "keyturn-it-"));
  const sim = await startSimulator({ dataDir: join(dir, "sim"), consumerTickMs: 100, ...opts.sim });
  let logs = "";
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs += chunk.toString();
      cb();
    },
  });
  const logger = createLogger({ level: "debug", destination: sink, name: "keyturn-test" });
  const store = openStore(join(dir, "keyturn.db"));
  const azure = createAzurePorts(
    {
      ...simulatorAzureConfig(sim),
      maxRetryAfterSeconds: 5,
      requestTimeoutMs: 1500,
      declaredConsumers: async (id) => store.declaredConsumers(id),
      knownHolders: (id) => knownHoldersOf(asyncStore(store), id),
      ...opts.azure,
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
    policy: createPolicyBook(opts.policy ?? fastPolicy()),
    chats,
    clock: { now: () => new Date() },
    logger,
    sandbox: true,
    tickMs: 100,
    sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 200))),
    retryDelaySeconds: 2,
    ...(opts.version ? { version: opts.version } : {}),
  });
  await engine.start();
  const channel = { platform: "console" as const, id: "incident" };
  return {
    dir,
    sim,
    store,
    engine,
    chat,
    logText: () => logs,
    say: (who, text) => engine.service.handleText({ principal: who, channel }, text),
    press: (who, action) => engine.service.handleAction({ principal: who, channel }, action),
    change: (id) => {
      const c = store.getChange(id);
      if (!c) throw new Error(`no ${id}`);
      return c;
    },
    async waitFor(id, states, timeoutMs = 60_000) {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const c = store.getChange(id);
        if (c && states.includes(c.state)) {
          await engine.idle();
          return store.getChange(id)!;
        }
        if (Date.now() > end)
          throw new Error(
            `${id} is ${c?.state ?? "missing"} (step ${c?.currentStep}), not ${states.join("/")}: ${c?.pause?.message ?? ""}`,
          );
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async close() {
      await engine.stop();
      store.close();
      await sim.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
