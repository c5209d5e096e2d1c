/**
 * One runner at a time: the process holding the store's lease runs steps and timers and renews the
 * lease on a heartbeat; any other process on the same data directory stands by, refuses chat
 * requests, and takes over when the lease expires (at once when the holder was a process on this
 * host that no longer exists, e.g. after a SIGKILL).
 */
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { KeyturnError } from "../core/errors.js";
import type { LeaseClaim, Logger, RunnerLease, AsyncStore } from "../core/ports.js";

export interface LeaseOptions {
  /** How long a lease lasts without a renewal (default 10 s): the longest a standby waits for a silent holder. */
  readonly ttlMs?: number;
  /** Heartbeat (default a third of the TTL). */
  readonly renewMs?: number;
  /** How often a standby looks at the lease (default 1 s). */
  readonly pollMs?: number;
  /** Wall-clock time: leases are compared across processes, so never a test's fake clock. */
  readonly now?: () => Date;
  readonly claim?: LeaseClaim;
  /** One of several replicas on a shared database: a standby answers requests (said when it stands by). */
  readonly replica?: boolean;
  /** Whether a holder is known to be gone (default: same host and its pid no longer exists). */
  readonly holderGone?: (lease: RunnerLease) => boolean;
}

/** Default lease time to live: a standby on another host takes over at most this long (plus one poll) after the runner dies. */
export const DEFAULT_LEASE_TTL_MS = 10_000;

/** The lease's time to live from KEYTURN_LEASE_SECONDS (3–300 s; default 10 s). */
export function leaseTtlMs(env: NodeJS.ProcessEnv): number {
  const raw = env.KEYTURN_LEASE_SECONDS?.trim();
  if (!raw) return DEFAULT_LEASE_TTL_MS;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 3 || n > 300)
    throw new KeyturnError(
      "config_invalid",
      `KEYTURN_LEASE_SECONDS is "${raw.slice(0, 20)}": give the seconds a runner's lease lasts without renewal (3 to 300; a standby takes over that long after the runner dies), or unset it for ${DEFAULT_LEASE_TTL_MS / 1000}.`,
    );
  return Math.round(n * 1000);
}

export type RunnerRole = "starting" | "runner" | "standby" | "stopped";

export const isLeaseLost = (e: unknown): boolean => e instanceof Error && e.name === "LeaseLost";

const whom = (l: RunnerLease): string => `pid ${l.pid} on host ${l.host}`;

export function pidGoneOnThisHost(lease: RunnerLease): boolean {
  if (lease.host !== hostname()) return false;
  try {
    process.kill(lease.pid, 0);
    return false;
  } catch (e) {
    // EPERM: it exists but belongs to someone else
    return (e as NodeJS.ErrnoException).code === "ESRCH";
  }
}

export interface LeaseHooks {
  /** This process became the runner: resume open changes, start timers. */
  onRunner(lease: RunnerLease, previous: RunnerLease | undefined): Promise<void>;
  /**
   * Another process took the lease: stop running anything now (synchronously, before this returns);
   * what it does after that (waiting for work in flight to wind down) is not waited for: the work
   * in flight may be the very caller that found the lease lost.
   */
  onLost(): void | Promise<void>;
  /** A line for the person who started this process. */
  announce(line: string): void;
}

export class LeaseKeeper {
  readonly #ttl: number;
  readonly #renewMs: number;
  readonly #pollMs: number;
  readonly #now: () => Date;
  readonly #claim: LeaseClaim;
  readonly #gone: (l: RunnerLease) => boolean;
  #role: RunnerRole = "starting";
  #timer: NodeJS.Timeout | null = null;
  #standbyAnnounced: string | null = null;
  #waiters: (() => void)[] = [];
  #becoming: Promise<void> | null = null;
  #beating = false;
  #trying = false;
  readonly #replica: boolean;

