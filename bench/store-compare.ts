/**
 * `node dist/bench/store-compare.js`: the store's figures alone, SQLite beside PostgreSQL — the
 * rotation's own overhead on each, single-event commits, a batched chain build and its verification
 * — without the rest of `npm run bench`. BENCH_QUICK=1 runs reduced sizes (a smoke run, not figures).
 * BENCH_TRACE=1 prints each rotation's events from the approval to the old key's death, with their times.
 * Each part prints the load average when it began: on a shared machine the figures move with it.
 */
import { loadavg } from "node:os";
import { benchRotation, type RotationFigures } from "./rotation-bench.js";
import { machine, round } from "./stats.js";
import { benchPgStore, benchStore, type StoreFigures } from "./store-bench.js";

const quick = process.env.BENCH_QUICK === "1";
const log = (s: string) => process.stdout.write(s + "\n");
const load = () =>
  loadavg()
    .map((n) => n.toFixed(2))
    .join(" ");
const m = machine();
log(
  `keyturn stores${quick ? " (quick: reduced sizes)" : ""} — ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Node ${m.node}, ${m.os}`,
);

const loads: Record<string, string> = {};
async function part<T>(name: string, run: () => T | Promise<T>): Promise<T> {
  loads[name] = load();
  log(`${name} … (load ${loads[name]})`);
  return run();
}

const rotations = quick ? 2 : 7;
const sizes = { singleForMs: quick ? 1000 : 5000, chainEvents: quick ? 50_000 : 1_000_000 };
const rotSqlite = await part("rotation, SQLite", () => benchRotation({ rotations, store: "sqlite" }));
const rotPg = await part("rotation, PostgreSQL", () => benchRotation({ rotations, store: "postgresql" }));
const storeSqlite = await part("store, SQLite", () => benchStore(sizes));
const storePg = await part("store, PostgreSQL", () => benchPgStore(sizes));

const rot = (r: RotationFigures) =>
  `${r.overheadMedianMs} ms (each ${r.overheadMs.join(", ")}; wall ${r.wallMedianMs} ms, Azure ${r.azureBusyMedianMs} ms; ${r.paused} paused)`;
const storeCalls = (r: RotationFigures) =>
  `${r.storeBusyMedianMs} ms in ${r.storeCallsMedian} calls (${Object.entries(r.storeCalls)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ")})`;
const verifyRate = (f: StoreFigures) => round(f.chainEvents / f.verifySeconds, 0);
const rows: [string, string, string][] = [
  [`rotation: keyturn's own overhead, median of ${rotations}`, rot(rotSqlite), rot(rotPg)],
  ["rotation: store calls in flight on that path (median)", storeCalls(rotSqlite), storeCalls(rotPg)],
  [
    "store: single-event commits",
    `${storeSqlite.singleCommitsPerSecond} /s`,
    `${storePg.singleCommitsPerSecond} /s`,
  ],
  [
    `store: build a ${sizes.chainEvents.toLocaleString("en")}-event chain, batches of 10,000`,
    `${storeSqlite.buildSeconds} s (${storeSqlite.buildEventsPerSecond} events/s)`,
    `${storePg.buildSeconds} s (${storePg.buildEventsPerSecond} events/s)`,
  ],
  [
    `store: verify ${sizes.chainEvents.toLocaleString("en")} events`,
    `${storeSqlite.verifySeconds} s (${verifyRate(storeSqlite)} events/s, ${storeSqlite.verifyOk ? "ok" : "FAILED"})`,
    `${storePg.verifySeconds} s (${verifyRate(storePg)} events/s, ${storePg.verifyOk ? "ok" : "FAILED"})`,
  ],
];
log("");
log(`| | ${rotSqlite.storeDescription} | ${storePg.server} |`);
log("|---|---|---|");
for (const [k, a, b] of rows) log(`| ${k} | ${a} | ${b} |`);
log("");
log(
  `load average (1, 5, 15 min) when each part began: ${Object.entries(loads)
    .map(([k, v]) => `${k} ${v}`)
    .join("; ")}`,
);
log(`load average at the end: ${load()}`);
