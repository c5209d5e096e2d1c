/**
 * Start to ready on a built tree: `node dist/src/cli.js start` and `npm start` (which first checks
 * the build is up to date), each with the sandbox tenant and a fresh data directory, timed from the
 * spawn to the "keyturn ready on" line. Also the program's resident set once ready.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { elapsedMs, median, round } from "./stats.js";

export interface StartFigures {
  readonly runs: number;
  /** Median and each run, ms. */
  readonly nodeMedianMs: number;
  readonly nodeMs: readonly number[];
  readonly npmMedianMs: number;
  readonly npmMs: readonly number[];
  /** The program's resident set when it said ready (sandbox tenant in the same process), MiB. */
  readonly readyRssMiB: number;
}

const rssMiB = (pid: number): number => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
};

async function once(command: string, args: string[]): Promise<{ ms: number; rssMiB: number }> {
  const dir = mkdtempSync(join(tmpdir(), "keyturn-bench-start-"));
  const t0 = process.hrtime.bigint();
  // its own process group: npm start runs keyturn as a grandchild, stopped with the group
  const child = spawn(command, args, {
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "",
      PORT: "0",
      LOG_LEVEL: "warn",
      KEYTURN_CONSOLE: "off",
      KEYTURN_SANDBOX: "1",
      KEYTURN_DATA_DIR: dir,
    },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let out = "";
  try {
    const ms = await new Promise<number>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`keyturn did not start in 120 s:\n${out}`)), 120_000);
      child.stderr.on("data", (d: Buffer) => (out += d.toString()));
      child.stdout.on("data", (d: Buffer) => {
        out += d.toString();
        if (/keyturn ready on/.test(out)) {
          clearTimeout(t);
          resolve(elapsedMs(t0));
        }
      });
      child.once("exit", (c) => reject(new Error(`keyturn exited with ${c}:\n${out}`)));
    });
    // the program itself: the newest process of the group that runs dist/src/cli.js
    const pid = command === process.execPath ? child.pid! : programPid(child.pid!);
    return { ms, rssMiB: rssMiB(pid) };
  } finally {
    const exited = new Promise((r) => child.once("exit", r));
    // the whole group (npm, sh, keyturn); it may have gone already
    const signal = (s: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, s);
      } catch {
        // no process left in the group
      }
    };
    if (child.exitCode === null) signal("SIGTERM");
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    if (child.exitCode === null) signal("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The process in `pgid`'s group whose command line runs the built cli (npm → sh → node). */
function programPid(pgid: number): number {
  for (const p of readdirSync("/proc")) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const stat = readFileSync(`/proc/${p}/stat`, "utf8");
      const group = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]);
      const cmd = readFileSync(`/proc/${p}/cmdline`, "utf8");
      if (group === pgid && cmd.includes("dist/src/cli.js")) return Number(p);
    } catch {
      // a process that ended while the table was read
    }
  }
  return pgid;
}

export async function benchStart(opts: { runs: number }): Promise<StartFigures> {
  const nodeRuns: { ms: number; rssMiB: number }[] = [];
  const npmRuns: { ms: number; rssMiB: number }[] = [];
  for (let i = 0; i < opts.runs; i++) {
    nodeRuns.push(await once(process.execPath, ["dist/src/cli.js", "start"]));
    npmRuns.push(await once("npm", ["start", "--silent"]));
  }
  return {
    runs: opts.runs,
    nodeMedianMs: round(median(nodeRuns.map((r) => r.ms)), 0),
    nodeMs: nodeRuns.map((r) => round(r.ms, 0)),
    npmMedianMs: round(median(npmRuns.map((r) => r.ms)), 0),
    npmMs: npmRuns.map((r) => round(r.ms, 0)),
    readyRssMiB: median(nodeRuns.map((r) => r.rssMiB)),
  };
}

if (process.argv[1]?.endsWith("start-bench.js"))
  process.stdout.write(JSON.stringify(await benchStart({ runs: 3 })) + "\n");
