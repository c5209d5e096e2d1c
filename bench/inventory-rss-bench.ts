/**
 * Memory with Azure out of process: a standalone simulated tenant of 5,000 accounts (20
 * subscriptions × 250, ARM's token buckets on, 50 ms a request) in one process, keyturn in another
 * (`inventory-rss-child.ts`: the whole program, `list` then an `inventory` of every account). Each
 * process's peak resident set is its own (VmHWM from /proc), so keyturn's figure holds nothing of the
 * simulator's.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateScenario } from "../src/sandbox/index.js";
import { startSimProcess } from "./sim-process.js";
import { startScriptNodeFlags } from "./slack-burst.js";

export interface InventoryRssFigures {
  readonly nodeFlags: readonly string[];
  readonly accounts: number;
  readonly concurrency: number;
  readonly seconds: number;
  readonly failed: number;
  /** keyturn's own peak resident set (VmHWM), MiB. */
  readonly keyturnPeakRssMiB: number;
  /** keyturn's resident set once `list` had answered, MiB. */
  readonly keyturnAfterListMiB: number;
  /** keyturn's resident set once started, before any command, MiB. */
  readonly keyturnReadyMiB: number;
  readonly simulatorPeakRssMiB: number;
}

export async function benchInventoryRss(opts: {
  subscriptions: number;
  accountsPerSubscription: number;
  concurrency: number;
  /** V8 flags for keyturn's process, e.g. ["--optimize-for-size"]. */
  nodeFlags?: readonly string[];
}): Promise<InventoryRssFigures> {
  const dir = mkdtempSync(join(tmpdir(), "keyturn-bench-rss-"));
  const scenario = generateScenario({
    subscriptions: opts.subscriptions,
    accountsPerSubscription: opts.accountsPerSubscription,
    seed: 7,
  });
  const scenarioFile = join(dir, "scenario.json");
  writeFileSync(scenarioFile, JSON.stringify(scenario));
  const sim = await startSimProcess([
    "--data-dir",
    join(dir, "sim"),
    "--scenario",
    scenarioFile,
    "--no-consumers",
    "--throttle",
    "--arm-latency-ms",
    "50",
  ]);
  try {
    // subscriptions taken in turn, as a fleet scan would: each has its own token buckets
    const bySub = new Map<string, string[]>();
    for (const a of scenario.accounts)
      bySub.set(a.subscription, [
        ...(bySub.get(a.subscription) ?? []),
        `${a.subscription}/${a.resourceGroup}/${a.name}`,
      ]);
    const accounts: string[] = [];
    for (let i = 0; accounts.length < scenario.accounts.length; i++)
      for (const list of bySub.values()) if (list[i]) accounts.push(list[i]!);
    const jobFile = join(dir, "job.json");
    writeFileSync(jobFile, JSON.stringify({ accounts, concurrency: opts.concurrency }));
    const child = spawn(
      process.execPath,
      [...(opts.nodeFlags ?? []), "dist/bench/inventory-rss-child.js", jobFile],
      {
        env: {
          PATH: process.env.PATH ?? "",
          HOME: process.env.HOME ?? "",
          PORT: "0",
          LOG_LEVEL: "error",
          KEYTURN_CONSOLE: "off",
          KEYTURN_DATA_DIR: join(dir, "data"),
          KEYTURN_POLICY_FILE: new URL("../../src/sandbox/scenarios/default-policy.yaml", import.meta.url)
            .pathname,
          ...sim.env,
        },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((r) => child.once("exit", r));
    const line = out.split("\n").find((l) => l.startsWith("{"));
    if (code !== 0 || !line)
      throw new Error(
        `the keyturn side of the memory benchmark failed (${code}):\n${out}\n${err.slice(-4000)}`,
      );
    const k = JSON.parse(line) as {
      failed: number;
      seconds: number;
      hwmMiB: number;
      afterListMiB: number;
      readyMiB: number;
    };
    return {
      nodeFlags: opts.nodeFlags ?? [],
      accounts: accounts.length,
      concurrency: opts.concurrency,
      seconds: Math.round(k.seconds * 10) / 10,
      failed: k.failed,
      keyturnPeakRssMiB: k.hwmMiB,
      keyturnAfterListMiB: k.afterListMiB,
      keyturnReadyMiB: k.readyMiB,
      simulatorPeakRssMiB: sim.peakRssMiB(),
    };
  } finally {
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1]?.endsWith("inventory-rss-bench.js")) {
  const quick = process.env.BENCH_QUICK === "1";
  // --as-npm-start: keyturn runs with the node flags of package.json's "start" script (as it is
  // started by default); --node-flags "<flags>": those; neither: plain `node`
  const at = process.argv.indexOf("--node-flags");
  const nodeFlags = process.argv.includes("--as-npm-start")
    ? startScriptNodeFlags(readFileSync("package.json", "utf8"))
    : at > 0
      ? (process.argv[at + 1] ?? "").split(/\s+/).filter(Boolean)
      : [];
  process.stdout.write(
    JSON.stringify(
      await benchInventoryRss({
        subscriptions: quick ? 4 : 20,
        accountsPerSubscription: quick ? 50 : 250,
        concurrency: 64,
        nodeFlags,
      }),
    ) + "\n",
  );
}
