/**
 * `node dist/bench/ack-profile.js [--in-process] [--requests N] [--out DIR]`: the built keyturn under
 * `node --cpu-prof`, a burst of signed slash commands, then a summary of where its CPU went (by
 * self time, grouped: keyturn's code, Bolt/express, the Azure SDK, Node's own internals). The
 * `.cpuprofile` stays in DIR for Chrome DevTools. The simulated tenant runs in its own process unless
 * --in-process.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { FakeSlack } from "../test/fakes/slack-api.js";
import { azureEnv, startStandaloneSimulator } from "../test/support/chaos-kit.js";
import { stopChild } from "../test/support/spawn-keyturn.js";
import { BENCH_USERS, commandBodies, fire, repliesFor } from "./slack-burst.js";

interface Node {
  id: number;
  callFrame: { functionName: string; url: string };
  hitCount?: number;
}

/** Samples by self time, grouped by where the code lives. */
export function summarise(
  profilePath: string,
  window?: { fromUs: number; toUs: number },
): { group: string; share: number }[] {
  return profileShares(profilePath, window).groups;
}

/** Shares of the samples in `window`: by group, and the functions with the most self time. */
export function profileShares(
  profilePath: string,
  window?: { fromUs: number; toUs: number },
): { groups: { group: string; share: number }[]; top: { fn: string; share: number }[] } {
  const p = JSON.parse(readFileSync(profilePath, "utf8")) as {
    nodes: Node[];
    samples: number[];
    startTime: number;
    timeDeltas: number[];
  };
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const groups = new Map<string, number>();
  const fns = new Map<string, number>();
  // V8 stamps samples with the monotonic clock process.hrtime reads: the burst's window selects them
  let at = p.startTime;
  const inWindow = p.samples.filter((_, i) => {
    at += p.timeDeltas[i] ?? 0;
    return !window || (at >= window.fromUs && at <= window.toUs);
  });
  for (const id of inWindow) {
    const n = byId.get(id);
    const url = n?.callFrame.url ?? "";
    const fn = n?.callFrame.functionName ?? "";
    const group =
      fn === "(idle)"
        ? "idle"
        : fn === "(garbage collector)"
          ? "garbage collector"
          : fn === "(program)"
            ? "native (program)"
            : /node_modules\/(@slack|express|body-parser|raw-body|router)/.test(url)
              ? "Bolt / express"
              : /node_modules\/@azure/.test(url)
                ? "Azure SDK"
                : /node_modules\/(axios|undici|follow-redirects|form-data)/.test(url)
                  ? "HTTP clients (axios, undici)"
                  : /node_modules\//.test(url)
                    ? "other dependencies"
                    : /\/dist\//.test(url)
                      ? "keyturn"
                      : url.startsWith("node:")
                        ? `Node: ${/^node:(?:internal\/)?([^/]+)/.exec(url)?.[1] ?? ""}`
                        : `other ${fn || "(anonymous)"}`;
    groups.set(group, (groups.get(group) ?? 0) + 1);
    const where = `${fn || "(anonymous)"} ${url.replace(/.*node_modules\//, "").replace(/.*\/dist\//, "dist/")}`;
    fns.set(where, (fns.get(where) ?? 0) + 1);
  }
  const total = inWindow.length || 1;
  const shares = <K extends string>(m: Map<string, number>, key: K) =>
    [...m.entries()]
      .map(
        ([k, n]) =>
          ({ [key]: k, share: Math.round((1000 * n) / total) / 10 }) as Record<K, string> & { share: number },
      )
      .sort((a, b) => b.share - a.share);
  return { groups: shares(groups, "group"), top: shares(fns, "fn").slice(0, 25) };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      "in-process": { type: "boolean", default: false },
      requests: { type: "string", default: "200" },
      out: { type: "string" },
    },
  });
  const n = Number(values.requests);
  const dir = mkdtempSync(join(tmpdir(), "keyturn-ack-profile-"));
  const out = values.out ?? join(dir, "prof");
  mkdirSync(out, { recursive: true });
  const secret = "profile-signing-secret";
  const slack = await new FakeSlack().start();
  const sim = values["in-process"] ? null : await startStandaloneSimulator(dir);
  const env = {
    PATH: process.env.PATH ?? "",
    HOME: process.env.HOME ?? "",
    PORT: "0",
    KEYTURN_CONSOLE: "off",
    LOG_LEVEL: "warn",
    KEYTURN_DATA_DIR: join(dir, "data"),
    SLACK_BOT_TOKEN: "xoxb-profile",
    SLACK_SIGNING_SECRET: secret,
    SLACK_API_URL: slack.apiUrl,
    SLACK_BOT_USER_ID: "U0KEYTURN",
    SLACK_TEAM_ID: "T0CONTOSO",
    ...(sim
      ? {
          ...azureEnv(sim),
          KEYTURN_POLICY_FILE: new URL("../../src/sandbox/scenarios/default-policy.yaml", import.meta.url)
            .pathname,
        }
      : { KEYTURN_SANDBOX: "1" }),
  };
  const child = spawn(process.execPath, ["--cpu-prof", "--cpu-prof-dir", out, "dist/src/cli.js", "start"], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  child.stdout.on("data", (d: Buffer) => (log += d.toString()));
  child.stderr.on("data", (d: Buffer) => (log += d.toString()));
  let window: { fromUs: number; toUs: number } | undefined;
  let ackWindow: { fromUs: number; toUs: number } | undefined;
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`keyturn did not start:\n${log}`)), 60_000);
    child.stdout.on("data", () => {
      const m = /keyturn ready on (http:\/\/127\.0\.0\.1:\d+)/.exec(log);
      if (m) {
        clearTimeout(t);
        resolve(`${m[1]}/slack/events`);
      }
    });
  });
  try {
    // warm-up as the benchmark does it: each user once (their identity is then known, so help is
    // answered in the acknowledgement)
    await fire(url, commandBodies(slack, BENCH_USERS.length * 2, "warm"), secret);
    await repliesFor(slack, "warm", BENCH_USERS.length, 15_000);
    const fromUs = Number(process.hrtime.bigint() / 1000n);
    const burst = await fire(url, commandBodies(slack, n, "b"), secret);
    // the acknowledgements alone: from the burst to its last HTTP answer
    ackWindow = { fromUs, toUs: Number(process.hrtime.bigint() / 1000n) };
    // the window ends when every reply has arrived (a status's work is in it), so no work is cut off by the stop
    await repliesFor(slack, "b", n - burst.answeredInAck, 30_000);
    window = { fromUs, toUs: Number(process.hrtime.bigint() / 1000n) };
    process.stdout.write(`burst of ${n}: ${JSON.stringify(burst)}\n`);
  } finally {
    await stopChild(child);
    await sim?.stop();
    await slack.stop();
  }
  const file = readdirSync(out).find((f) => f.endsWith(".cpuprofile"));
  if (!file) throw new Error(`no profile written in ${out}:\n${log}`);
  process.stdout.write(`profile: ${join(out, file)}\n`);
  const { groups, top } = profileShares(join(out, file), window);
  for (const g of groups) process.stdout.write(`${String(g.share).padStart(5)}%  ${g.group}\n`);
  process.stdout.write("\nfunctions by self time:\n");
  for (const f of top) process.stdout.write(`${String(f.share).padStart(5)}%  ${f.fn}\n`);
  const acks = profileShares(join(out, file), ackWindow);
  process.stdout.write(`\nfrom the burst to its last acknowledgement only (${JSON.stringify(ackWindow)}):\n`);
  for (const g of acks.groups) process.stdout.write(`${String(g.share).padStart(5)}%  ${g.group}\n`);
  process.stdout.write("\nfunctions by self time (acknowledgements only):\n");
  for (const f of acks.top) process.stdout.write(`${String(f.share).padStart(5)}%  ${f.fn}\n`);
  if (!values.out) rmSync(dir, { recursive: true, force: true });
}

if (process.argv[1]?.endsWith("ack-profile.js")) await main();
