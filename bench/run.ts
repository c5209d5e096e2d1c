/**
 * `npm run bench`: figures, not pass/fail. Prints a table and writes bench/results/latest.json with
 * the machine the figures came from. BENCH_QUICK=1 runs reduced sizes (a smoke run, not figures).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { benchDelays } from "./delays-bench.js";
import { benchInventory } from "./inventory-bench.js";
import { benchRotation } from "./rotation-bench.js";
import { benchSlackAck } from "./slack-ack-bench.js";
import { machine } from "./stats.js";
import { benchStore } from "./store-bench.js";

const quick = process.env.BENCH_QUICK === "1";
const started = new Date();
const m = machine();
const log = (s: string) => process.stdout.write(s + "\n");
log(
  `keyturn bench${quick ? " (quick: reduced sizes)" : ""} — ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Node ${m.node}, ${m.os}`,
);

log("store …");
const store = benchStore({ singleForMs: quick ? 1000 : 5000, chainEvents: quick ? 50_000 : 1_000_000 });
log("slack acknowledgement …");
const slack = await benchSlackAck({ requests: quick ? 40 : 200 });
log("rotation critical path …");
const rotation = await benchRotation({ rotations: quick ? 2 : 7 });
log("exposure rotation under Azure's delays (scaled 1/60) …");
const delays = await benchDelays({ scale: 60, rotations: quick ? 1 : 3 });
log("inventory and list at scale …");
const inventory = await benchInventory(
  quick
    ? { subscriptions: 4, accountsPerSubscription: 50, armLatencyMs: 50, concurrency: 64 }
    : { subscriptions: 20, accountsPerSubscription: 250, armLatencyMs: 50, concurrency: 64 },
);

const rows: [string, string][] = [
  ["Slack ack: requests (concurrent)", String(slack.requests)],
  ["Slack ack: p50 / p99 / max", `${slack.p50Ms} / ${slack.p99Ms} / ${slack.maxMs} ms`],
  ["Slack ack: non-2xx answers", String(slack.non2xx)],
  ["Slack: replies on response_url", `${slack.replies} of ${slack.requests}`],
  ["Slack ack: p50 of one command at a time (idle bot)", `${slack.aloneP50Ms} ms`],
  [
    `list: ${inventory.accounts} accounts in ${inventory.subscriptions} subscriptions`,
    `${inventory.list.seconds} s (minimum ${inventory.list.minimumSeconds} s, ${inventory.list.bound}; ×${inventory.list.ratio}) — ${inventory.list.requests} ARM requests`,
  ],
  [
    `inventory of ${inventory.accounts} accounts (${inventory.concurrency} at a time)`,
    `${inventory.inventory.seconds} s (minimum ${inventory.inventory.minimumSeconds} s, ${inventory.inventory.bound}; ×${inventory.inventory.ratio}) — ${inventory.inventory.requests} ARM requests, ${inventory.inventory.failed} failed`,
  ],
  ["peak RSS (simulator + keyturn in one process)", `${inventory.peakRssMiB} MiB`],
  [
    `rotation approval → old key dead (median of ${rotation.rotations})`,
    `${rotation.wallMedianMs} ms, of which Azure calls ${rotation.azureBusyMedianMs} ms`,
  ],
  [
    "rotation: keyturn's own overhead (median)",
    `${rotation.overheadMedianMs} ms (each: ${rotation.overheadMs.join(", ")}; ${rotation.paused} paused by the cutover gate, not counted)`,
  ],
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
  ["store: single-event commits (WAL, synchronous=FULL)", `${store.singleCommitsPerSecond} /s`],
  [
    `store: build a ${store.chainEvents.toLocaleString("en")}-event chain (batched)`,
    `${store.buildSeconds} s (${store.buildEventsPerSecond} events/s)`,
  ],
  [
    `store: verify ${store.chainEvents.toLocaleString("en")} events`,
    `${store.verifySeconds} s (${store.verifyOk ? "ok" : "FAILED"})`,
  ],
];
const width = Math.max(...rows.map(([k]) => k.length));
log("");
for (const [k, v] of rows) log(`${k.padEnd(width)}  ${v}`);
const seconds = Math.round((Date.now() - started.getTime()) / 1000);
log(`\n(${seconds} s in all)`);

// a quick run is a smoke test of the benchmarks themselves: its numbers are not figures to keep
if (!quick) {
  const dir = join(process.cwd(), "bench", "results");
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, "latest.json"),
    JSON.stringify(
      { at: started.toISOString(), machine: m, seconds, slack, inventory, rotation, delays, store },
      null,
      2,
    ) + "\n",
  );
}
