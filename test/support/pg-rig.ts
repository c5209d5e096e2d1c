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
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { Change } from "../../src/core/domain.js";
import type { RunnerLease } from "../../src/core/ports.js";
import {
  azureEnv,
  startStandaloneSimulator,
  writeShortPolicy,
  type StandaloneSimulator,
} from "./chaos-kit.js";
import { FakeSlack } from "../fakes/slack-api.js";
import { ChaosKeyturn, SLACK_IDS, type SpawnProgram } from "./chaos-keyturn.js";
import { startEmbeddedPg, type EmbeddedPg } from "./embedded-pg.js";
import { spawnOnHost } from "./pg-rig-host.js";
import { spawnKeyturn } from "./spawn-keyturn.js";
import { parseJson, pgView, sqliteView, type CliVerdict, type RigStoreView } from "./pg-rig-view.js";

export type { RigStoreView } from "./pg-rig-view.js";
export { spawnOnHost } from "./pg-rig-host.js";

const run = promisify(execFile);

/** The runner lease's time to live in seconds (3–300, keyturn's default 10), read by `keyturn start`. */
export const LEASE_TTL_ENV = "KEYTURN_LEASE_SECONDS";

export type RigStoreKind = "pg" | "sqlite";

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
  /**
   * A slash command, sent to the live runner, or with `to: "any"` to the live replicas in turn (on
   * PostgreSQL a standby replica answers and records commands too; on SQLite it refuses them).
   */
  command(user: string, text: string, opts?: { timeoutMs?: number; to?: "runner" | "any" }): Promise<void>;
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
  auditVerifyCli(): Promise<CliVerdict>;
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
    ...(process.env.KEYTURN_RIG_LOGS ? { LOG_LEVEL: "debug" } : {}),
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
      : (e) => {
          r.generation++;
          r.host = hostname();
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
  let turn = 0;
  /** The database's sessions, with what each waits for (who holds the locks a take-over waits on). */
  const sessions = async (): Promise<string> => {
    if (!pg || !url) return "";
    const db = new URL(url).pathname.slice(1);
    const rows = await pg.admin(
      async (c) =>
        (
          await c.query<Record<string, unknown>>(
            `SELECT pid, client_port, state, xact_start, wait_event_type, wait_event, left(query, 90) AS query
               FROM pg_stat_activity WHERE datname = $1 ORDER BY xact_start NULLS LAST`,
            [db],
          )
        ).rows,
    );
    return `sessions of ${db}:\n${rows.map((r) => "  " + JSON.stringify(r)).join("\n")}`;
  };
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
    async command(user, text, { timeoutMs = 60_000, to = "runner" } = {}) {
      const end = Date.now() + timeoutMs;
      for (;;) {
        let target: Replica | undefined;
        if (to === "any") {
          const live = replicas.filter((x) => x.kt.kt && x.kt.kt.child.signalCode === null);
          target = live[turn++ % Math.max(1, live.length)];
        } else target = (await rig.leader())?.replica;
        if (target?.kt.kt) {
          try {
            await target.kt.command(user, text, 2_000);
            return;
          } catch {
            // it died under the request: like a user, send it again
          }
        }
        if (Date.now() > end) throw new Error(`no replica took "${text}" within ${timeoutMs} ms`);
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
            `no replica took over from replica ${from.replica} (lease ${from.token}) within ${timeoutMs} ms: ${describeLease(await view!.lease())}\n${await sessions()}\n${tails(replicas)}`,
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
      // KEYTURN_RIG_LOGS=<dir> keeps every replica's output (at debug level) for a failure's story
      const logs = process.env.KEYTURN_RIG_LOGS;
      if (logs) {
        mkdirSync(logs, { recursive: true });
        for (const r of replicas)
          writeFileSync(join(logs, `${prefix}-replica-${r.index}.log`), r.kt.output());
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

export const describeLease = (l: RunnerLease | undefined): string =>
  l
    ? `lease ${l.token} held by pid ${l.pid} on ${l.host} since ${l.acquiredAt}, renewed ${l.renewedAt}, until ${l.expiresAt}`
    : "no lease";

/** The last lines each replica wrote (for a failure message). */
export const tails = (replicas: readonly Replica[], chars = 1500): string =>
  replicas.map((r) => `--- replica ${r.index} (${r.host}) ---\n${r.kt.output().slice(-chars)}`).join("\n");
