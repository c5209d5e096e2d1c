/**
 * The engine: the service adapters call, and the runner that drives changes through the state
 * machine durably. Built once, in src/main.ts.
 */
import type { ChannelRef, Reply } from "../core/messages.js";
import type { PolicyBook } from "../core/policy.js";
import type { AzurePorts, Clock, KeyturnService, Logger, AsyncStore, Timer } from "../core/ports.js";
import type { WorkflowEvent } from "../core/workflow.js";
import { AccountDirectory } from "./account-directory.js";
import type { ChatRegistry } from "./chat-registry.js";
import { ChatOut, policyPeople } from "./chat-out.js";
import { Driver, type Work } from "./driver.js";
import { Queries } from "./queries.js";
import { Reminders } from "./reminders.js";
import { Scheduler } from "./scheduler.js";
import { isLeaseLost, LeaseKeeper, type LeaseOptions, type RunnerRole } from "./runner-lease.js";
import { Service, type ApiRequests } from "./service.js";

export type { PolicyBook } from "../core/policy.js";

export interface EngineDeps {
  readonly store: AsyncStore;
  readonly azure: AzurePorts;
  readonly policy: PolicyBook;
  readonly chats: ChatRegistry;
  readonly clock: Clock;
  readonly logger: Logger;
  /** True when `azure` is the simulated tenant: everything is labelled SANDBOX. */
  readonly sandbox: boolean;
  /** Where the weekly digest of overdue keys goes (optional). */
  readonly digestChannel?: ChannelRef;
  /** Where the evidence threads of scheduled rotations go (default: the digest channel; none: DMs only). */
  readonly scheduleChannel?: ChannelRef;
  /** How often the runner looks for due timers (ms). */
  readonly tickMs?: number;
  /** Real-time waits inside steps (data-plane probe retries); tests may shorten them. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Seconds before a transient Azure failure without a Retry-After is tried again (default 30). */
  readonly retryDelaySeconds?: number;
  /** The runner lease: one process runs steps and timers per store (defaults suit production). */
  readonly lease?: LeaseOptions;
  /**
   * Replicas on one shared database (PostgreSQL): a standby answers people and records their
   * commands, and hands the work they call for to the runner through the store. Without it a
   * standby refuses requests (a second process on one SQLite data directory).
   */
  readonly standbyAccepts?: boolean;
  /** Lines for the person who started keyturn (standby, take-over); the log has them too. */
  readonly announce?: (line: string) => void;
  /** keyturn's version (package.json), named in every evidence pack. */
  readonly version?: string;
}

export interface Engine {
  readonly service: KeyturnService;
  /** The same requests for the HTTP API, answered with data (a standby refuses them: check `role()`). */
  readonly api: ApiRequests;
  /** Resumes open changes and starts the timer loop. */
  start(): Promise<void>;
  /**
   * Stops the timer loop and waits for the running effect to finish. Chat posts in flight are waited
   * for at most `chatGraceMs` when given (a graceful stop has a bound; a missed card update heals on
   * the next one), commands being answered at most `requestGraceMs`.
   */
  stop(opts?: { chatGraceMs?: number; requestGraceMs?: number }): Promise<void>;
  /**
   * Takes no new command (each is told to send it again) and resolves true once every command being
   * answered has its answer, false when `limitMs` passed first. `stop` does this first.
   */
  answered(limitMs?: number): Promise<boolean>;
  /** Resolves when no effect is running and no timer is due (for tests and the non-interactive console). */
  idle(): Promise<void>;
  /** Fires every due timer now (the loop calls it; tests with a fake clock call it directly). */
  tick(): Promise<void>;
  /** runner: holds the store's lease and acts; standby: another process does, this one waits. */
  role(): RunnerRole;
  /** Resolves when this process is the runner. */
  whenRunner(): Promise<void>;
  /** Whether this process answers requests now: the runner, and any standby replica on a shared database. */
  accepts(): boolean;
}

