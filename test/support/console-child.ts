/** The built program with commands on its standard input, as `printf '…' | npm start` runs it. */
import { type ChildProcess, spawn } from "node:child_process";

export interface ConsoleChild {
  readonly child: ChildProcess;
  output(): string;
  /** Writes lines to its standard input. */
  send(...lines: string[]): void;
  /** Closes its standard input (end of the piped commands). */
  end(): void;
  /** Resolves when `pattern` appears in its output (stdout and stderr). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves with the exit code once the program ends. */
  exited(timeoutMs?: number): Promise<number | null>;
}

export function spawnConsole(env: Record<string, string>, args: string[] = []): ConsoleChild {
  const child = spawn(process.execPath, ["dist/src/cli.js", "start", ...args], {
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", PORT: "0", LOG_LEVEL: "info", ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let out = "";
  const waiters = new Set<() => void>();
  const grew = (d: Buffer) => {
    out += d.toString();
    for (const w of waiters) w();
  };
  child.stdout.on("data", grew);
  child.stderr.on("data", grew);
  const exit = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return {
    child,
    output: () => out,
    send: (...lines) => void child.stdin.write(lines.map((l) => l + "\n").join("")),
    end: () => void child.stdin.end(),
    waitFor: (pattern, timeoutMs = 60_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const m = pattern.exec(out);
          if (!m) return;
          cleanup();
          resolve(m[0]);
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out waiting for ${String(pattern)}; output:\n${out}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        void exit.then(() => {
          check();
          if (waiters.has(check)) {
            cleanup();
            reject(new Error(`keyturn exited before ${String(pattern)}; output:\n${out}`));
          }
        });
        check();
      }),
    exited: (timeoutMs = 60_000) =>
      Promise.race([
        exit,
        new Promise<number | null>((_, reject) => {
          setTimeout(() => reject(new Error(`keyturn did not exit; output:\n${out}`)), timeoutMs).unref();
        }),
      ]),
  };
}
