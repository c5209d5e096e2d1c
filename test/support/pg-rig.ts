/**
 * Several keyturn replicas (the built program) sharing one store, against the standalone simulator:
 * on PostgreSQL (an embedded server started here, one database; each replica keeps its own data
 * directory for local files) or on SQLite (the replicas share one data directory). Every replica
 * signs checkpoints with the same key (KEYTURN_SIGNING_KEY_FILE), as replicas of one deployment do.
 *
 * With `distinctHosts` every replica runs in its own UTS namespace under its own host name (root
 * only, as CI runs), as replicas on separate machines: a standby cannot see that the runner's pid
 * is gone and takes over only when the lease expires, which is the take-over time that matters.
 *
 * The test reads changes, events and the lease from the store itself (PostgreSQL through
 * `openPgStore`, read-only use; SQLite read-only), never through a replica.
 */
import Database from "better-sqlite3";
import { execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { Change } from "../../src/core/domain.js";
import type { RunnerLease, StoredEvent, VerifyResult } from "../../src/core/ports.js";
import { toEvent, type EventRow } from "../../src/store/event-row.js";
import { toLease, type LeaseRow } from "../../src/store/lease-rules.js";
import { openPgStore, type PgStore } from "../../src/store/pg/pg-store.js";
import {
  azureEnv,
  startStandaloneSimulator,
  writeShortPolicy,
  type StandaloneSimulator,
} from "./chaos-kit.js";
import { FakeSlack } from "../fakes/slack-api.js";
import { ChaosKeyturn, SLACK_IDS, type SpawnProgram } from "./chaos-keyturn.js";
import { startEmbeddedPg, type EmbeddedPg } from "./embedded-pg.js";
import { stopChild, type RunningProgram } from "./spawn-keyturn.js";

const run = promisify(execFile);

/**
 * The lease's time to live, in seconds, read by `keyturn start` (src/main.ts) into the runner's
 * LeaseOptions.ttlMs. Without it keyturn uses its default (15 s): the rig passes it only when a
 * test asks for another TTL.
 */
export const LEASE_TTL_ENV = "KEYTURN_LEASE_TTL_SECONDS";

export type RigStoreKind = "pg" | "sqlite";

/** The store as the test reads it, whatever the replicas do. */
export interface RigStoreView {
  changes(): Promise<Change[]>;
  change(id: string): Promise<Change | undefined>;
  /** Every event (or one change's), by seq. */
  events(changeId?: string): Promise<StoredEvent[]>;
  lease(): Promise<RunnerLease | undefined>;
  /** The store's own verification (PostgreSQL: `verify()` of the store; SQLite: `keyturn audit verify`). */
  verify(): Promise<VerifyResult>;
  /** Every change document and event payload as stored (to look for key values). */
  dump(): Promise<string>;
  close(): Promise<void>;
}

export interface Replica {
  readonly index: number;
  readonly kt: ChaosKeyturn;
  /** The host name of its current (or last) process. */
  host: string;
  /** Processes started so far (each restart takes a new host name under `distinctHosts`). */
  generation: number;
}

export interface Takeover {
  readonly from: {
    readonly replica: number;
    readonly pid: number;
    readonly host: string;
    readonly token: number;
  };
  readonly to: { readonly replica: number; readonly lease: RunnerLease };
  /** Wall clock of the SIGKILL (or SIGSTOP). */
  readonly stoppedAt: number;
  /** From the signal to the new lease's acquiredAt. */
  readonly leaseMs: number;
  /** From the signal to the new runner's "now the runner" line (as the rig saw it, polling every 100 ms). */
  readonly announcedMs: number;
}

export interface ReplicaRig {
  readonly dir: string;
  readonly kind: RigStoreKind;
  readonly sim: StandaloneSimulator;
  readonly pg: EmbeddedPg | null;
  /** The replicas' KEYTURN_DATABASE_URL (PostgreSQL only). */
  readonly url: string | null;
  readonly env: Record<string, string>;
  readonly replicas: Replica[];
  /** The Slack workspace every replica talks to. */
  readonly slack: FakeSlack;
  readonly view: RigStoreView;
  /** The live runner: the lease holder (unexpired) and the replica whose process it is. */
  leader(): Promise<{ replica: Replica; lease: RunnerLease } | undefined>;
  /** Waits for a live runner (up to `timeoutMs`). */
  waitLeader(timeoutMs?: number): Promise<{ replica: Replica; lease: RunnerLease }>;
  /** A slash command sent to the live runner (standbys refuse chat requests); waits for one. */
  command(user: string, text: string, timeoutMs?: number): Promise<void>;
  /** SIGKILLs the runner and waits for another replica to take the lease over. */
  killLeader(): Promise<Takeover>;
  /** After `stoppedAt`: waits for a replica other than `from` to hold a lease newer than `token`. */
  waitTakeover(
    from: Takeover["from"],
    stoppedAt: number,
    announcedBefore: number[],
    timeoutMs?: number,
  ): Promise<Takeover>;
  /** Counts of "now the runner" lines per replica (a baseline for waitTakeover). */
  announcements(): number[];
  /** Starts a replica's process again (a new host name under `distinctHosts`). */
  restart(r: Replica): Promise<void>;
  /** Alice requests a rotation; Bob and Carol approve it. */
  requestApproved(account: { id: string; name: string }, reason: string): Promise<Change>;
  /** `keyturn audit verify --json` with a replica's settings (all stopped or not). */
  auditVerifyCli(): Promise<{ code: number; out: string; json: { ok?: boolean; events?: number } | null }>;
  close(): Promise<void>;
}

export interface ReplicaRigOptions {
  readonly replicas: number;
  /** Default: KEYTURN_RIG_STORE, else PostgreSQL. */
  readonly store?: RigStoreKind;
  readonly distinctHosts?: boolean;
  readonly leaseTtlSeconds?: number;
  readonly env?: Record<string, string>;
}

const RUNNER_LINE = /now the runner \(lease \d+\)/g;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startReplicaRig(prefix: string, opts: ReplicaRigOptions): Promise<ReplicaRig> {
  const kind: RigStoreKind = opts.store ?? (process.env.KEYTURN_RIG_STORE === "sqlite" ? "sqlite" : "pg");
  if (opts.distinctHosts && process.getuid?.() !== 0)
    throw new Error(
      "replicas on distinct host names need root (unshare --uts); run the test as root, as CI does",
    );
  const dir = mkdtempSync(join(tmpdir(), `keyturn-${prefix}-`));
  let sim: StandaloneSimulator | undefined;
  let pg: EmbeddedPg | null = null;
  try {
    sim = await startStandaloneSimulator(dir);
    pg = kind === "pg" ? await startEmbeddedPg() : null;
  } catch (e) {
    await sim?.stop();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const url = pg ? await pg.createDatabase("keyturn_replicas") : null;
  const env: Record<string, string> = {
    ...azureEnv(sim),
    KEYTURN_POLICY_FILE: writeShortPolicy(dir),
    // one deployment, one signing key: every replica's checkpoints name the same key
    KEYTURN_SIGNING_KEY_FILE: join(dir, "keyturn-signing.key"),
    ...(url ? { KEYTURN_DATABASE_URL: url } : {}),
    ...(opts.leaseTtlSeconds !== undefined ? { [LEASE_TTL_ENV]: String(opts.leaseTtlSeconds) } : {}),
    ...opts.env,
  };
  // one Slack workspace: a runner updates the threads and DMs another replica posted
  const slack = new FakeSlack();
  await slack.start();
  const replicas: Replica[] = [];
  for (let index = 0; index < opts.replicas; index++) {
    const r: Replica = { index, host: "", generation: 0, kt: undefined as unknown as ChaosKeyturn };
    const spawnIt: SpawnProgram = opts.distinctHosts
      ? (e) => {
          r.generation++;
          r.host = `keyturn-r${index}-g${r.generation}`;
          return spawnOnHost(r.host, e);
        }
      : async (e) => {
          r.generation++;
          const { spawnKeyturn } = await import("./spawn-keyturn.js");
          return spawnKeyturn(e);
        };
    // PostgreSQL: each replica its own data directory; SQLite: the store is the shared data directory
    const dataDir = kind === "pg" ? join(dir, `replica-${index}`) : join(dir, "data");
    (r as { kt: ChaosKeyturn }).kt = new ChaosKeyturn(dataDir, env, {
      spawn: spawnIt,
      slack,
      tag: `r${index}-`,
    });
    replicas.push(r);
  }

  let view: RigStoreView | null = null;
  const rig: ReplicaRig = {
    dir,
    kind,
    sim,
    pg,
    url,
    env,
    replicas,
    slack,
    get view(): RigStoreView {
      if (!view) throw new Error("the store is read once the first replica has started");
      return view;
    },
    async leader() {
      const lease = await view!.lease();
      if (!lease || Date.parse(lease.expiresAt) <= Date.now()) return undefined;
      const replica = replicas.find((x) => x.kt.kt?.child.pid === lease.pid && x.host === lease.host);
      return replica ? { replica, lease } : undefined;
    },
    async waitLeader(timeoutMs = 60_000) {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const l = await rig.leader();
        if (l) return l;
        if (Date.now() > end)
          throw new Error(`no live runner within ${timeoutMs} ms: ${describeLease(await view!.lease())}`);
        await sleep(100);
      }
    },
    async command(user, text, timeoutMs = 60_000) {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const l = await rig.leader();
        if (l?.replica.kt.kt) {
          try {
            await l.replica.kt.command(user, text, 2_000);
            return;
          } catch {
            // it died under the request: like a user, send it again to whoever runs now
          }
        }
        if (Date.now() > end) throw new Error(`no runner took "${text}" within ${timeoutMs} ms`);
        await sleep(200);
      }
    },
    announcements: () => replicas.map((r) => (r.kt.output().match(RUNNER_LINE) ?? []).length),
    async waitTakeover(from, stoppedAt, announcedBefore, timeoutMs = 60_000) {
      const end = Date.now() + timeoutMs;
      let lease: RunnerLease | undefined;
      let to: Replica | undefined;
      let announcedAt: number | undefined;
      for (;;) {
        if (!to) {
          const l = await view!.lease();
          if (l && l.token > from.token) {
            lease = l;
            to = replicas.find((x) => x.kt.kt?.child.pid === l.pid && x.host === l.host);
            if (!to)
              throw new Error(`the lease went to a process the rig did not start: ${describeLease(l)}`);
          }
        }
        if (to && announcedAt === undefined) {
          const n = (to.kt.output().match(RUNNER_LINE) ?? []).length;
          if (n > announcedBefore[to.index]!) announcedAt = Date.now();
        }
        if (to && lease && announcedAt !== undefined)
          return {
            from,
            to: { replica: to.index, lease },
            stoppedAt,
            leaseMs: Date.parse(lease.acquiredAt) - stoppedAt,
            announcedMs: announcedAt - stoppedAt,
          };
        if (Date.now() > end)
          throw new Error(
            `no replica took over from replica ${from.replica} (lease ${from.token}) within ${timeoutMs} ms: ${describeLease(await view!.lease())}\n${tails(replicas)}`,
          );
        await sleep(100);
      }
    },
    async killLeader() {
      const { replica, lease } = await rig.waitLeader();
      const before = rig.announcements();
      const from = { replica: replica.index, pid: lease.pid, host: lease.host, token: lease.token };
      const stoppedAt = Date.now();
      await replica.kt.kill();
      return rig.waitTakeover(from, stoppedAt, before);
    },
    async restart(r) {
      await r.kt.start();
    },
    async requestApproved(account, reason) {
      // the account's earlier changes are not this request
      const known = new Set((await view!.changes()).map((c) => c.id));
      await rig.command(SLACK_IDS.alice, `rotate ${account.name} --reason "${reason}"`);
      const mine = async () =>
        (await view!.changes())
          .filter((c) => c.accountId.toLowerCase() === account.id.toLowerCase())
          .find((c) => !known.has(c.id));
      const end = Date.now() + 30_000;
      let requested: Change | undefined;
      while (!(requested = await mine()) || requested.state !== "awaiting_approval") {
        if (Date.now() > end)
          throw new Error(`${account.name}'s change did not await approval: ${requested?.state}`);
        await sleep(100);
      }
      for (const who of [SLACK_IDS.bob, SLACK_IDS.carol]) await rig.command(who, `approve ${requested.id}`);
      return requested;
    },
    async auditVerifyCli() {
      const first = replicas[0]!.kt;
      try {
        const r = await run(process.execPath, ["dist/src/cli.js", "audit", "verify", "--json"], {
          env: {
            PATH: process.env.PATH ?? "",
            HOME: process.env.HOME ?? "",
            KEYTURN_DATA_DIR: first.dir,
            KEYTURN_CONSOLE: "off",
            ...env,
          },
        });
        return { code: 0, out: r.stdout + r.stderr, json: parseJson(r.stdout) };
      } catch (e) {
        const x = e as { code?: number; stdout?: string; stderr?: string };
        return {
          code: x.code ?? 1,
          out: `${x.stdout ?? ""}${x.stderr ?? ""}`,
          json: parseJson(x.stdout ?? ""),
        };
      }
    },
    async close() {
      for (const r of [...replicas].reverse()) {
        const child = r.kt.kt?.child;
        // a replica left SIGSTOPped would never hear the SIGTERM
        if (child?.pid && child.exitCode === null) child.kill("SIGCONT");
        await r.kt.stop();
      }
      await view?.close();
      await sim.stop();
      await pg?.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };

  try {
    await replicas[0]!.kt.start();
    view = url ? await pgView(url) : sqliteView(replicas[0]!.kt.dbPath, () => rig.auditVerifyCli());
    await rig.waitLeader(30_000);
    for (const r of replicas.slice(1)) {
      await r.kt.start();
      // one store: every later replica stands by (a replica with a store of its own would run too)
      const end = Date.now() + 15_000;
      while (!/STANDBY/.test(r.kt.output())) {
        if (Date.now() > end)
          throw new Error(
            `replica ${r.index} did not stand by: does it share the store?\n${r.kt.output().slice(-3000)}`,
          );
        await sleep(100);
      }
    }
  } catch (e) {
    await rig.close().catch(() => undefined);
    throw e;
  }
  return rig;
}

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

async function pgView(url: string): Promise<RigStoreView> {
  // the first replica has migrated the schema: opening finds it current and changes nothing
  const store: PgStore = await openPgStore(url, { signingKeyFile: null });
  return {
    changes: async () => (await store.listChanges()).reverse(),
    change: (id) => store.getChange(id),
    events: (changeId) => store.events(changeId ? { changeId } : {}),
    lease: () => store.runnerLease(),
    verify: () => store.verify(),
    async dump() {
      const r = await store.pool.query<{ t: string }>(
        "SELECT doc AS t FROM changes UNION ALL SELECT payload AS t FROM events UNION ALL SELECT value AS t FROM kv",
      );
      return r.rows.map((x) => x.t).join("\n");
    },
    close: () => store.close(),
  };
}

function sqliteView(
  dbPath: string,
  cli: () => Promise<{ code: number; out: string; json: { ok?: boolean; events?: number } | null }>,
): RigStoreView {
  const read = <T>(fn: (db: Database.Database) => T, empty: T): T => {
    if (!existsSync(dbPath)) return empty;
    const db = new Database(dbPath, { readonly: true, fileMustExist: true });
    try {
      db.pragma("busy_timeout = 5000");
      return fn(db);
    } finally {
      db.close();
    }
  };
  const changes = () =>
    read(
      (db) =>
        (db.prepare("SELECT doc FROM changes ORDER BY created_at").all() as { doc: string }[]).map(
          (r) => JSON.parse(r.doc) as Change,
        ),
      [] as Change[],
    );
  return {
    changes: () => Promise.resolve(changes()),
    change: (id) => Promise.resolve(changes().find((c) => c.id === id)),
    events: (changeId) =>
      Promise.resolve(
        read(
          (db) =>
            (
              (changeId
                ? db.prepare("SELECT * FROM events WHERE change_id = ? ORDER BY seq").all(changeId)
                : db.prepare("SELECT * FROM events ORDER BY seq").all()) as EventRow[]
            ).map(toEvent),
          [] as StoredEvent[],
        ),
      ),
    lease: () =>
      Promise.resolve(
        read((db) => {
          const row = db.prepare("SELECT * FROM runner_lease WHERE id = 1").get() as LeaseRow | undefined;
          return row ? toLease(row) : undefined;
        }, undefined),
      ),
    async verify() {
      const r = await cli();
      return r.json?.ok
        ? { ok: true, events: r.json.events ?? 0, head: "" }
        : ({ ok: false, events: r.json?.events ?? 0, problem: r.out } as unknown as VerifyResult);
    },
    dump: () =>
      Promise.resolve(
        read(
          (db) =>
            (
              db
                .prepare(
                  "SELECT doc AS t FROM changes UNION ALL SELECT payload AS t FROM events UNION ALL SELECT value AS t FROM kv",
                )
                .all() as { t: string }[]
            )
              .map((x) => x.t)
              .join("\n"),
          "",
        ),
      ),
    close: () => Promise.resolve(),
  };
}

const parseJson = (s: string): { ok?: boolean; events?: number } | null => {
  try {
    return JSON.parse(s) as { ok?: boolean; events?: number };
  } catch {
    return null;
  }
};

export const describeLease = (l: RunnerLease | undefined): string =>
  l
    ? `lease ${l.token} held by pid ${l.pid} on ${l.host} since ${l.acquiredAt}, renewed ${l.renewedAt}, until ${l.expiresAt}`
    : "no lease";

/** The last lines each replica wrote (for a failure message). */
export const tails = (replicas: readonly Replica[], chars = 1500): string =>
  replicas.map((r) => `--- replica ${r.index} (${r.host}) ---\n${r.kt.output().slice(-chars)}`).join("\n");
