/**
 * The event log's two costs that grow: a single-event commit (each one fsyncs, synchronous=FULL in
 * WAL mode) and verifying the whole hash chain, which `audit verify` and every evidence export do.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
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
