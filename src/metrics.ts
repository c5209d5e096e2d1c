/**
 * keyturn's Prometheus metrics (prom-client), served at GET /metrics. One registry per process, as
 * prom-client intends: the Azure pipeline, the chat queue and the chat adapters record into it from
 * where the thing happens, and the gauges that describe the store are read when Prometheus scrapes.
 *
 * Labels are bounded sets only: step kinds, change states, platforms, HTTP status codes and Azure
 * operation templates. Never a key, a change id, an account name or anything a person typed.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import { OPEN_STATES, type ChangeState } from "./core/domain.js";
import { keyturnVersion } from "./keyturn-version.js";

export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: "keyturn_" });

export const METRICS_CONTENT_TYPE = registry.contentType;

/** What the store-backed gauges read at scrape time (attached by the composition root). */
export interface MetricsSources {
  /** Open changes with the time they paused (null unless paused). */
  openChanges(): Promise<readonly { state: ChangeState; pausedAt: string | null }[]>;
  /** Whether this process holds the runner lease, and the lease as the store has it. */
  lease(): Promise<{ held: boolean; token: number | null; expiresAt: string | null }>;
  /** Accounts whose key is overdue for rotation, as last counted (null: not counted yet). */
  overdue(): { count: number; checkedAt: Date } | null;
  now(): Date;
}

let sources: MetricsSources | null = null;

/** Binds the gauges to one running keyturn; returns the detach. */
export function attachMetricsSources(s: MetricsSources): () => void {
  sources = s;
  return () => {
    if (sources === s) sources = null;
  };
}

new Gauge({
  name: "keyturn_changes_open",
  help: "Open changes by state (requested, awaiting_approval, approved, running, paused).",
  labelNames: ["state"],
  registers: [registry],
  async collect() {
    this.reset();
    if (!sources) return;
    const counts = new Map<string, number>(OPEN_STATES.map((s) => [s, 0]));
    for (const c of await sources.openChanges()) counts.set(c.state, (counts.get(c.state) ?? 0) + 1);
    for (const [state, n] of counts) this.set({ state }, n);
  },
});

new Gauge({
  name: "keyturn_approvals_waiting",
  help: "Changes waiting for approval (requested or awaiting_approval).",
  registers: [registry],
  async collect() {
    const open = (await sources?.openChanges()) ?? [];
    this.set(open.filter((c) => c.state === "requested" || c.state === "awaiting_approval").length);
  },
});

new Gauge({
  name: "keyturn_change_paused_longest_seconds",
  help: "How long the longest-paused open change has been paused (0 when none is paused).",
  registers: [registry],
  async collect() {
    if (!sources) return this.set(0);
    const now = sources.now().getTime();
    let longest = 0;
    for (const c of await sources.openChanges()) {
      if (c.state !== "paused" || !c.pausedAt) continue;
      const t = Date.parse(c.pausedAt);
      if (!Number.isNaN(t)) longest = Math.max(longest, (now - t) / 1000);
    }
    this.set(longest);
  },
});

new Gauge({
  name: "keyturn_keys_overdue",
  help: "Accounts whose key is overdue for rotation (counted every few minutes by the runner; -1 before the first count).",
  registers: [registry],
  collect() {
    this.set(sources?.overdue()?.count ?? -1);
  },
});

new Gauge({
  name: "keyturn_keys_overdue_checked_timestamp_seconds",
  help: "When keyturn_keys_overdue was last counted (Unix time; 0 before the first count).",
  registers: [registry],
  collect() {
    const o = sources?.overdue();
    this.set(o ? o.checkedAt.getTime() / 1000 : 0);
  },
});

new Gauge({
  name: "keyturn_runner_lease_held",
  help: "1 when this process holds the runner lease (it runs steps and timers), 0 when it stands by.",
  registers: [registry],
  async collect() {
    this.set((await sources?.lease())?.held ? 1 : 0);
  },
});

new Gauge({
  name: "keyturn_runner_lease_fencing_token",
  help: "The runner lease's fencing token as the store has it: it grows by one at every take-over.",
  registers: [registry],
  async collect() {
    this.set((await sources?.lease())?.token ?? 0);
  },
});