export function createEngine(deps: EngineDeps): Engine {
  const label = deps.sandbox ? (deps.azure.label ?? "SANDBOX") : deps.azure.label;
  const logger = deps.logger.child({ component: "engine" });
  const chat = new ChatOut(deps.store, deps.chats, logger, label, {}, policyPeople(deps.policy));
  // created below; the driver's fencing check and the keeper's hooks refer to each other
  let keeper: LeaseKeeper | null = null;
  const driver = new Driver({
    fence: async () => keeper?.confirm(),
    onLeaseLost: () => void keeper?.lost(),
    store: deps.store,
    azure: deps.azure,
    policy: deps.policy,
    clock: deps.clock,
    logger,
    chat,
    ...(deps.sleep ? { sleep: deps.sleep } : {}),
    ...(deps.retryDelaySeconds !== undefined ? { retryDelaySeconds: deps.retryDelaySeconds } : {}),
  });
  const directory = new AccountDirectory(deps.azure.accounts, deps.clock);
  const queries = new Queries(deps.store, deps.azure, deps.policy, deps.clock);
  const reminders = new Reminders(
    deps.store,
    directory,
    queries,
    deps.chats,
    deps.clock,
    logger,
    deps.digestChannel,
    (a) => deps.policy.scheduleFor(a),
  );
  const scheduler = new Scheduler({
    store: deps.store,
    azure: deps.azure,
    policy: deps.policy,
    directory,
    queries,
    driver,
    chat,
    clock: deps.clock,
    logger,
    sandbox: deps.sandbox,
    channel: deps.scheduleChannel ?? deps.digestChannel,
    fence: async () => keeper?.confirm(),
  });
  const inner = new Service({
    ...deps,
    scheduler,
    logger,
    driver,
    chat,
    directory,
    queries,
    label,
    sandbox: deps.sandbox,
  });

  let timer: NodeJS.Timeout | null = null;
  let ticking: Promise<void> | null = null;

  // on a standby replica, the work a command calls for is left in the store for the runner: a timer
  // due now, which only the runner fires (it looks every tick)
  const handOver = async (changeId: string, work: Work): Promise<void> => {
    await deps.store.setTimer({
      id: `${changeId}:work:${work.type}${work.type === "run_step" ? `:${work.index}:${work.phase}` : ""}`,
      changeId,
      kind: "work",
      dueAt: deps.clock.now().toISOString(),
      payload: work,
    });
  };
  if (deps.standbyAccepts) driver.forwardWork(handOver);

  keeper = new LeaseKeeper(
    deps.store,
    logger,
    {
      async onRunner() {
        driver.forwardWork(null);
        driver.activate();
        await driver.recover();
        await reminders.schedule();
        await scheduler.schedule();
        if (timer) clearInterval(timer);
        timer = setInterval(() => void tick(), deps.tickMs ?? 1000);
        timer.unref();
      },
      onLost() {
        if (timer) clearInterval(timer);
        timer = null;
        driver.stop();
        // a replica goes on as a standby at once: the commands it is answering are recorded (they are
        // not fenced), the work they call for goes to the new runner; its own steps stay refused
        if (deps.standbyAccepts) driver.forwardWork(handOver);
      },
      announce: deps.announce ?? (() => undefined),
    },
    { ...deps.lease, replica: !!deps.standbyAccepts },
  );
  const lease = keeper;
  const standby = () => lease.role === "standby";
  const accepts = () =>
    lease.role === "runner" || lease.role === "starting" || (standby() && !!deps.standbyAccepts);

  /** A standby records nothing: it says so, and who the runner is, instead of half-doing a request. */
  const refusal = async (): Promise<Reply> => {
    const h = await lease.holder();
    const who = h ? `pid ${h.pid} on host ${h.host}, runner since ${h.acquiredAt}` : "another process";
    return {
      visibility: "ephemeral",
      message: {
        title: "keyturn is on standby",
        tone: "warning",
        text: `This keyturn process is on standby: another keyturn process drives changes from the same data directory (${who}). Nothing was recorded or changed. Send the request again in a minute; if this keeps happening, make sure only one keyturn serves this chat app, or give each its own KEYTURN_DATA_DIR.`,
      },
    };
  };
  /** Once a stop has begun, a command is told to come back rather than half-answered from a closing store. */
  let stopping = false;
  const stoppingReply = (): Reply => ({
    visibility: "ephemeral",
    message: {
      title: "keyturn is restarting",
      tone: "warning",
      text: "keyturn is stopping (a restart or an upgrade): nothing was recorded or changed. Send the command again in a minute.",
    },
  });
  /** Commands being answered: a stop waits for them before the store closes. */
  const answering = new Set<Promise<unknown>>();
  const answer = (run: () => Promise<Reply>): Promise<Reply> => {
    if (stopping) return Promise.resolve(stoppingReply());
    if (!accepts()) return refusal();
    const p = run();
    answering.add(p);
    void p.then(
      () => answering.delete(p),
      () => answering.delete(p),
    );
    return p;
  };
  const service: KeyturnService = {
    handleText: (inv, text) => answer(() => inner.handleText(inv, text)),
    handleAction: (inv, action) => answer(() => inner.handleAction(inv, action)),
    answerNow: (text, who) => (stopping || !accepts() ? null : inner.answerNow(text, who)),
  };
  const answered = async (limitMs?: number): Promise<boolean> => {
    stopping = true;
    const all = Promise.allSettled([...answering]).then(() => true);
    if (limitMs === undefined) return all;
    return Promise.race([all, new Promise<boolean>((r) => setTimeout(() => r(false), limitMs).unref())]);
  };

  const fire = async (t: Timer): Promise<void> => {
    const at = deps.clock.now().toISOString();
    const index = (t.payload as { index?: number } | undefined)?.index;
    let event: WorkflowEvent | null = null;
    switch (t.kind) {
      case "approval_expiry":
        event = { type: "expired", at };
        break;
      case "break_glass_deadline":
        event = { type: "break_glass_deadline", at };
        break;
      case "step_wait":
        event = { type: "wait_elapsed", at, index: index ?? -1 };
        break;
      case "reminder":
        await deps.store.clearTimer(t.id);
        await reminders.nudge();
        return;
      case "digest":
        await deps.store.clearTimer(t.id);
        await reminders.digest();
        return;
      case "schedule":
        await deps.store.clearTimer(t.id);
        await scheduler.run();
        return;
      case "revalidate":
        await deps.store.clearTimer(t.id);
        if (t.changeId) await driver.revalidate(t.changeId);
        return;
      case "work":
        // recorded by a standby replica: started here, not waited for (a step can take minutes);
        // cleared only once started, so a runner dying in between leaves it for the next one
        if (t.changeId) driver.startWork(t.changeId, t.payload as Work);
        await deps.store.clearTimer(t.id);
        return;
    }
    if (event && t.changeId) {
      const r = await driver.apply(t.changeId, event);
      if (!r.ok) logger.debug({ timer: t.id, code: r.error.code }, "timer no longer applies");
    }
    await deps.store.clearTimer(t.id);
  };

  const tick = async (): Promise<void> => {
    // only the runner fires timers
    if (lease.role === "standby" || lease.role === "stopped") return;
    if (ticking) return ticking;
    const run = async () => {
      // yield first, so `ticking` is set before the loop can finish
      await Promise.resolve();
      try {
        for (const t of await deps.store.dueTimers(deps.clock.now())) await fire(t);
      } catch (e) {
        if (isLeaseLost(e)) await lease.lost();
        else logger.error({ err: e }, "timer loop failed; retrying on the next tick");
      }
    };
    ticking = run().finally(() => {
      ticking = null;
    });
    return ticking;
  };

  return {
    service,
    api: inner,
    tick,
    role: () => lease.role,
    accepts,
    whenRunner: () => lease.whenRunner(),
    async start() {
      // the runner resumes open changes and starts the timer loop; a standby waits for the lease
      await lease.start();
    },
    answered,
    async stop(opts) {
      if (timer) clearInterval(timer);
      timer = null;
      // no new command and no new step from here on; then the commands being answered finish
      const commands = answered(opts?.requestGraceMs);
      driver.stop();
      await commands;
      await ticking;
      await driver.idle();
      const grace = opts?.chatGraceMs;
      if (grace === undefined) await chat.idle();
      else await Promise.race([chat.idle(), new Promise((r) => setTimeout(r, grace).unref())]);
      // last: what was in flight finished under the lease; a standby may take over at once
      await lease.stop();
    },
    async idle() {
      for (;;) {
        await driver.idle();
        await chat.idle();
        await ticking;
        if (!driver.busy && !chat.busy) return;
      }
    },
  };
}
