/** `keyturn start` as a user runs it, until it exits (a refusal) or is ready (then it is stopped). */
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stopChild } from "./spawn-keyturn.js";

export interface StartOutcome {
  /** The exit code, or null when it started (and was stopped). */
  code: number | null;
  ready: boolean;
  output: string;
}

export async function startOutcome(env: Record<string, string>, timeoutMs = 30_000): Promise<StartOutcome> {
  const child = spawn(process.execPath, ["dist/src/cli.js", "start"], {
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "",
      PORT: "0",
      KEYTURN_CONSOLE: "off",
      ...env,
      // the caller's data directory (and its clean-up), or a fresh one
      KEYTURN_DATA_DIR: env.KEYTURN_DATA_DIR ?? mkdtempSync(join(tmpdir(), "keyturn-start-")),
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr.on("data", (d: Buffer) => (output += d.toString()));
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => resolve(null), timeoutMs);
    child.stdout.on("data", () => {
      if (/keyturn ready on/.test(output)) {
        clearTimeout(timer);
        resolve(null);
      }
    });
    child.once("exit", (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  await stopChild(child);
  return { code, ready: /keyturn ready on/.test(output), output };
}
