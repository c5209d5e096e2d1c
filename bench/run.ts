/**
 * `npm run bench`: figures, not pass/fail. Slack acknowledgement latency, list/inventory scale
 * against ARM's throttling, the rotation's own overhead, and the store.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, totalmem, tmpdir } from "node:os";
import { join } from "node:path";
import { createAzurePorts } from "../src/azure/index.js";
import type { Change } from "../src/core/domain.js";
import { createPolicyBook, parsePolicy } from "../src/core/policy.js";
import { createLogger } from "../src/log.js";
import { ChatRegistry } from "../src/runner/chat-registry.js";
import { createEngine } from "../src/runner/engine.js";
import { createSimulatorCredential, generateScenario, startSimulator } from "../src/sandbox/index.js";
import { openStore } from "../src/store/open-store.js";
import { FakeSlack } from "../test/fakes/slack-api.js";
import { sign, slashCommand } from "../test/fakes/slack-sign.js";
import { ThreadRecorder } from "../test/support/thread-recorder.js";

const rows: [string, string][] = [];
const report = (name: string, value: string) => {
  rows.push([name, value]);
  process.stdout.write(`${name.padEnd(58)} ${value}\n`);
};
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const silent = createLogger({ level: "silent" });

async function slackAck(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "keyturn-bench-"));
  const slack = await new FakeSlack().start();
  const secret = "bench-signing-secret";
  const child = spawn(process.execPath, ["dist/src/cli.js", "start"], {
    env: {
      PATH: process.env.PATH ?? "",
      PORT: "0",
      KEYTURN_DATA_DIR: dir,
      KEYTURN_CONSOLE: "off",
      LOG_LEVEL: "warn",
      SLACK_BOT_TOKEN: "xoxb-bench",
      SLACK_SIGNING_SECRET: secret,
      SLACK_API_URL: slack.apiUrl,
      SLACK_BOT_USER_ID: "U0KEYTURN",
      SLACK_TEAM_ID: "T0CONTOSO",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /keyturn ready on (\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once("exit", () => reject(new Error(out)));
  });
  const one = async (i: number) => {
    const body = slashCommand({
      user: "U0ERIN",
      channel: "C0BENCH",
      text: i % 2 ? "help" : "status contoso-translator",
      responseUrl: slack.responseUrl(`b${i}`),
    });
    const t0 = performance.now();
    const r = await fetch(`${url}/slack/events`, { method: "POST", headers: sign(secret, body), body });
    await r.text();
    return { ms: performance.now() - t0, ok: r.status < 300 };
  };
  const results = await Promise.all(Array.from({ length: 200 }, (_, i) => one(i)));
  const ms = results.map((r) => r.ms);
  report("Slack ack, 200 concurrent signed slash commands: p50", `${pct(ms, 50).toFixed(1)} ms`);
  report("Slack ack: p99", `${pct(ms, 99).toFixed(1)} ms`);
  report("Slack ack: non-2xx answers", String(results.filter((r) => !r.ok).length));
  child.kill("SIGTERM");
  await slack.stop();
  rmSync(dir, { recursive: true, force: true });
}

async function scale(): Promise<void> {
  const subs = 20;
  const per = 250;
  const sim = await startSimulator({
    scenario: generateScenario({ subscriptions: subs, accountsPerSubscription: per }),
    armLatencyMs: 50,
    throttle: true,
    consumers: false,
  });
  const azure = createAzurePorts(
    {
      subscriptionIds: sim.subscriptionIds,
      vaultUrls: Object.values(sim.vaultUrls),
      armEndpoint: sim.armEndpoint,
      caPem: sim.caPem,
      disableChallengeResourceVerification: true,
      maxRetryAfterSeconds: 30,
    },
    createSimulatorCredential(),
    silent,
  );
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
  let t0 = performance.now();
  const accounts = await azure.accounts.listAccounts();
  const listMs = performance.now() - t0;
  // per subscription: ceil(250/100) pages, sequential, each 50 ms; subscriptions in parallel; no bucket is exhausted
  const listMin = Math.ceil(per / 100) * 50;
  report(
    `list: ${accounts.length} accounts over ${subs} subscriptions (50 ms ARM latency)`,
    `${listMs.toFixed(0)} ms (minimum ${listMin} ms, ratio ${(listMs / listMin).toFixed(2)})`,
  );
  const sample = accounts.filter((_, i) => i % 10 === 0);
  t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < sample.length) {
        const a = sample[next++]!;
        await azure.inventory.take(a).catch(() => undefined);
      }
    }),
  );
  const invMs = performance.now() - t0;
  const counts = sim.admin.requestCounts();
  const perSub = Object.values(counts);
  const worst = Math.max(...perSub.map((c) => Math.max((c.reads - 250) / 25, (c.writes - 200) / 10, 0)));
  const minInv = Math.max(worst * 1000, (sample.length / 16) * 50 * 4);
  report(
    `inventory of ${sample.length} accounts (16 at a time, buckets enforced)`,
    `${invMs.toFixed(0)} ms (bucket/latency minimum ≈ ${minInv.toFixed(0)} ms, ratio ${(invMs / minInv).toFixed(2)})`,
  );
  clearInterval(sampler);
  report("peak RSS during list + inventory", `${(peak / 1048576).toFixed(0)} MiB`);
  await sim.close();
}

async function rotationOverhead(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "keyturn-bench-"));
  const sim = await startSimulator({ dataDir: join(dir, "sim"), consumerTickMs: 1000 });
  const store = openStore(join(dir, "keyturn.db"));
  const azure = createAzurePorts(
    {
      subscriptionIds: sim.subscriptionIds,
      vaultUrls: Object.values(sim.vaultUrls),
      armEndpoint: sim.armEndpoint,
      caPem: sim.caPem,
      disableChallengeResourceVerification: true,
    },
    createSimulatorCredential(),
    silent,
  );
  const chats = new ChatRegistry();
  chats.register(new ThreadRecorder());
  const policy = parsePolicy({
    defaults: {
      approvers: ["bob@contoso.com"],
      propagation: "0s",
      exposurePropagation: "0s",
      soak: "0s",
      exposureSoak: "0s",
    },
  });
  const engine = createEngine({
    store,
    azure,
    policy: createPolicyBook(policy),
    chats,
    clock: { now: () => new Date() },
    logger: silent,
    sandbox: true,
    tickMs: 5,
    sleep: async () => undefined,
  });
  await engine.start();
  const who = (n: string) => ({
    platform: "console" as const,
    id: `console:${n}`,
    displayName: n,
    identities: [`${n}@contoso.com`],
  });
  const channel = { platform: "console" as const, id: "bench" };
  const times: number[] = [];
  for (let i = 0; i < 6; i++) {
    await engine.service.handleText(
      { principal: who("alice"), channel },
      'rotate contoso-translator --reason "bench"',
    );
    const id = store.listChanges({ open: true })[0]!.id;
    const t0 = performance.now();
    await engine.service.handleAction(
      { principal: who("bob"), channel },
      { kind: "approve", changeId: id, planHash: store.getChange(id)!.plan.hash },
    );
    let c: Change | undefined;
    for (;;) {
      c = store.getChange(id);
      if (c?.steps.some((s) => s.kind === "regenerate_old" && s.finishedAt) || c?.state === "paused") break;
      await new Promise((r) => setTimeout(r, 2));
    }
    if (c?.state === "paused") {
      report("rotation: paused (not measured)", c.pause?.message ?? "");
      return;
    }
    times.push(performance.now() - t0);
    while (!["completed", "paused"].includes(store.getChange(id)!.state))
      await new Promise((r) => setTimeout(r, 5));
  }
  report(
    "rotation: final approval → old key dead (windows 0 s), median of 6",
    `${pct(times, 50).toFixed(0)} ms`,
  );
  await engine.stop();
  store.close();
  await sim.close();
  rmSync(dir, { recursive: true, force: true });
}

function storeBench(): void {
  const dir = mkdtempSync(join(tmpdir(), "keyturn-bench-"));
  const store = openStore(join(dir, "keyturn.db"));
  const ev = (i: number) => ({
    changeId: `CHG-${i % 100}`,
    type: "step_succeeded",
    at: new Date().toISOString(),
    actor: "keyturn",
    payload: { index: i % 8, note: "fingerprint sha256:0123456789ab" },
  });
  let t0 = performance.now();
  for (let i = 0; i < 5000; i++) store.commit(null, [ev(i)]);
  report(
    "store: single-event commits per second (file, WAL, synchronous=FULL)",
    `${(5000 / ((performance.now() - t0) / 1000)).toFixed(0)}`,
  );
  t0 = performance.now();
  const batch = Array.from({ length: 1000 }, (_, i) => ev(i));
  for (let i = 0; i < 995; i++) store.commit(null, batch);
  report(
    "store: build a 1,000,000-event chain (1,000-event commits)",
    `${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  t0 = performance.now();
  const r = store.verify();
  report(
    `store: verify the chain of ${r.events} events`,
    `${((performance.now() - t0) / 1000).toFixed(1)} s (${r.ok ? "ok" : "FAILED"})`,
  );
  store.close();
  rmSync(dir, { recursive: true, force: true });
}

process.stdout.write(
  `keyturn benchmarks — ${cpus()[0]?.model ?? "cpu"} × ${cpus().length}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}\n\n`,
);
await slackAck();
await rotationOverhead();
await scale();
storeBench();
process.exit(0);
