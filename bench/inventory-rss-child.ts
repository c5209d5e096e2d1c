/**
 * The keyturn side of the memory benchmark, in a process of its own: the whole program
 * (`startKeyturn`, as `keyturn start` runs it) pointed by configuration at a standalone simulated
 * tenant, then `list` and an `inventory` of every account through keyturn's own service, as an
 * auditor would type them, 64 at a time with the subscriptions taken in turn. Prints one JSON line
 * with its peak resident set (VmHWM, and a sampled peak) when done.
 */
import { readFileSync } from "node:fs";
import type { Principal } from "../src/core/domain.js";
import { startKeyturn } from "../src/main.js";
import { rssSampler } from "./stats.js";

interface Job {
  /** `subscription/resource-group/name` of every account, in the order to take them. */
  accounts: string[];
  concurrency: number;
}

const job = JSON.parse(readFileSync(process.argv[2] ?? "", "utf8")) as Job;
const rss = rssSampler(25);
const kt = await startKeyturn({ console: false });
const readyMiB = Math.round(process.memoryUsage.rss() / 2 ** 20);
const erin: Principal = {
  platform: "console",
  id: "console:erin",
  displayName: "Erin Cho",
  identities: ["console:erin"],
};
const inv = { principal: erin, channel: { platform: "console" as const, id: "bench" } };
const t0 = Date.now();
const listed = await kt.engine.service.handleText(inv, "list");
const rssAfterList = process.memoryUsage.rss();
let failed = 0;
const queue = [...job.accounts];
await Promise.all(
  Array.from({ length: job.concurrency }, async () => {
    for (let a = queue.shift(); a; a = queue.shift()) {
      const r = await kt.engine.service.handleText(inv, `inventory ${a}`);
      if (r.message.tone === "danger") failed++;
    }
  }),
);
const seconds = (Date.now() - t0) / 1000;
const peak = rss.stop();
const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"))?.[1];
process.stdout.write(
  JSON.stringify({
    listedRows: (listed.message.text ?? "").length > 0,
    failed,
    seconds,
    peakRssMiB: peak,
    hwmMiB: hwm ? Math.round(Number(hwm) / 1024) : null,
    readyMiB,
    afterListMiB: Math.round(rssAfterList / 2 ** 20),
    heapUsedMiB: Math.round(process.memoryUsage().heapUsed / 2 ** 20),
  }) + "\n",
);
await kt.close();
process.exit(0);
