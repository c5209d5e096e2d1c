/**
 * What Azure's lateness adds to an exposure rotation, from the request to the leaked key dead (the
 * step that regenerates it has its 401 proof). Against a tenant with no delays and against one that is
 * late as Azure is (metrics 2 min, logs 4 min, + up to 30 s, a regenerated key answering 30 s, App
 * Service re-reading daily unless refreshed), with the production policy's exposure windows (1 min
 * propagation) and keyturn's waits learned from the tenant. Every configured duration — Azure's
 * delays, the policy windows, keyturn's ingestion latency, proof bound and backoff — is divided by
 * `scale`, so a run takes seconds; approvals come at once (a person's time is not in the figure).
 * The full-scale estimate multiplies back only the waiting: what the fast run spends outside its
 * (scaled) windows is keyturn's and the Azure calls' own time and is not scaled.
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
import {
  createSimulatorCredential,
  FAST_TIMING,
  scaledTiming,
  simulatorAzureConfig,
  startSimulator,
  type SimTiming,
} from "../src/sandbox/index.js";
import { openStore } from "../src/store/open-store.js";
import { ThreadRecorder } from "../test/support/thread-recorder.js";
import { median, round } from "./stats.js";
import { asyncStore } from "../src/store/async-sqlite.js";

const ACCOUNT = "contoso-translator"; // key1 is the slot its consumers use: --exposure key1 is the active key
const PROOF_BOUND_SECONDS = 120; // DEFAULT_DEAD_KEY_PROOF_SECONDS
const EXPOSURE_PROPAGATION_SECONDS = 60; // the production policy default (src/core/policy.ts)
const EXPOSURE_SOAK_SECONDS = 300;

export interface DelayFigures {
  readonly scale: number;
  readonly rotations: number;
  /** Medians of request → leaked key dead, measured at 1/scale (ms). */
  readonly measuredMs: Record<Variant, { fast: number; delayed: number }>;
  /** Full-scale estimates (s): no delays, Azure's delays, and what the delays add. */
  readonly fullScaleSeconds: Record<Variant, { fast: number; delayed: number; added: number }>;
  /** Where the delayed run's time went, full scale (s), for the staged exposure rotation. */
  readonly breakdown: Record<string, number>;
  readonly goalSeconds: number;
}

type Variant = "exposure" | "kill-now";

const person = (name: string, slack: string): Principal => ({
  platform: "console",
  id: `console:${name}`,
  displayName: name,
  identities: [`${name}@contoso.com`, `console:${name}`, `slack:${slack.toLowerCase()}`],
});

export async function benchDelays(opts: { scale: number; rotations: number }): Promise<DelayFigures> {
  const { scale } = opts;
  if (
    !Number.isInteger(EXPOSURE_PROPAGATION_SECONDS / scale) ||
    !Number.isInteger(EXPOSURE_SOAK_SECONDS / scale)
  )
    throw new Error(`scale ${scale} must divide the policy windows (60 s, 300 s) into whole seconds`);
  const measured = {} as DelayFigures["measuredMs"];
  const full = {} as DelayFigures["fullScaleSeconds"];
  let breakdown: Record<string, number> = {};
  for (const variant of ["exposure", "kill-now"] as const) {
    const fast: Run[] = [];
    const delayed: Run[] = [];
    for (let i = 0; i < opts.rotations; i++) {
      fast.push(await oneRotation(variant, FAST_TIMING, scale));
      delayed.push(await oneRotation(variant, scaledTiming(scale), scale));
    }
    const f = median(fast.map((r) => r.ms));
    const d = median(delayed.map((r) => r.ms));
    measured[variant] = { fast: round(f), delayed: round(d) };
    // the fast run's time outside its scaled windows is not waiting: it stays as measured
    const windowMs = variant === "exposure" ? (EXPOSURE_PROPAGATION_SECONDS * 1000) / scale : 0;
    const ownMs = Math.max(0, f - windowMs);
    const fastFull = (ownMs + windowMs * scale) / 1000;
    const delayedFull = (ownMs + (d - ownMs) * scale) / 1000;
    full[variant] = {
      fast: round(fastFull),
      delayed: round(delayedFull),
      added: round(delayedFull - fastFull),
    };
    if (variant === "exposure") {
      const steps = delayed.map((r) => r.stepMs);
      const of = (k: string) => round((median(steps.map((s) => s[k] ?? 0)) * scale) / 1000);
      breakdown = {
        "move consumers (policy window)": of("move_consumers"),
        "cutover gate (waits for the window's metrics)": of("verify_cutover"),
        "regenerate the leaked key (proof probes until refused)": of("regenerate_old"),
      };
    }
  }
  return {
    scale,
    rotations: opts.rotations,
    measuredMs: measured,
    fullScaleSeconds: full,
    breakdown,
    goalSeconds: 300,
  };
}

