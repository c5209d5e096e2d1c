/**
 * Where the metrics come from, wired by the composition root: a store that reports what each commit
 * changed (state transitions, step outcomes and their durations, as metrics and as trace spans),
 * the gauges' view of the store and the lease, and a periodic count of overdue keys.
 */
import { trace, SpanStatusCode } from "@opentelemetry/api";
import type { Account, Change, StepEvidence } from "./core/domain.js";
import type { AsyncStore, ChangeCommit, Logger, NewEvent } from "./core/ports.js";
import { recordStep, recordTransition, type MetricsSources } from "./metrics.js";

const PAUSING_EVENTS = new Set(["step_failed", "revalidation_failed"]);

/**
 * The same store, whose commits also report to the metrics: a transition is counted when a commit
 * moves a change to another state, a step's duration when its outcome is recorded. Reporting never
 * fails a commit.
 */
export function observedStore(store: AsyncStore, logger: Logger): AsyncStore {
  const observe = (before: string | undefined, change: Change | null, events: readonly NewEvent[]) => {
    try {
      if (change && before !== change.state) recordTransition(change.state);
      for (const e of events) observeStep(e);
    } catch (e) {
      logger.warn({ err: e }, "metrics: could not record a commit");
    }
  };
  const commit: AsyncStore["commit"] = async (change, events, opts) => {
    const before = change ? (await store.getChange(change.id))?.state : undefined;
    const stored = await store.commit(change, events, opts);
    observe(before, change, events);
    return stored;
  };
  const commitOn: AsyncStore["commitOn"] = async (id, decide, opts) => {
    let decided: ChangeCommit | null = null;
    const current = await store.commitOn(id, (c) => (decided = decide(c)), opts);
    const d = decided as ChangeCommit | null;
    if (current && d) observe(current.state, d.change, d.events);
    return current;
  };
  // every other method as the store has it (a class's methods live on its prototype: no spread)
  return new Proxy(store, {
    get(target, prop) {
      if (prop === "commit") return commit;
      if (prop === "commitOn") return commitOn;
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

const tracer = trace.getTracer("keyturn");

function observeStep(e: NewEvent): void {
  if (e.type !== "step_succeeded" && e.type !== "step_failed") return;
  const p = e.payload as { evidence?: StepEvidence; code?: string };
  const ev = p.evidence;
  if (!ev) return;
  const started = Date.parse(ev.startedAt);
  const ended = Date.parse(e.at);
  // a step whose start was never recorded carries the epoch: no duration to report
  if (!(started > 0) || Number.isNaN(ended)) return;
  const outcome =
    e.type === "step_succeeded" ? "succeeded" : p.code === "gate_failed" ? "gate_failed" : "failed";
  recordStep(ev.kind, outcome, (ended - started) / 1000);
  // one span per step, from its recorded start to its outcome (a no-op unless tracing is on)
  const span = tracer.startSpan(`keyturn.step ${ev.kind}`, {
    startTime: new Date(started),
    attributes: {
      "keyturn.change.id": e.changeId ?? "",
      "keyturn.step.index": ev.index,
      "keyturn.step.kind": ev.kind,
      "keyturn.step.outcome": outcome,
    },
  });
  if (outcome !== "succeeded") span.setStatus({ code: SpanStatusCode.ERROR, message: p.code ?? outcome });
  span.end(new Date(ended));
}

/** The gauges' view: open changes (with when a paused one paused), the lease, the overdue count. */
export function storeSources(
  store: AsyncStore,
  held: () => boolean,
  overdue: OverdueCount | null,
  now: () => Date = () => new Date(),
): MetricsSources {
  return {
    openChanges: async () =>
      Promise.all(
        (await store.listChanges({ open: true })).map(async (c: Change) => ({
          state: c.state,
          pausedAt: c.state === "paused" ? await pausedAt(store, c.id) : null,
        })),
      ),
    async lease() {
      const l = await store.runnerLease();
      return { held: held(), token: l?.token ?? null, expiresAt: l?.expiresAt ?? null };
    },
    overdue: () => overdue?.last ?? null,
    now,
  };
}

async function pausedAt(store: AsyncStore, changeId: string): Promise<string | null> {
  const events = await store.events({ changeId });
  for (let i = events.length - 1; i >= 0; i--) if (PAUSING_EVENTS.has(events[i]!.type)) return events[i]!.at;
  return null;
}

/**
 * Counts accounts whose key is overdue every few minutes, off the scrape path (a scrape never waits
 * for Azure). Only the runner counts, so replicas do not list every subscription each.
 */
export class OverdueCount {
  last: { count: number; checkedAt: Date } | null = null;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;

  constructor(
    private readonly listAccounts: () => Promise<Account[]>,
    private readonly isOverdue: (a: Account) => Promise<boolean>,
    private readonly counts: () => boolean,
    private readonly logger: Logger,
    private readonly everyMs = 300_000,
  ) {}

  start(): void {
    this.#timer = setInterval(() => void this.refresh(), this.everyMs);
    this.#timer.unref();
    void this.refresh();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  refresh(): Promise<void> {
    if (!this.counts()) return Promise.resolve();
    this.#running ??= (async () => {
      try {
        const accounts = await this.listAccounts();
        const overdue = await Promise.all(accounts.map((a) => this.isOverdue(a)));
        this.last = { count: overdue.filter(Boolean).length, checkedAt: new Date() };
      } catch (e) {
        this.logger.warn({ err: e }, "metrics: could not count overdue keys; trying again later");
      } finally {
        this.#running = null;
      }
    })();
    return this.#running;
  }
}
