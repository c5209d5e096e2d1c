/**
 * The built keyturn under a host name of its own (a UTS namespace: root only, as CI runs), as a
 * replica on another machine: a standby there cannot see the runner's pid.
 */
import { spawn } from "node:child_process";
import { stopChild, type RunningProgram } from "./spawn-keyturn.js";

/** The built keyturn in its own UTS namespace, under `host` (as on another machine). */
export async function spawnOnHost(
  host: string,
  env: Record<string, string>,
  timeoutMs = 60_000,
): Promise<RunningProgram> {
  // unshare and sh exec in place: the child's pid is keyturn's own (signals reach it directly)
  const child = spawn(
    "unshare",
    ["--uts", "sh", "-c", 'hostname "$1" && exec "$0" dist/src/cli.js start', process.execPath, host],
    {
      env: {
        PATH: process.env.PATH ?? "",
        HOME: process.env.HOME ?? "",
        PORT: "0",
        KEYTURN_CONSOLE: "off",
        LOG_LEVEL: "info",
        ...env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`keyturn on ${host} did not start:\n${out}`)), timeoutMs);
    const check = () => {
      const m = /keyturn ready on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout.on("data", check);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`keyturn on ${host} exited with ${code}:\n${out}`));
    });
  });
  return { child, url, output: () => out, stop: () => stopChild(child) };
}