interface Run {
  ms: number;
  stepMs: Record<string, number>;
}

async function oneRotation(variant: Variant, timing: SimTiming, scale: number): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), "keyturn-bench-delays-"));
  const sim = await startSimulator({ dataDir: join(dir, "sim"), consumerTickMs: 100, timing });
  const store = openStore(join(dir, "keyturn.db"));
  const logger = createLogger({
    level: "warn",
    destination: new Writable({ write: (_c, _e, cb) => cb() }),
    name: "keyturn-bench",
  });
  const azure = createAzurePorts(
    {
      ...simulatorAzureConfig(sim), // keyturn's ingestion latency: this tenant's delay + jitter
      deadKeyProofSeconds: PROOF_BOUND_SECONDS / scale,
      maxRetryAfterSeconds: 5,
      declaredConsumers: async (id) => store.declaredConsumers(id),
    },
    createSimulatorCredential(),
    logger,
  );
  const base = YAML.parse(
    readFileSync(join(process.cwd(), "src/sandbox/scenarios/default-policy.yaml"), "utf8"),
  ) as { defaults: Record<string, unknown> };
  const policy = parsePolicy({
    ...base,
    defaults: {
      ...base.defaults,
      // policy durations are whole seconds: choose a scale that divides them
      exposurePropagation: `${EXPOSURE_PROPAGATION_SECONDS / scale}s`,
      exposureSoak: `${EXPOSURE_SOAK_SECONDS / scale}s`,
    },
  });
  const chats = new ChatRegistry();
  chats.register(new ThreadRecorder());
  const engine = createEngine({
    store: asyncStore(store),
    azure,
    policy: createPolicyBook(policy),
    chats,
    clock: { now: () => new Date() },
    logger,
    sandbox: true,
    tickMs: 20,
    // the proof's backoff (1, 2, 4, 8 s) is a configured wait too
    sleep: (ms) => new Promise((r) => setTimeout(r, ms / scale)),
  });
  await engine.start();
  const channel = { platform: "console" as const, id: "bench" };
  try {
    const flags = variant === "kill-now" ? "--exposure key1 --kill-now" : "--exposure key1";
    const opened = await engine.service.handleText(
      { principal: person("alice", "U0ALICE"), channel },
      `rotate ${ACCOUNT} ${flags} --reason "bench"`,
    );
    const id = /CHG-\d+/.exec(opened.message.text)?.[0];
    if (!id) throw new Error(`no change opened: ${opened.message.text}`);
    await engine.idle();
    const change = store.getChange(id)!;
    for (const [name, slack] of [
      ["bob", "U0BOB"],
      ["carol", "U0CAROL"],
    ] as const)
      await engine.service.handleAction(
        { principal: person(name, slack), channel },
        { kind: "approve", changeId: id, planHash: change.plan.hash },
      );
    const killIndex = change.plan.steps.findIndex(
      (s) => s.kind === (variant === "kill-now" ? "kill_leaked" : "regenerate_old"),
    );
    const done = (e: StoredEvent) =>
      e.type === "step_succeeded" && (e.payload as { index?: number }).index === killIndex;
    const end = Date.now() + 120_000;
    let events = store.events({ changeId: id });
    while (!events.some(done)) {
      const c = store.getChange(id)!;
      if (c.state === "paused" || Date.now() > end)
        throw new Error(`${id} ${c.state}: ${c.pause?.message ?? "timed out"}`);
      await new Promise((r) => setTimeout(r, 5));
      events = store.events({ changeId: id });
    }
    const requested = Date.parse(events[0]!.at);
    const killed = Date.parse(events.find(done)!.at);
    const steps = store.getChange(id)!.steps;
    const stepMs: Record<string, number> = {};
    for (const s of steps)
      if (s.startedAt && s.finishedAt) stepMs[s.kind] = Date.parse(s.finishedAt) - Date.parse(s.startedAt);
    return { ms: killed - requested, stepMs };
  } finally {
    await engine.stop();
    store.close();
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