new Gauge({
  name: "keyturn_runner_lease_expiry_timestamp_seconds",
  help: "When the current runner lease expires unless renewed (Unix time; 0 when there is none).",
  registers: [registry],
  async collect() {
    const at = (await sources?.lease())?.expiresAt;
    this.set(at ? Date.parse(at) / 1000 : 0);
  },
});

const transitions = new Counter({
  name: "keyturn_change_transitions_total",
  help: "Changes entering a state (completed, paused, rolled_back, rejected, expired, cancelled, …).",
  labelNames: ["state"],
  registers: [registry],
});

const stepDuration = new Histogram({
  name: "keyturn_step_duration_seconds",
  help: "How long a rotation step took from its start to its outcome, by step kind and outcome.",
  labelNames: ["kind", "outcome"],
  buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600],
  registers: [registry],
});

const azureRequests = new Counter({
  name: "keyturn_azure_requests_total",
  help: "Azure requests (every attempt, retries included) by operation, HTTP status and whether Azure throttled it.",
  labelNames: ["operation", "method", "status", "throttled"],
  registers: [registry],
});

const azureDuration = new Histogram({
  name: "keyturn_azure_request_duration_seconds",
  help: "Azure request latency per attempt, by operation.",
  labelNames: ["operation", "method"],
  buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers: [registry],
});

const chatPostFailures = new Counter({
  name: "keyturn_chat_post_failures_total",
  help: "Chat posts that failed, by platform and what keyturn did next (retrying, gave_up).",
  labelNames: ["platform", "outcome"],
  registers: [registry],
});

const chatAck = new Histogram({
  name: "keyturn_chat_ack_duration_seconds",
  help: "Time from a Slack or Teams request's arrival to keyturn's acknowledgement (Slack gives up at 3 s).",
  labelNames: ["platform"],
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5],
  registers: [registry],
});

new Gauge({
  name: "keyturn_build_info",
  help: "Always 1; the label says which keyturn version runs.",
  labelNames: ["version"],
  registers: [registry],
}).set({ version: buildVersion() }, 1);

const STEP_OUTCOMES = new Set(["succeeded", "failed", "gate_failed"]);
const PLATFORMS = new Set(["slack", "teams", "console"]);
const STATES = new Set<string>([
  ...OPEN_STATES,
  "completed",
  "completed_with_findings",
  "rejected",
  "expired",
  "cancelled",
  "rolled_back",
]);
const bounded = (v: string, allowed: ReadonlySet<string>): string => (allowed.has(v) ? v : "other");
/** Step kinds are keyturn's own identifiers; anything else is folded so a label set cannot grow. */
const stepKind = (k: string): string => (/^[a-z][a-z_]{0,39}$/.test(k) ? k : "other");

export function recordTransition(state: string): void {
  transitions.inc({ state: bounded(state, STATES) });
}

export function recordStep(kind: string, outcome: string, seconds: number): void {
  if (!(seconds >= 0)) return;
  stepDuration.observe({ kind: stepKind(kind), outcome: bounded(outcome, STEP_OUTCOMES) }, seconds);
}

export function recordAzureCall(
  operation: string,
  method: string,
  status: number | "network_error",
  seconds: number,
): void {
  const m = /^[A-Z]{3,7}$/.test(method) ? method : "OTHER";
  azureRequests.inc({
    operation,
    method: m,
    status: String(status),
    throttled: status === 429 ? "true" : "false",
  });
  azureDuration.observe({ operation, method: m }, seconds);
}

export function recordChatPostFailure(platform: string, outcome: "retrying" | "gave_up"): void {
  chatPostFailures.inc({ platform: bounded(platform, PLATFORMS), outcome });
}

/**
 * One chat acknowledgement: the time from a request's arrival to the answer that acknowledges it.
 * Served HTTP requests are timed by the composition root; a Socket Mode ack (no HTTP request)
 * can be reported here by the adapter that sends it.
 */
export function observeChatAck(platform: "slack" | "teams", seconds: number): void {
  if (seconds >= 0) chatAck.observe({ platform }, seconds);
}

export function metricsText(): Promise<string> {
  return registry.metrics();
}

function buildVersion(): string {
  const v = keyturnVersion() ?? "";
  return /^[0-9A-Za-z.+-]{1,40}$/.test(v) ? v : "unknown";
}
