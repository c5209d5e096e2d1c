/**
 * What an operator's Prometheus and trace collector see while keyturn (the built program) rotates a
 * key against the standalone simulator, as against real Azure: GET /metrics in the Prometheus text
 * format before approval, mid-rotation and after completion (changes by state, approvals waiting,
 * step durations, Azure calls with a throttled one, a failed chat post, the lease, ack latency),
 * never a key, an account name or a change id in it; and the steps' and Azure calls' spans at an
 * OTLP/HTTP endpoint configured with the standard OpenTelemetry variables.
 */
import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SLACK_IDS, type ChaosKeyturn } from "../support/chaos-keyturn.js";
import { waitUntil } from "../support/spawn-keyturn.js";
import { startStandaloneRig, translator, type StandaloneRig } from "../support/standalone-rig.js";

let rig: StandaloneRig;
let sim: StandaloneRig["sim"];
let kt: ChaosKeyturn;
let otlp: Server;
const spanNames: string[] = [];

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The Prometheus text exposition format, as a scraper parses it (comments skipped). */
function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

async function scrape(): Promise<{ text: string; samples: Sample[] }> {
  const r = await fetch(`${kt.kt!.url}/metrics`);
  expect(r.status).toBe(200);
  expect(r.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
  const text = await r.text();
  return { text, samples: parseExposition(text) };
}

const value = (samples: Sample[], name: string, labels: Record<string, string> = {}): number =>
  samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);

const theChange = () => rig.theChange();

