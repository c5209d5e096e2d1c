/**
 * Slack gives a slash command 3 s for its HTTP answer. This fires correctly signed slash commands at
 * once at the built program (child process, loopback) and times each answer — beside a do-nothing
 * Node HTTP server hit by the same client in the same run (the floor: what the client and the
 * machine cost by themselves). Two set-ups: the simulated tenant in its own process (standalone
 * simulator, as Azure would be), and the sandbox in keyturn's process.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { FakeSlack } from "../test/fakes/slack-api.js";
import { sign, slashCommand } from "../test/fakes/slack-sign.js";
import { azureEnv, startStandaloneSimulator, type StandaloneSimulator } from "../test/support/chaos-kit.js";
import {
  BENCH_USERS,
  benchText,
  type BurstFigures,
  commandBodies,
  cpuMs,
  fire,
  repliesFor,
  startFloor,
  startKeyturnWith,
  startScriptNodeFlags,
} from "./slack-burst.js";
import { elapsedMs, percentile, round } from "./stats.js";

export type AckSetup = "azure-out-of-process" | "sandbox-in-process";

export interface AckBurst {
  readonly requests: number;
  readonly floor: BurstFigures;
  readonly keyturn: BurstFigures;
  /** keyturn ÷ floor. */
  readonly ratioP50: number;
  readonly ratioP99: number;
  /** Commands answered (in the acknowledgement, or on response_url within 15 s). */
  readonly replies: number;
  /**
   * keyturn's CPU time (user + system, /proc, 10 ms ticks) from the burst to its last acknowledgement,
   * per request: what one acknowledgement costs, whatever else the machine runs.
   */
  readonly keyturnCpuMsPerAck: number | null;
  /** The same for the do-nothing server, over its own burst. */
  readonly floorCpuMsPerAck: number | null;
}

export interface SlackAckFigures {
  readonly setup: AckSetup;
  readonly bursts: readonly AckBurst[];
  /** The same commands one at a time: what a single user waits for on an idle bot. */
  readonly aloneP50Ms: number;
  /** The machine's 1-minute load average before and after: other work on it moves every figure. */
  readonly loadAverage: readonly [number, number];
  /** Node flags keyturn ran with (none: `node dist/src/cli.js start`). */
  readonly nodeFlags: readonly string[];
}

export async function benchSlackAck(opts: {
  setup: AckSetup;
  sizes: readonly number[];
  nodeFlags?: readonly string[];
}): Promise<SlackAckFigures> {
  const nodeFlags = opts.nodeFlags ?? [];
  const load0 = round(loadavg()[0]!, 1);
  const dir = mkdtempSync(join(tmpdir(), "keyturn-bench-slack-"));
  const secret = "bench-signing-secret";
  const slack = await new FakeSlack().start();
  const floor = await startFloor();
  let sim: StandaloneSimulator | null = null;
  try {
    if (opts.setup === "azure-out-of-process") sim = await startStandaloneSimulator(dir);
    const kt = await startKeyturnWith(nodeFlags, {
      KEYTURN_DATA_DIR: join(dir, "data"),
      LOG_LEVEL: "warn",
      SLACK_BOT_TOKEN: "xoxb-bench",
      SLACK_SIGNING_SECRET: secret,
      SLACK_API_URL: slack.apiUrl,
      SLACK_BOT_USER_ID: "U0KEYTURN",
      SLACK_TEAM_ID: "T0CONTOSO",
      ...(sim
        ? {
            ...azureEnv(sim),
            KEYTURN_POLICY_FILE: new URL("../../src/sandbox/scenarios/default-policy.yaml", import.meta.url)
              .pathname,
          }
        : { KEYTURN_SANDBOX: "1" }),
    });
    const url = `${kt.url}/slack/events`;
    try {
      // warm-up: module loading, the account list, each user's identity
      await fire(url, commandBodies(slack, BENCH_USERS.length * 2, "warm"), secret);
      await fire(floor.url, commandBodies(slack, BENCH_USERS.length * 2, "floorwarm"), secret);
      await repliesFor(slack, "warm", BENCH_USERS.length, 15_000);

      const alone: number[] = [];
      for (let i = 0; i < 20; i++) {
        const body = slashCommand({
          user: BENCH_USERS[i % BENCH_USERS.length]!,
          channel: "C0BENCH",
          text: benchText(i),
          responseUrl: slack.responseUrl(`alone${i}`),
        });
        const t0 = process.hrtime.bigint();
        const r = await fetch(url, { method: "POST", headers: sign(secret, body), body });
        const answered = (await r.text()).includes('"blocks"');
        alone.push(elapsedMs(t0));
        // the reply follows the acknowledgement: wait for it so the next command meets an idle bot
        if (!answered) await repliesFor(slack, `alone${i}`, 1, 5_000);
      }

      const bursts: AckBurst[] = [];
      for (const [k, n] of opts.sizes.entries()) {
        const f0 = cpuMs(floor.pid);
        const floorFigures = await fire(floor.url, commandBodies(slack, n, `floor${k}-`), secret);
        const f1 = cpuMs(floor.pid);
        const prefix = `burst${k}-`;
        const cpu0 = cpuMs(kt.child.pid);
        const figures = await fire(url, commandBodies(slack, n, prefix), secret);
        const cpu1 = cpuMs(kt.child.pid);
        const onUrl = await repliesFor(slack, prefix, n - figures.answeredInAck, 15_000);
        bursts.push({
          requests: n,
          floor: floorFigures,
          keyturn: figures,
          ratioP50: round(figures.p50Ms / floorFigures.p50Ms, 2),
          ratioP99: round(figures.p99Ms / floorFigures.p99Ms, 2),
          replies: onUrl + figures.answeredInAck,
          keyturnCpuMsPerAck: cpu0 === null || cpu1 === null ? null : round((cpu1 - cpu0) / n, 2),
          floorCpuMsPerAck: f0 === null || f1 === null ? null : round((f1 - f0) / n, 2),
        });
      }
      return {
        setup: opts.setup,
        bursts,
        aloneP50Ms: round(percentile(alone, 50)),
        loadAverage: [load0, round(loadavg()[0]!, 1)],
        nodeFlags,
      };
    } finally {
      await kt.stop();
    }
  } finally {
    await sim?.stop();
    await floor.stop();
    await slack.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1]?.endsWith("slack-ack-bench.js")) {
  const setups: AckSetup[] = process.argv.includes("--in-process")
    ? ["sandbox-in-process"]
    : process.argv.includes("--out-of-process")
      ? ["azure-out-of-process"]
      : ["azure-out-of-process", "sandbox-in-process"];
  // --as-npm-start: keyturn runs with the node flags of package.json's "start" script
  const nodeFlags = process.argv.includes("--as-npm-start")
    ? startScriptNodeFlags(readFileSync("package.json", "utf8"))
    : [];
  for (const setup of setups)
    process.stdout.write(
      JSON.stringify(await benchSlackAck({ setup, sizes: [200, 20], nodeFlags }), null, 1) + "\n",
    );
}
