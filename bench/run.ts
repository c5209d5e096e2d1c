/**
 * `npm run bench`: figures, not pass/fail. Prints a table and writes bench/results/latest.json with
 * the machine the figures came from. BENCH_QUICK=1 runs reduced sizes (a smoke run, not figures).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { benchDelays } from "./delays-bench.js";
import { benchInventory } from "./inventory-bench.js";
import { benchRotation } from "./rotation-bench.js";
import { benchInventoryRss } from "./inventory-rss-bench.js";
import { type AckBurst, benchSlackAck } from "./slack-ack-bench.js";
import { benchStart } from "./start-bench.js";
import { machine } from "./stats.js";
import { benchPgStore, benchStore, type StoreFigures } from "./store-bench.js";
import type { RotationFigures } from "./rotation-bench.js";

const quick = process.env.BENCH_QUICK === "1";
const started = new Date();
const m = machine();
const log = (s: string) => process.stdout.write(s + "\n");
log(
  `keyturn bench${quick ? " (quick: reduced sizes)" : ""} — ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Node ${m.node}, ${m.os}`,
);

log("store: SQLite …");
const storeSizes = { singleForMs: quick ? 1000 : 5000, chainEvents: quick ? 50_000 : 1_000_000 };
const store = benchStore(storeSizes);
log("store: PostgreSQL …");
const storePg = await benchPgStore(storeSizes);
log("start to ready …");
const start = await benchStart({ runs: quick ? 1 : 3 });
log("slack acknowledgement, Azure out of process …");
const sizes = quick ? [40, 10] : [200, 20];
const slackOut = await benchSlackAck({ setup: "azure-out-of-process", sizes });
log("slack acknowledgement, sandbox in process …");
const slackIn = await benchSlackAck({ setup: "sandbox-in-process", sizes });
const slack = { outOfProcess: slackOut, inProcess: slackIn };
log("memory: keyturn alone through an inventory of every account …");
const fleet = quick
  ? { subscriptions: 4, accountsPerSubscription: 50, concurrency: 64 }
  : { subscriptions: 20, accountsPerSubscription: 250, concurrency: 64 };
const memory = await benchInventoryRss(fleet);
// V8 grows its heap far past what is live under the SDKs' allocation rate; this flag trades speed for RSS
const memorySmall = await benchInventoryRss({ ...fleet, nodeFlags: ["--optimize-for-size"] });
log("rotation critical path, SQLite store …");
const rotation = await benchRotation({ rotations: quick ? 2 : 7, store: "sqlite" });
log("rotation critical path, PostgreSQL store …");
const rotationPg = await benchRotation({ rotations: quick ? 2 : 7, store: "postgresql" });
log("exposure rotation under Azure's delays (scaled 1/60) …");
const delays = await benchDelays({ scale: 60, rotations: quick ? 1 : 3 });
log("inventory and list at scale …");
const inventory = await benchInventory(
  quick
    ? { subscriptions: 4, accountsPerSubscription: 50, armLatencyMs: 50, concurrency: 64 }
    : { subscriptions: 20, accountsPerSubscription: 250, armLatencyMs: 50, concurrency: 64 },
);

const burstRow = (where: string, b: AckBurst): [string, string] => [
  `Slack ack, ${b.requests} at once, ${where}: p50 / p99 (floor) ×p99`,
  `${b.keyturn.p50Ms} / ${b.keyturn.p99Ms} ms (floor ${b.floor.p50Ms} / ${b.floor.p99Ms} ms) ×${b.ratioP99}` +
    ` — max ${b.keyturn.maxMs} ms, ${b.keyturn.non2xx} non-2xx, ${b.replies}/${b.requests} answered (${b.keyturn.answeredInAck} in the ack)`,
];
const rotationRows = (lite: RotationFigures, pg: RotationFigures): [string, string][] => {
  const each = (r: RotationFigures) =>
    `${r.overheadMedianMs} ms (each: ${r.overheadMs.join(", ")}; ${r.paused} paused by the cutover gate, not counted)` +
    ` — store calls in flight ${r.storeBusyMedianMs} ms (${r.storeCallsMedian} calls)`;
  return [
    [
      `rotation approval → old key dead (median of ${lite.rotations})`,
      `SQLite ${lite.wallMedianMs} ms, of which Azure calls ${lite.azureBusyMedianMs} ms; PostgreSQL ${pg.wallMedianMs} ms, of which Azure calls ${pg.azureBusyMedianMs} ms`,
    ],
    ["rotation: keyturn's own overhead (median), SQLite", each(lite)],
    ["rotation: keyturn's own overhead (median), PostgreSQL", each(pg)],
  ];
};
const storeRows = (lite: StoreFigures, pg: StoreFigures): [string, string][] => [
  [
    "store: single-event commits",
    `SQLite ${lite.singleCommitsPerSecond} /s; PostgreSQL ${pg.singleCommitsPerSecond} /s`,
  ],
  [
    `store: build a ${lite.chainEvents.toLocaleString("en")}-event chain (batches of 10,000)`,
    `SQLite ${lite.buildSeconds} s (${lite.buildEventsPerSecond} events/s); PostgreSQL ${pg.buildSeconds} s (${pg.buildEventsPerSecond} events/s)`,
  ],
  [
    `store: verify ${lite.chainEvents.toLocaleString("en")} events`,
    `SQLite ${lite.verifySeconds} s (${lite.verifyOk ? "ok" : "FAILED"}); PostgreSQL ${pg.verifySeconds} s (${pg.verifyOk ? "ok" : "FAILED"})`,
  ],
];
const rows: [string, string][] = [
  [
    `start to ready, built tree (median of ${start.runs})`,
    `node dist/src/cli.js start ${start.nodeMedianMs} ms (${start.nodeMs.join(", ")}); npm start ${start.npmMedianMs} ms (${start.npmMs.join(", ")}); RSS at ready ${start.readyRssMiB} MiB`,
  ],
  ...slackOut.bursts.map((b) => burstRow("Azure out of process", b)),
  ...slackIn.bursts.map((b) => burstRow("sandbox in process", b)),
  [
    "Slack ack, one command at a time on an idle bot (p50)",
    `${slackOut.aloneP50Ms} ms (Azure out of process), ${slackIn.aloneP50Ms} ms (sandbox in process)`,
  ],
  [
    `keyturn alone through list + inventory of ${memory.accounts} accounts (${memory.concurrency} at a time)`,
    `peak RSS ${memory.keyturnPeakRssMiB} MiB (ready ${memory.keyturnReadyMiB}, after list ${memory.keyturnAfterListMiB}); simulator ${memory.simulatorPeakRssMiB} MiB — ${memory.seconds} s, ${memory.failed} failed`,
  ],
  [
    "the same, keyturn run with node --optimize-for-size",
    `peak RSS ${memorySmall.keyturnPeakRssMiB} MiB (ready ${memorySmall.keyturnReadyMiB}, after list ${memorySmall.keyturnAfterListMiB}); simulator ${memorySmall.simulatorPeakRssMiB} MiB — ${memorySmall.seconds} s, ${memorySmall.failed} failed`,
  ],
  [
    `list: ${inventory.accounts} accounts in ${inventory.subscriptions} subscriptions`,
    `${inventory.list.seconds} s (minimum ${inventory.list.minimumSeconds} s, ${inventory.list.bound}; ×${inventory.list.ratio}) — ${inventory.list.requests} ARM requests`,
  ],
  [
    `inventory of ${inventory.accounts} accounts (${inventory.concurrency} at a time)`,
    `${inventory.inventory.seconds} s (minimum ${inventory.inventory.minimumSeconds} s, ${inventory.inventory.bound}; ×${inventory.inventory.ratio}) — ${inventory.inventory.requests} ARM requests, ${inventory.inventory.failed} failed`,
  ],
  ["peak RSS (simulator + keyturn in one process)", `${inventory.peakRssMiB} MiB`],
  ...rotationRows(rotation, rotationPg),
  [
    "rotation: Azure calls on that path",
    `${rotation.azureCallsMedian} (${Object.entries(rotation.azureCalls)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")})`,
  ],
  ...(["exposure", "kill-now"] as const).map((v): [string, string] => [
    `${v === "exposure" ? "exposure rotation" : "exposure --kill-now"}: request → leaked key dead (full scale, median of ${delays.rotations})`,
    `${delays.fullScaleSeconds[v].fast} s without Azure's delays, ${delays.fullScaleSeconds[v].delayed} s with them (+${delays.fullScaleSeconds[v].added} s; goal ≤ ${delays.goalSeconds} s) — measured at 1/${delays.scale}: ${delays.measuredMs[v].fast} / ${delays.measuredMs[v].delayed} ms`,
  ]),
  [
    "exposure rotation under delays: where the time goes (full scale)",
    Object.entries(delays.breakdown)
      .map(([k, v]) => `${k} ${v} s`)
      .join("; "),
  ],
  ...storeRows(store, storePg),
];
const width = Math.max(...rows.map(([k]) => k.length));
log("");
for (const [k, v] of rows) log(`${k.padEnd(width)}  ${v}`);
log(`\nstores: ${rotation.storeDescription}; ${storePg.server}`);
const seconds = Math.round((Date.now() - started.getTime()) / 1000);
log(`\n(${seconds} s in all)`);

// a quick run is a smoke test of the benchmarks themselves: its numbers are not figures to keep
if (!quick) {
  const dir = join(process.cwd(), "bench", "results");
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, "latest.json"),
    JSON.stringify(
      {
        at: started.toISOString(),
        machine: m,
        seconds,
        start,
        slack,
        memory,
        memorySmall,
        inventory,
        rotation,
        rotationPg,
        delays,
        store,
        storePg,
      },
      null,
      2,
    ) + "\n",
  );
}
