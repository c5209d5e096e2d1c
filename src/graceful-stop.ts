/**
 * What a graceful stop (SIGTERM, Ctrl-C) needs beyond closing things in order:
 * - a gate on Azure's writes (regenerate, publish, refresh): once keyturn is stopping, a step that
 *   reaches its next write waits there instead of starting it. Its intent is recorded and nothing
 *   was done, exactly the state a restart resumes from (the runner re-checks live keys first), so
 *   no effect is started that the stop would cut in half;
 * - the time bound (KEYTURN_SHUTDOWN_SECONDS, default 10): whatever is still in flight by then is
 *   left to the next start.
 */
import type { Server } from "node:http";
import type { AzurePorts } from "./core/ports.js";
import { KeyturnError } from "./core/errors.js";
import { guardAzureWrites } from "./azure/write-guard.js";

export const DEFAULT_SHUTDOWN_SECONDS = 10;

export function shutdownLimitMs(env: NodeJS.ProcessEnv): number {
  const raw = env.KEYTURN_SHUTDOWN_SECONDS?.trim();
  if (!raw) return DEFAULT_SHUTDOWN_SECONDS * 1000;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0 || n > 3600)
    throw new KeyturnError(
      "config_invalid",
      `KEYTURN_SHUTDOWN_SECONDS is "${raw.slice(0, 20)}": give the seconds keyturn may take to stop (e.g. 10; at most 3600), or unset it for ${DEFAULT_SHUTDOWN_SECONDS}.`,
    );
  return Math.round(n * 1000);
}

export class EffectGate {
  #closed = false;
  #inFlight = 0;
  #held = 0;
  #lastChange = Date.now();

  get closed(): boolean {
    return this.#closed;
  }

  /** Writes that reached the gate after it closed (they never started). */
  get held(): number {
    return this.#held;
  }

  close(): void {
    this.#closed = true;
    this.#lastChange = Date.now();
  }

  /** Runs a write to Azure, or holds it for good once the gate is closed. */
  async pass<T>(write: () => Promise<T>): Promise<T> {
    if (this.#closed) return this.#hold();
    this.#inFlight++;
    this.#lastChange = Date.now();
    try {
      return await write();
    } finally {
      this.#inFlight--;
      this.#lastChange = Date.now();
    }
  }

  /**
   * Resolves once some work is held at the gate and no write has been in flight for `quietMs`:
   * what remains would only wait here, so the stop need not wait for it.
   */
  async settled(quietMs = 300, pollMs = 50): Promise<void> {
    for (;;) {
      if (this.#held > 0 && this.#inFlight === 0 && Date.now() - this.#lastChange >= quietMs) return;
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }

  #hold<T>(): Promise<T> {
    this.#held++;
    this.#lastChange = Date.now();
    return new Promise<T>(() => undefined);
  }
}

/** The Azure ports, with every write passing the gate; reads pass through. */
export function gatedAzure(azure: AzurePorts, gate: EffectGate): AzurePorts {
  return guardAzureWrites(azure, (write) => gate.pass(write));
}

/**
 * Stops accepting connections and waits (at most `limitMs`) for the requests in flight to be
 * answered; idle keep-alive connections are closed at once. Resolves true when all were answered.
 */
export function drainHttp(server: Server, limitMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve(true);
    // a keep-alive connection that finishes its request is closed rather than kept for the next one
    const idle = setInterval(() => server.closeIdleConnections(), 50);
    idle.unref();
    const timer = setTimeout(() => {
      clearInterval(idle);
      resolve(false);
    }, limitMs);
    timer.unref();
    server.close(() => {
      clearTimeout(timer);
      clearInterval(idle);
      resolve(true);
    });
    server.closeIdleConnections();
  });
}

export const sleep = (ms: number): Promise<void> =>
  new Promise((r) => {
    const t = setTimeout(r, ms);
    t.unref();
  });