  constructor(
    private readonly store: AsyncStore,
    private readonly logger: Logger,
    private readonly hooks: LeaseHooks,
    opts: LeaseOptions = {},
  ) {
    this.#ttl = opts.ttlMs ?? DEFAULT_LEASE_TTL_MS;
    this.#renewMs = opts.renewMs ?? Math.max(50, Math.floor(this.#ttl / 3));
    this.#pollMs = opts.pollMs ?? 1000;
    this.#now = opts.now ?? (() => new Date());
    this.#claim = opts.claim ?? {
      holder: `${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`,
      pid: process.pid,
      host: hostname(),
    };
    this.#gone = opts.holderGone ?? pidGoneOnThisHost;
    this.#replica = opts.replica ?? false;
  }

  get role(): RunnerRole {
    return this.#role;
  }

  get ttlMs(): number {
    return this.#ttl;
  }

  /** The holder as this process last read it (for refusals). */
  holder(): Promise<RunnerLease | undefined> {
    return this.store.runnerLease();
  }

  /** Takes the lease or stands by; resolves once this process is the runner or on standby. */
  async start(): Promise<void> {
    if (!(await this.#try())) this.#standby();
  }

  /** Resolves when this process is the runner. */
  whenRunner(): Promise<void> {
    if (this.#role === "runner") return Promise.resolve();
    return new Promise((r) => this.#waiters.push(r));
  }

  /**
   * The fencing check before an effect: renews the lease now. Throws LeaseLost (and stands this
   * process by) when another process has taken it.
   */
  async confirm(): Promise<void> {
    // an engine that was never started took no lease: nothing to check (its store is unfenced)
    if (this.#role === "starting") return;
    if (this.#role !== "runner")
      throw Object.assign(new Error("This keyturn process is not the runner; it does not act."), {
        name: "LeaseLost",
      });
    try {
      await this.store.renewLease(this.#ttl, this.#now());
    } catch (e) {
      if (isLeaseLost(e)) await this.lost();
      throw e;
    }
  }

  /** A commit or a renewal was refused: stop running and stand by. */
  async lost(): Promise<void> {
    if (this.#role !== "runner") return;
    this.#role = "standby";
    this.#clear();
    // nothing more runs here from this moment; then who holds the lease now is looked up
    void Promise.resolve(this.hooks.onLost()).catch((e: unknown) =>
      this.logger.warn({ err: e }, "standing down after losing the runner lease failed"),
    );
    const current = await this.store.runnerLease().catch(() => undefined);
    this.logger.warn({ holder: current }, "runner lease lost; standing by");
    this.hooks.announce(
      `keyturn: another keyturn process took over as the runner (${current ? whom(current) : "unknown"}); this one stopped running steps and timers and stands by.`,
    );
    this.#standbyAnnounced = current?.holder ?? null;
    this.#standby();
  }

  /** A clean stop: gives the lease up so a standby takes over at once. */
  async stop(): Promise<void> {
    const was = this.#role;
    this.#role = "stopped";
    this.#clear();
    if (was === "runner") {
      try {
        await this.store.releaseLease(this.#now());
      } catch (e) {
        this.logger.warn({ err: e }, "could not release the runner lease; it expires by itself");
      }
    }
  }

  async #try(): Promise<boolean> {
    if (this.#role === "stopped" || this.#becoming || this.#trying) return false;
    this.#trying = true;
    try {
      return await this.#tryOnce();
    } finally {
      this.#trying = false;
    }
  }

  async #tryOnce(): Promise<boolean> {
    const now = this.#now();
    const cur = await this.store.runnerLease();
    const replacing = cur && cur.holder !== this.#claim.holder && this.#gone(cur) ? cur.holder : undefined;
    if (cur && cur.holder !== this.#claim.holder && !replacing && Date.parse(cur.expiresAt) > now.getTime()) {
      // clearly held: a standby's poll reads only, and never takes the write lock from the runner
      this.#announceStandby(cur);
      return false;
    }
    const r = await this.store.acquireLease(this.#claim, this.#ttl, now, replacing);
    if (!r.acquired) {
      this.#announceStandby(r.lease);
      return false;
    }
    // stopped while the database answered: give the lease straight back
    if (this.#role === "stopped") {
      await this.store.releaseLease(this.#now()).catch(() => undefined);
      return false;
    }
    const previous = cur && cur.holder !== this.#claim.holder ? cur : undefined;
    this.#role = "runner";
    this.#clear();
    this.#timer = setInterval(() => void this.#heartbeat(), this.#renewMs);
    this.#timer.unref();
    if (this.#standbyAnnounced !== null || previous)
      this.hooks.announce(
        `keyturn: now the runner (lease ${r.lease.token})${previous ? `, after ${whom(previous)} ${replacing ? "is no longer running" : Date.parse(previous.expiresAt) <= now.getTime() ? "stopped renewing its lease" : "stopped"}` : ""}; resuming open changes.`,
      );
    this.logger.info({ fencing: r.lease.token, previous: previous?.holder }, "runner lease acquired");
    this.#becoming = this.hooks.onRunner(r.lease, previous);
    try {
      await this.#becoming;
    } finally {
      this.#becoming = null;
    }
    for (const w of this.#waiters.splice(0)) w();
    return true;
  }

  async #heartbeat(): Promise<void> {
    if (this.#role !== "runner" || this.#beating) return;
    this.#beating = true;
    try {
      await this.store.renewLease(this.#ttl, this.#now());
    } catch (e) {
      if (isLeaseLost(e)) await this.lost();
      // a busy database: the next beat tries again; the fencing check still guards every write
      else this.logger.warn({ err: e }, "could not renew the runner lease; trying again");
    } finally {
      this.#beating = false;
    }
  }

  #standby(): void {
    if (this.#role === "stopped") return;
    this.#role = "standby";
    this.#clear();
    this.#timer = setInterval(() => {
      this.#try().catch((e: unknown) => this.logger.warn({ err: e }, "standby: lease check failed"));
    }, this.#pollMs);
    this.#timer.unref();
  }

  #announceStandby(holder: RunnerLease): void {
    if (this.#standbyAnnounced === holder.holder) return;
    this.#standbyAnnounced = holder.holder;
    this.logger.warn({ holder }, "another keyturn is the runner; standing by");
    const takeOver = `It takes over when that process stops: at once if it exits on this host, otherwise ${Math.round(this.#ttl / 1000)} s after its last lease renewal.`;
    if (this.#replica) {
      this.hooks.announce(
        [
          `keyturn: STANDBY replica — another keyturn replica runs the changes of this database (${whom(holder)}, runner since ${holder.acquiredAt}, lease ${holder.token} valid until ${holder.expiresAt}).`,
          `  This replica answers chat and API requests and records commands; the runner carries them out. ${takeOver}`,
        ].join("\n"),
      );
      return;
    }
    this.hooks.announce(
      [
        `keyturn: STANDBY — another keyturn process drives changes from this data directory (${whom(holder)}, runner since ${holder.acquiredAt}, lease ${holder.token} valid until ${holder.expiresAt}).`,
        `  This process runs no steps or timers and refuses chat requests. ${takeOver}`,
        "  To run a second keyturn side by side instead, give it its own KEYTURN_DATA_DIR.",
      ].join("\n"),
    );
  }

  #clear(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }
}