beforeAll(async () => {
  // a trace collector: OTLP/HTTP with JSON bodies
  otlp = createServer((req, res) => {
    let body = "";
    req.on("data", (d: Buffer) => (body += d.toString()));
    req.on("end", () => {
      if (req.url === "/v1/traces") {
        const doc = JSON.parse(body) as {
          resourceSpans?: { scopeSpans?: { spans?: { name: string }[] }[] }[];
        };
        for (const rs of doc.resourceSpans ?? [])
          for (const ss of rs.scopeSpans ?? []) for (const s of ss.spans ?? []) spanNames.push(s.name);
      }
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((r) => otlp.listen(0, "127.0.0.1", r));
  const port = (otlp.address() as { port: number }).port;
  rig = await startStandaloneRig("metrics", {
    env: () => ({
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_BSP_SCHEDULE_DELAY: "100",
    }),
  });
  ({ sim } = rig);
  kt = rig.processes[0]!;
});

afterAll(async () => {
  await rig?.close();
  await new Promise((r) => otlp?.close(r));
});

describe("GET /metrics and traces during a rotation", () => {
  it("says what a rotation is doing, in bounded labels, and exports its spans", async () => {
    const before = await scrape();
    expect(value(before.samples, "keyturn_runner_lease_held")).toBe(1);
    expect(value(before.samples, "keyturn_runner_lease_fencing_token")).toBeGreaterThanOrEqual(1);
    expect(value(before.samples, "keyturn_changes_open", { state: "running" })).toBe(0);

    // the first regenerate takes 3 s (so the rotation is seen mid-way); one listKeys is throttled; the
    // thread's first reply fails on Slack's side
    await sim.admin("POST", "/faults", {
      match: { operation: "regenerateKey" },
      effect: { type: "latency", ms: 3000 },
      times: 1,
    });
    await sim.admin("POST", "/faults", {
      match: { operation: "listKeys" },
      effect: { type: "throttle", retryAfterSeconds: 1 },
      times: 1,
    });

    await kt.command(SLACK_IDS.alice, `rotate ${translator.name} --reason "metrics under way"`);
    const requested = await waitUntil("the change to await approval", () =>
      theChange()?.state === "awaiting_approval" ? theChange() : undefined,
    );
    const waiting = await scrape();
    expect(value(waiting.samples, "keyturn_approvals_waiting")).toBe(1);
    expect(value(waiting.samples, "keyturn_changes_open", { state: "awaiting_approval" })).toBe(1);

    kt.slack.failNext("chat.postMessage", { error: "internal_error" });
    for (const who of [SLACK_IDS.bob, SLACK_IDS.carol]) await kt.command(who, `approve ${requested.id}`);

    // mid-rotation: Azure is regenerating key2
    await waitUntil(
      "the regenerate to be in flight",
      () => kt.events(requested.id).some((e) => e.type === "effect_intent"),
      30_000,
    );
    const during = await scrape();
    expect(value(during.samples, "keyturn_changes_open", { state: "running" })).toBe(1);
    expect(value(during.samples, "keyturn_approvals_waiting")).toBe(0);
    expect(
      value(during.samples, "keyturn_step_duration_seconds_count", {
        kind: "preflight",
        outcome: "succeeded",
      }),
    ).toBe(1);

    const done = await waitUntil(
      "the rotation to finish",
      () => {
        const c = theChange();
        return c && ["completed", "paused", "rolled_back"].includes(c.state) ? c : undefined;
      },
      90_000,
    );
    expect(done.state, done.pause?.message ?? "").toBe("completed");

    const after = await scrape();
    const s = after.samples;
    for (const state of ["requested", "awaiting_approval", "approved", "running", "paused"])
      expect(value(s, "keyturn_changes_open", { state })).toBe(0);
    expect(value(s, "keyturn_change_transitions_total", { state: "completed" })).toBe(1);
    expect(value(s, "keyturn_change_transitions_total", { state: "running" })).toBe(1);
    // every step of the plan has its duration, by kind
    for (const step of done.plan.steps)
      expect(
        value(s, "keyturn_step_duration_seconds_count", { kind: step.kind, outcome: "succeeded" }),
        step.kind,
      ).toBeGreaterThanOrEqual(1);
    // the slow regenerate is in its step's duration
    expect(value(s, "keyturn_step_duration_seconds_sum", { kind: "regenerate_standby" })).toBeGreaterThan(
      2.9,
    );
    // Azure calls by operation and status: two regenerations, one throttled listKeys and its retry
    const regen = "microsoft.cognitiveservices/accounts/regeneratekey";
    expect(value(s, "keyturn_azure_requests_total", { operation: regen, status: "200" })).toBe(2);
    const listKeys = "microsoft.cognitiveservices/accounts/listkeys";
    expect(
      value(s, "keyturn_azure_requests_total", { operation: listKeys, status: "429", throttled: "true" }),
    ).toBe(1);
    expect(value(s, "keyturn_azure_requests_total", { operation: listKeys, status: "200" })).toBeGreaterThan(
      0,
    );
    expect(value(s, "keyturn_azure_requests_total", { operation: "keyvault/secrets" })).toBeGreaterThan(0);
    // the failed Slack post, by platform
    expect(value(s, "keyturn_chat_post_failures_total", { platform: "slack" })).toBeGreaterThanOrEqual(1);
    // every slash command was acknowledged and timed
    expect(value(s, "keyturn_chat_ack_duration_seconds_count", { platform: "slack" })).toBeGreaterThanOrEqual(
      3,
    );
    expect(value(s, "keyturn_runner_lease_held")).toBe(1);

    // bounded labels only: no key, no account or secret name, no change id, no user text
    const keys = await sim.liveKeys(translator.id);
    for (const secret of [
      keys.key1,
      keys.key2,
      translator.name,
      translator.secret,
      done.id,
      "metrics under way",
    ])
      expect(after.text).not.toContain(secret);
    // keyturn's own metrics (Node's process metrics aside) carry only these labels
    const own = s.filter((x) => !/^keyturn_(process|nodejs)_/.test(x.name));
    const labelKeys = new Set(own.flatMap((x) => Object.keys(x.labels)));
    const bounded = [
      "state",
      "kind",
      "outcome",
      "operation",
      "method",
      "status",
      "throttled",
      "platform",
      "le",
      "version",
    ];
    for (const k of labelKeys) expect(bounded).toContain(k);

    // the spans reached the collector: one per step, one per Azure attempt
    await waitUntil(
      "the spans at the collector",
      () =>
        spanNames.includes("keyturn.step regenerate_standby") &&
        spanNames.includes(`azure ${regen}`) &&
        spanNames.includes("keyturn.step complete"),
      10_000,
    );
  });
});
