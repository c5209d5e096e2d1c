/** Starts the built program as a user would (`node dist/src/cli.js start`) and waits for it to be ready. */
import { type ChildProcess, spawn } from "node:child_process";
import { Agent, fetch as undiciFetch } from "undici";

export interface RunningProgram {
  child: ChildProcess;
  url: string;
  adminUrl?: string;
  caPath?: string;
  output: () => string;
  stop(): Promise<void>;
}

/**
 * The built program, ready (`nodeFlags` as `npm start` gives node, e.g. --optimize-for-size). With
 * `host`, under a host name of its own (a UTS namespace: root only, as CI runs), as on another
 * machine: unshare and sh exec in place, so the child's pid is keyturn's own.
 */
export async function spawnKeyturn(
  env: Record<string, string>,
  timeoutMs = 60_000,
  nodeFlags: readonly string[] = [],
  host?: string,
): Promise<RunningProgram> {
  const argv = [...nodeFlags, "dist/src/cli.js", "start"];
  const [file, args] = host
    ? [
        "unshare",
        ["--uts", "sh", "-c", 'hostname "$1" && shift && exec "$@"', "sh", host, process.execPath, ...argv],
      ]
    : [process.execPath, argv];
  const who = host ? `keyturn on ${host}` : "keyturn";
  const child = spawn(file, args, {
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "",
      PORT: "0",
      KEYTURN_CONSOLE: "off",
      LOG_LEVEL: "info",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  const ready = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${who} did not start:\n${out}`)), timeoutMs);
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
      reject(new Error(`${who} exited with ${code}:\n${out}`));
    });
  });
  const admin = /sandbox simulator admin: (\S+) \(CA: ([^)]+)\)/.exec(out);
  return {
    child,
    url: ready,
    ...(admin ? { adminUrl: admin[1]!, caPath: admin[2]! } : {}),
    output: () => out,
    stop: () => stopChild(child),
  };
}

/** SIGTERM, and SIGKILL after five seconds if the process is still there. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
  if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
}

/** Every key value the sandbox simulator ever issued (its admin API, over its own CA). */
export async function simulatorKeys(adminUrl: string, caPem: string): Promise<string[]> {
  const r = await undiciFetch(`${adminUrl}/keys`, { dispatcher: new Agent({ connect: { ca: caPem } }) });
  return ((await r.json()) as { values: string[] }).values;
}

export const waitUntil = async <T>(
  what: string,
  fn: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 60_000,
): Promise<T> => {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
};
