/**
 * The durable runner. Every state change is an event committed to the store (with the change's read
 * model, in one transaction) BEFORE its effects run; a step records `step_started` (its intent)
 * before acting and its result after. After a crash, `recover()` resumes open changes from the
 * store; steps re-check live state before any non-idempotent effect.
 */
import { randomUUID } from "node:crypto";
import type { Change, StepEvidence } from "../core/domain.js";
import { isOpen, toRef } from "../core/domain.js";
import { isKeyturnError, KeyturnError } from "../core/errors.js";
import { buildPlan } from "../core/planner.js";
import { withBlockingNotes } from "./blocking-consumers.js";
import type { PolicyBook } from "../core/policy.js";
import { eligibility } from "../core/policy.js";
import type { AzurePorts, Clock, Logger, NewEvent, AsyncStore } from "../core/ports.js";
import type { Effect, TransitionResult, WorkflowEvent } from "../core/workflow.js";
import { transition } from "../core/workflow.js";
import type { ChatOut } from "./chat-out.js";
import { isLeaseLost } from "./runner-lease.js";
import { guardAzureWrites } from "../azure/write-guard.js";
import { SerialQueues } from "./serial.js";
import { witnessClose } from "./witness.js";
import type { StepContext, StepExecutor, StepResult } from "./steps/index.js";
import { GateFailed, rollbackSecrets, STEP_EXECUTORS } from "./steps/index.js";

export interface DriverDeps {
  readonly store: AsyncStore;
  readonly azure: AzurePorts;
  readonly policy: PolicyBook;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly chat: ChatOut;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Seconds before a transient Azure failure without a Retry-After is tried again (default 30). */
  readonly retryDelaySeconds?: number;
  /**
   * The fencing check before an effect on Azure (regenerate, publish, refresh): throws an error
   * named LeaseLost when this process is no longer the runner.
   */
  readonly fence?: () => Promise<void>;
  /** A commit or a fencing check was refused: this process must stop acting. */
  readonly onLeaseLost?: () => void;
}

/**
 * What people do (and where their thread is), recorded by any replica; everything else a change
 * records — steps, their intents and outcomes, timers' events — is the runner's, fenced by its lease.
 */
const COMMANDS: ReadonlySet<string> = new Set([
  "submitted",
  "approved",
  "rejected",
  "cancelled",
  // an approval window that passed: said to whoever tried to approve late, on any replica
  "expired",
  "resumed",
  "rollback_requested",
  "consumer_waived",
  "consumer_included",
  "thread_opened",
  "evidence_exported",
]);

/** The effects that are work for the runner (not chat posts or timers). */
export type Work = Extract<Effect, { type: "run_step" | "revalidate_plan" | "rollback" }>;

export const timerId = (changeId: string, kind: string, index?: number): string =>
  index === undefined ? `${changeId}:${kind}` : `${changeId}:${kind}:${index}`;

export class Driver {
  readonly #locks = new SerialQueues();
  readonly #background = new Set<Promise<unknown>>();
  readonly #stepping = new Set<string>();
  readonly #executors: Readonly<Record<string, StepExecutor>> = STEP_EXECUTORS;
  #stopped = false;
  /** On a standby replica: the work an event calls for goes to the runner instead of running here. */
  #forward: ((changeId: string, work: Work) => Promise<void>) | null = null;

  constructor(private readonly deps: DriverDeps) {}

  /**
   * Sends the work events call for (a step, a re-check of the plan, a rollback) to `to` instead of
   * running it in this process (a standby replica records commands; the runner acts). null: run it here.
   */
  forwardWork(to: ((changeId: string, work: Work) => Promise<void>) | null): void {
    this.#forward = to;
  }

  /** Starts work another replica recorded for this change (the runner picks it up). */
  startWork(changeId: string, work: Work): void {
    switch (work.type) {
      case "run_step":
        this.#spawn(changeId, () => this.runStep(changeId, work.index, work.phase));
        return;
      case "revalidate_plan":
        this.#spawn(changeId, () => this.revalidate(changeId));
        return;
      case "rollback":
        this.#spawn(changeId, () => this.#rollback(changeId));
        return;
    }
  }

