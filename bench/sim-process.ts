/**
 * The standalone simulated tenant as a child process for the benchmarks (`dist/src/sandbox/standalone.js`),
 * started with the flags a benchmark asks for (no state file unless asked: a tenant of thousands of
 * accounts would be rewritten to disk on every change), and the environment that points keyturn at it.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { stopChild } from "../test/support/spawn-keyturn.js";

export interface SimProcess {
  readonly child: ChildProcess;
  /** AZURE_* and latency settings for keyturn, as the simulator printed them. */
  readonly env: Record<string, string>;
  /** The process's peak resident set so far (VmHWM), MiB. */
  peakRssMiB(): number;
  stop(): Promise<void>;
}

export async function startSimProcess(args: readonly string[]): Promise<SimProcess> {
  const child = spawn(process.execPath, ["dist/src/sandbox/standalone.js", "--timing", "fast", ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`simulator did not start:\n${out}`)), 60_000);
    child.stdout.on("data", () => {
      if (/simulator ready on/.test(out)) {
        clearTimeout(t);
        resolve();
      }
    });
    child.once("exit", (c) => reject(new Error(`simulator exited ${c}:\n${out}`)));
  });
  const printed: Record<string, string> = {};
  for (const m of out.matchAll(/^\s+([A-Z_]+)=(\S+)$/gm)) printed[m[1]!] = m[2]!;
  return {
    child,
    env: { ...printed, AZURE_CREDENTIAL: "simulator" },
    peakRssMiB() {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"));
      return m ? Math.round(Number(m[1]) / 1024) : NaN;
    },
    stop: () => stopChild(child),
  };
}
