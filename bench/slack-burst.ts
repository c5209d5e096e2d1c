/**
 * The pieces of the Slack acknowledgement benchmark: a burst of correctly signed slash commands
 * timed from the request to the HTTP answer, and the floor it is read against — a do-nothing Node
 * HTTP server in its own process, hit by the same client in the same run.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import type { FakeSlack } from "../test/fakes/slack-api.js";
import { sign, slashCommand } from "../test/fakes/slack-sign.js";
import { type RunningProgram, spawnKeyturn, stopChild } from "../test/support/spawn-keyturn.js";
import { elapsedMs, percentile, round } from "./stats.js";

export interface BurstFigures {
  readonly requests: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly non2xx: number;
  /** Answers carried by the acknowledgement itself (Slack shows its body as the reply). */
  readonly answeredInAck: number;
}

export const BENCH_USERS = ["U0ALICE", "U0BOB", "U0CAROL", "U0DAVE", "U0ERIN"] as const;

/** `status` (an inventory behind the ack) and `help` (answerable at once), alternating. */
export const benchText = (i: number): string => (i % 2 ? "help" : "status contoso-translator");

/** Fires `bodies` at once at `url` and times each answer (read to its end). */
export async function fire(url: string, bodies: readonly string[], secret: string): Promise<BurstFigures> {
  const post = async (body: string): Promise<{ ms: number; status: number; answered: boolean }> => {
    const t0 = process.hrtime.bigint();
    const r = await fetch(url, { method: "POST", headers: sign(secret, body), body });
    const text = await r.text();
    return { ms: elapsedMs(t0), status: r.status, answered: text.includes('"blocks"') };
  };
  const results = await Promise.all(bodies.map(post));
  const ms = results.map((r) => r.ms);
  return {
    requests: bodies.length,
    p50Ms: round(percentile(ms, 50)),
    p99Ms: round(percentile(ms, 99)),
    maxMs: round(Math.max(...ms)),
    non2xx: results.filter((r) => r.status < 200 || r.status > 299).length,
    answeredInAck: results.filter((r) => r.answered).length,
  };
}

/** `n` slash commands whose replies (if any go to response_url) are filed under `${prefix}${i}`. */
export const commandBodies = (slack: FakeSlack, n: number, prefix: string): string[] =>
  Array.from({ length: n }, (_, i) =>
    slashCommand({
      user: BENCH_USERS[i % BENCH_USERS.length]!,
      channel: "C0BENCH",
      text: benchText(i),
      responseUrl: slack.responseUrl(`${prefix}${i}`),
    }),
  );

/** A Node HTTP server that reads the request and answers 200 with nothing: the floor. */
export interface Floor {
  readonly url: string;
  readonly pid: number | undefined;
  stop(): Promise<void>;
}

const FLOOR_SOURCE = `
const http = require("node:http");
const server = http.createServer((req, res) => {
  req.resume();
  req.on("end", () => res.end());
});
server.listen(0, "127.0.0.1", () => process.stdout.write("floor on " + server.address().port + "\\n"));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
`;

export async function startFloor(): Promise<Floor> {
  const child: ChildProcess = spawn(process.execPath, ["-e", FLOOR_SOURCE], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /floor on (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once("exit", (c) => reject(new Error(`the floor server exited with ${c}`)));
  });
  return { url: `http://127.0.0.1:${port}/slack/events`, pid: child.pid, stop: () => stopChild(child) };
}

/** Waits up to `ms` for every reply under `prefix` that went to response_url (an ack may carry it instead). */
export async function repliesFor(slack: FakeSlack, prefix: string, expected: number, ms = 15_000) {
  const count = () => slack.responses.filter((r) => r.id.startsWith(prefix)).length;
  const end = Date.now() + ms;
  while (Date.now() < end && count() < expected) await new Promise((r) => setTimeout(r, 100));
  return count();
}

/**
 * The built program started as `node <nodeFlags> dist/src/cli.js start` (as `npm start` and the
 * container image run it), ready; without flags exactly as the tests start it.
 */
export async function startKeyturnWith(
  nodeFlags: readonly string[],
  env: Record<string, string>,
  timeoutMs = 60_000,
): Promise<RunningProgram> {
  return spawnKeyturn(env, timeoutMs, nodeFlags);
}

/** The node flags `npm start` runs keyturn with (package.json's "start" script), e.g. ["--optimize-for-size"]. */
export function startScriptNodeFlags(packageJson: string): string[] {
  const pkg = JSON.parse(packageJson) as { scripts?: Record<string, string> };
  const m = /\bnode((?:\s+--[\w-]+(?:=\S+)?)*)\s+dist\/src\/cli\.js\s+start\b/.exec(pkg.scripts?.start ?? "");
  return m ? m[1]!.trim().split(/\s+/).filter(Boolean) : [];
}

/** A process's CPU time so far (user + system), ms; null where /proc is not there. */
export function cpuMs(pid: number | undefined): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // fields after the command name (which may hold spaces): utime is the 14th field, stime the 15th
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
  } catch {
    return null;
  }
}