  /** Applies one event to a change under its lock; commits; performs its effects. */
  apply(changeId: string, event: WorkflowEvent, actor?: string): Promise<TransitionResult> {
    return this.#locks.run(changeId, async () => {
      // read, decide and record in one transaction: another replica's command cannot slip in between
      let decided: TransitionResult | null = null;
      const change = await this.deps.store.commitOn(
        changeId,
        (current) => {
          const r = transition(current, event);
          decided = r;
          return r.ok ? { change: r.change, events: [this.#record(changeId, event, actor, r.change)] } : null;
        },
        { fenced: !COMMANDS.has(event.type) },
      );
      if (!change)
        return {
          ok: false,
          error: new KeyturnError(
            "unknown_change",
            `No change ${changeId}. Run \`list\` or \`history <account>\`.`,
          ),
        };
      const result = decided as TransitionResult | null;
      if (!result?.ok) return result!;
      for (const effect of result.effects) await this.#perform(result.change, effect);
      // the closing head goes to the thread: a witness of the log outside the database
      if (isOpen(change.state) && !isOpen(result.change.state))
        await witnessClose(this.deps.store, this.deps.chat, changeId, this.#now(), this.deps.logger);
      return result;
    });
  }

  /** Appends an event that does not move the state (intents, exports, chat facts), with the change's current read model. */
  note(
    changeId: string,
    type: string,
    payload: unknown,
    actor?: string,
    update?: (c: Change) => Change,
  ): Promise<void> {
    return this.#locks.run(changeId, async () => {
      const at = this.#now();
      await this.deps.store.commitOn(
        changeId,
        (change) => ({
          change: update ? update(change) : change,
          events: [{ changeId, type, at, actor: actor ?? "keyturn", payload }],
        }),
        { fenced: !COMMANDS.has(type) },
      );
    });
  }

  /** Resolves when no step, revalidation or rollback is running. */
  async idle(): Promise<void> {
    while (this.#background.size > 0) await Promise.allSettled([...this.#background]);
    await this.#locks.idle();
  }

  get busy(): boolean {
    return this.#background.size > 0 || this.#locks.pending > 0;
  }

  stop(): void {
    this.#stopped = true;
  }

  /** Lets a stopped driver run again (this process became the runner again). */
  activate(): void {
    this.#stopped = false;
  }

  /** After a restart: picks every open change up where the log says it was. */
  async recover(): Promise<void> {
    for (const c of await this.deps.store.listChanges({ open: true })) {
      const log = this.deps.logger.child({ changeId: c.id });
      switch (c.state) {
        case "requested":
          await this.apply(c.id, { type: "submitted", at: this.#now() });
          break;
        case "awaiting_approval":
          if (c.approvalDeadline)
            await this.deps.store.setTimer({
              id: timerId(c.id, "approval_expiry"),
              changeId: c.id,
              kind: "approval_expiry",
              dueAt: c.approvalDeadline,
            });
          break;
        case "approved":
          this.#spawn(c.id, () => this.revalidate(c.id));
          break;
        case "running": {
          const step = c.steps.find((s) => s.index === c.currentStep);
          const planned = c.plan.steps[c.currentStep];
          if (step?.actedAt && !step.finishedAt && planned) {
            const due = new Date(Date.parse(step.actedAt) + planned.waitSeconds * 1000).toISOString();
            await this.deps.store.setTimer({
              id: timerId(c.id, "step_wait", c.currentStep),
              changeId: c.id,
              kind: "step_wait",
              dueAt: due,
              payload: { index: c.currentStep },
            });
          } else {
            log.info({ step: c.currentStep }, "resuming a step interrupted by a restart");
            this.deps.chat.notice(
              c.id,
              `keyturn restarted; resuming ${c.id} at step ${c.currentStep + 1} (${planned?.title ?? ""}) after re-checking live keys.`,
              "info",
            );
            this.#spawn(c.id, () => this.runStep(c.id, c.currentStep, "act"));
          }
          break;
        }
        default:
          break;
      }
    }
  }

  /** Re-takes the inventory and rebuilds the plan before execution: approvals bind to the plan hash. */
  async revalidate(changeId: string): Promise<void> {
    const change = await this.deps.store.getChange(changeId);
    if (!change || change.state !== "approved") return;
    try {
      const account = await this.deps.azure.accounts.getAccount(change.accountId);
      const inventory = await this.deps.azure.inventory.take(account);
      const plan = withBlockingNotes(
        change.id,
        buildPlan({
          account,
          inventory,
          exposure: change.exposure,
          leakedSlot: change.leakedSlot,
          killNow: change.killNow,
          policy: change.policy,
          ...(change.plan.variant === "disable-local-auth" ? { variant: change.plan.variant } : {}),
        }),
        inventory.consumers,
      );
      await this.apply(changeId, { type: "plan_revalidated", at: this.#now(), plan, inventory });
    } catch (e) {
      if (isLeaseLost(e)) throw e;
      const message = isKeyturnError(e)
        ? e.userMessage
        : `internal error (ref ${this.#logInternal(e, changeId)})`;
      // a transient failure is retried by itself (a timer, so it survives restarts); the change never sits silently
      const retryable = isKeyturnError(e) && e.retryable;
      const retryAt = new Date(
        this.deps.clock.now().getTime() +
          ((isKeyturnError(e) ? e.details.retryAfterSeconds : undefined) ??
            this.deps.retryDelaySeconds ??
            30) *
            1000,
      );
      if (!retryable) {
        // a retry will not fix it (a missing permission, a deleted account): the change pauses with the reason
        await this.apply(changeId, {
          type: "revalidation_failed",
          at: this.#now(),
          code: isKeyturnError(e) ? e.code : "internal",
          message: `${message}${/\bresume\b/i.test(message) ? "" : ` Then \`resume ${changeId}\`.`} Nothing has been changed yet.`,
        });
        return;
      }
      await this.deps.store.setTimer({
        id: timerId(changeId, "revalidate"),
        changeId,
        kind: "revalidate",
        dueAt: retryAt.toISOString(),
      });
      this.deps.chat.notice(
        changeId,
        `Could not re-check the plan before starting ${changeId}: ${message} keyturn tries again at ${retryAt.toISOString().slice(11, 19)} UTC, or run \`resume ${changeId}\` to try now.`,
        "danger",
      );
    }
  }

  /** Runs one phase of one step; its outcome becomes the next event. */
  async runStep(changeId: string, index: number, phase: "act" | "check"): Promise<void> {
    if (this.#stopped) return;
    const key = `${changeId}:${index}`;
    if (this.#stepping.has(key)) return;
    this.#stepping.add(key);
    try {
      if (phase === "act") {
        const started = await this.apply(changeId, { type: "step_started", at: this.#now(), index });
        if (!started.ok) return;
      }
      const change = await this.deps.store.getChange(changeId);
      const planned = change?.plan.steps[index];
      if (!change || !planned || change.state !== "running") return;
      const executor = this.#executors[planned.kind]!;
      const base = change.steps.find((s) => s.index === index);
      try {
        const ctx = await this.#context(change, index);
        if (phase === "act") {
          const acted = await executor.act(ctx);
          const evidence = merge(base, change, index, acted);
          if (executor.check && planned.waitSeconds > 0) {
            await this.apply(changeId, { type: "step_acted", at: this.#now(), index, evidence });
            return;
          }
          const checked = executor.check ? await executor.check(ctx, evidence) : {};
          await this.#succeed(
            changeId,
            index,
            merge(evidence, change, index, checked),
            checked.alert ?? acted.alert,
          );
        } else {
          const acted = base ?? merge(undefined, change, index, {});
          const checked = await executor.check!(ctx, acted);
          await this.#succeed(changeId, index, merge(acted, change, index, checked), checked.alert);
        }
      } catch (e) {
        // a deposed runner records nothing, not even the failure: the new runner re-checks live state
        if (isLeaseLost(e)) throw e;
        await this.#fail(changeId, index, base, change, e);
      }
    } finally {
      this.#stepping.delete(key);
    }
  }

  async #succeed(changeId: string, index: number, evidence: StepEvidence, alert?: string): Promise<void> {
    await this.apply(changeId, { type: "step_succeeded", at: this.#now(), index, evidence });
    if (alert) this.deps.chat.notice(changeId, alert, "danger");
  }

  async #fail(
    changeId: string,
    index: number,
    base: StepEvidence | undefined,
    change: Change,
    e: unknown,
  ): Promise<void> {
    let code: string;
    let message: string;
    let result: StepResult = {};
    if (e instanceof GateFailed) {
      code = "gate_failed";
      message = e.userMessage;
      result = e.result;
    } else if (isKeyturnError(e)) {
      code = e.code;
      message = e.retryable
        ? `${e.userMessage} Nothing is lost: run \`resume ${changeId}\` to continue.`
        : e.userMessage;
    } else {
      code = "internal";
      message = `Something went wrong inside keyturn (ref ${this.#logInternal(e, changeId)}). Nothing is lost: check the logs, then resume ${changeId}.`;
    }
    this.deps.logger.warn({ changeId, step: index, code }, "step failed; change paused");
    const evidence = merge(base, change, index, { ...result, notes: [...(result.notes ?? []), message] });
    await this.apply(changeId, { type: "step_failed", at: this.#now(), index, evidence, code, message });
  }

  async #rollback(changeId: string): Promise<void> {
    const change = await this.deps.store.getChange(changeId);
    if (!change) return;
    try {
      const account = await this.deps.azure.accounts.getAccount(change.accountId);
      const ctx = await this.#context(change, change.currentStep, account);
      const evidence = await rollbackSecrets(ctx);
      await this.apply(changeId, { type: "rolled_back", at: this.#now(), evidence });
    } catch (e) {
      if (isLeaseLost(e)) throw e;
      const message = isKeyturnError(e)
        ? e.userMessage
        : `internal error (ref ${this.#logInternal(e, changeId)})`;
      // the failure is part of the record: the evidence pack names it with its reason
      await this.note(changeId, "rollback_failed", { message });
      this.deps.chat.notice(
        changeId,
        `Rollback of ${changeId} failed: ${message} The change stays paused; try rollback again.`,
        "danger",
      );
    }
  }

  async #context(change: Change, index: number, account?: StepContext["account"]): Promise<StepContext> {
    const acc = account ?? (await this.deps.azure.accounts.getAccount(change.accountId));
    const intents = new Set(
      (await this.deps.store.events({ changeId: change.id }))
        .filter((ev) => ev.type === "effect_intent" && (ev.payload as { index?: number }).index === index)
        .map((ev) => (ev.payload as { what: string }).what),
    );
    const fence = this.deps.fence ?? (async () => undefined);
    return {
      change,
      index,
      account: acc,
      azure: this.deps.fence ? fencedAzure(this.deps.azure, fence) : this.deps.azure,
      fence,
      clock: this.deps.clock,
      logger: this.deps.logger.child({ changeId: change.id, step: index }),
      recordIntent: (what, detail) => this.note(change.id, "effect_intent", { index, what, ...detail }),
      intentRecorded: (what) => intents.has(what),
      notifyOwner: (owner, text) => this.deps.chat.notifyOwner(change.id, owner, text),
      sleep: this.deps.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms))),
    };
  }

  async #perform(change: Change, effect: Effect): Promise<void> {
    const { store, chat } = this.deps;
    switch (effect.type) {
      case "set_timer": {
        const id = timerId(change.id, effect.kind, effect.index);
        await store.setTimer({
          id,
          changeId: change.id,
          kind: effect.kind,
          dueAt: effect.at,
          payload: { index: effect.index },
        });
        return;
      }
      case "clear_timer":
        await store.clearTimer(
          timerId(change.id, effect.kind, effect.kind === "step_wait" ? change.currentStep : undefined),
        );
        return;
      case "render":
        chat.render(change.id);
        return;
      case "step_reply":
        chat.stepReply(change.id, effect.index);
        return;
      case "notice":
        chat.notice(change.id, effect.text, effect.tone);
        return;
      case "notify_approvers":
        chat.notifyApprovers(change.id, change);
        return;
      case "run_step":
      case "revalidate_plan":
      case "rollback":
        if (this.#forward) await this.#forward(change.id, effect);
        else this.startWork(change.id, effect);
        return;
    }
  }

  /** Runs work outside the change's lock (it applies events itself), tracked for idle(). */
  #spawn(changeId: string, task: () => Promise<void>): void {
    if (this.#stopped) return;
    const p: Promise<void> = Promise.resolve()
      .then(task)
      .catch((e: unknown) => {
        if (isLeaseLost(e)) this.leaseLost(e, changeId);
        else this.#logInternal(e, changeId);
      })
      .finally(() => this.#background.delete(p));
    this.#background.add(p);
  }

  /** Another process is the runner: stop at once; what was in flight is left to it (it re-checks live state). */
  leaseLost(e: unknown, changeId?: string): void {
    this.#stopped = true;
    this.deps.logger.warn(
      { changeId, reason: e instanceof Error ? e.message : String(e) },
      "not the runner any more: stopped acting",
    );
    this.deps.onLeaseLost?.();
  }

  #record(changeId: string, event: WorkflowEvent, actor?: string, after?: Change): NewEvent {
    const { type, at, ...rest } = event;
    const payload: Record<string, unknown> = { ...rest };
    if ("by" in event) payload.by = toRef(event.by);
    // the identities behind an approval are not stored: record which policy entry made the approver eligible
    if (event.type === "approved" && after) {
      const eligibleAs = eligibility(after.policy, event.by);
      if (eligibleAs) payload.eligibleAs = eligibleAs;
    }
    if (event.type === "plan_revalidated") {
      payload.plan = event.plan;
      payload.inventory = event.inventory;
    }
    const by = "by" in event ? event.by.id : undefined;
    return { changeId, type, at, actor: actor ?? by ?? "keyturn", payload };
  }

  #now(): string {
    return this.deps.clock.now().toISOString();
  }

  #logInternal(e: unknown, changeId: string): string {
    const ref = randomUUID().slice(0, 8);
    this.deps.logger.error({ err: e, changeId, ref }, "internal error");
    return ref;
  }
}

function merge(base: StepEvidence | undefined, change: Change, index: number, r: StepResult): StepEvidence {
  const planned = change.plan.steps[index]!;
  const b = base ?? {
    index,
    kind: planned.kind,
    startedAt: new Date(0).toISOString(),
    rollback: planned.rollback,
    actor: "keyturn",
  };
  return {
    ...b,
    before: r.before || b.before ? { ...b.before, ...r.before } : undefined,
    after: r.after || b.after ? { ...b.after, ...r.after } : undefined,
    validation: r.validation ?? b.validation,
    notes: [...(b.notes ?? []), ...(r.notes ?? [])],
    ...(r.findings ? { findings: r.findings } : {}),
  };
}

/**
 * The Azure ports a step sees, with the fencing check right before every write to Azure: a
 * process that lost the lease while it waited (a long GC, a stalled disk) does not act.
 */
function fencedAzure(azure: AzurePorts, fence: () => Promise<void>): AzurePorts {
  return guardAzureWrites(azure, async (write) => {
    await fence();
    return write();
  });
}
