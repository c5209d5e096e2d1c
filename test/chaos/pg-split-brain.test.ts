/**
 * Split brain on PostgreSQL: the runner is frozen (SIGSTOP) in the step that regenerates key2, past
 * the expiry of its lease; the other replica (another host name: it cannot see the pid) takes over
 * and finishes the rotation; the old runner is then resumed (SIGCONT) with a stale idea of who runs.
 *
 * 1. Frozen right before its regenerate is sent (Azure holds the listKeys it reads first): on waking
 *    its next effect is that regenerate, and fencing refuses it (LeaseLost); Azure never sees it.
 * 2. Frozen while Azure performs its regenerate: on waking it holds the answer, records nothing;
 *    the new runner found the key regenerated (live fingerprint) and did not regenerate it again.
 * 3. Frozen while answering a rotate: the requester is still told which change was opened.
 * 4. Frozen inside a store transaction (PostgreSQL): its lock does not outlive its lease.
 *
 * Each time: one regeneration per slot, every step succeeded once, seq contiguous, the chain
 * verifies, and the old runner says it stands by; once wound down it answers people as a standby.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Change } from "../../src/core/domain.js";
import { SLACK_IDS } from "../support/chaos-keyturn.js";
import { ROTATABLE } from "../support/chaos-kit.js";
import { startReplicaRig, tails, type Replica, type ReplicaRig, type Takeover } from "../support/pg-rig.js";

const translator = ROTATABLE[0];
/** How long Azure holds a request: shorter than a lease, so a held answer lands while its caller is frozen. */
const HOLD_MS = 2000;

let rig: ReplicaRig;

beforeAll(async () => {
  rig = await startReplicaRig("pg-split", {
    replicas: 2,
    distinctHosts: true,
    // a shorter lease than production's makes each freeze shorter; keyturn's default applies without it
    leaseTtlSeconds: 5,
    // every Azure call is logged at debug level, with its duration: what a deposed runner still does
    env: { LOG_LEVEL: "debug" },
  });
}, 120_000);

afterAll(async () => {
  await rig?.close();
}, 60_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const regenerations = async () =>
  (await rig.sim.admin<Record<string, { key1: number; key2: number }>>("GET", "/regenerations"))[
    translator.id
  ]!;

async function waitFor<T>(
  what: string,
  fn: () => T | undefined | false | Promise<T | undefined | false>,
  ms: number,
  every = 100,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${tails(rig.replicas)}`);
    await sleep(every);
  }
}

/** Freezes the runner, waits for the other replica to take over, wakes the old one a moment later. */
async function freezeUntilTakenOver(
  label: string,
  whileFrozen: () => Promise<void> = async () => undefined,
): Promise<{ old: Replica; t: Takeover }> {
  const { replica: old, lease } = await rig.waitLeader();
  const before = rig.announcements();
  const frozenAt = Date.now();
  old.kt.kt!.child.kill("SIGSTOP");
  await whileFrozen();
  const frozenLease = (await rig.view.lease())!;
  const t = await rig.waitTakeover(
    { replica: old.index, pid: lease.pid, host: lease.host, token: lease.token },
    frozenAt,
    before,
    40_000,
  );
  process.stdout.write(
    `pg-split-brain (${label}): replica ${old.index} frozen; replica ${t.to.replica} took lease ${t.to.lease.token} after ${t.leaseMs} ms ("now the runner" after ${t.announcedMs} ms)\n`,
  );
  expect(t.to.replica).not.toBe(old.index);
  expect(t.to.lease.token).toBe(lease.token + 1);
  // taken once the frozen runner's lease had expired, never from under a live one
  expect(Date.parse(t.to.lease.acquiredAt)).toBeGreaterThanOrEqual(Date.parse(frozenLease.expiresAt));
  // the new runner is resuming the change when the old one wakes up
  await sleep(300);
  old.kt.kt!.child.kill("SIGCONT");
  return { old, t };
}

/** The old runner was refused by the store's fencing and says it stands by; then it answers people as a standby. */
async function expectStoodBy(old: Replica, t: Takeover): Promise<void> {
  await waitFor("the old runner to stand by", () => /stands by\./.test(old.kt.output()), 20_000);
  expect(old.kt.output()).toMatch(
    new RegExp(
      `another keyturn process took over as the runner \\(pid ${t.to.lease.pid} on host ${t.to.lease.host}\\); this one stopped running steps and timers and stands by`,
    ),
  );
  if (rig.kind === "sqlite") {
    // a second process on one SQLite data directory refuses requests, naming the runner
    await old.kt.command(SLACK_IDS.bob, `status ${translator.name}`);
    const id = `c${old.kt.commandsSent}`;
    const answer = await waitFor(
      "the old runner's answer",
      () => old.kt.responses.find((r) => r.id.endsWith(id)),
      10_000,
    );
    expect(JSON.stringify(answer.body)).toMatch(
      new RegExp(
        `on standby.*pid ${t.to.lease.pid} on host ${t.to.lease.host}.*Nothing was recorded or changed`,
      ),
    );
    return;
  }
  // once it has wound down it answers people again, as a standby replica of the same database
  const end = Date.now() + 20_000;
  for (;;) {
    await old.kt.command(SLACK_IDS.bob, `status ${translator.name}`);
    const id = `c${old.kt.commandsSent}`;
    const answer = await waitFor(
      "the old runner's answer",
      () => old.kt.responses.find((r) => r.id.endsWith(id)),
      10_000,
    );
    const text = JSON.stringify(answer.body);
    if (/on standby/.test(text) && Date.now() < end) {
      await sleep(500);
      continue;
    }
    expect(text).toContain(translator.name);
    expect(text).not.toMatch(/on standby|Something went wrong/);
    return;
  }
}

/** The rotation finished under the new runner; the log holds each step once and verifies. */
async function expectCompletedOnce(id: string): Promise<Change> {
  const done = await waitFor(
    "the rotation to finish under the new runner",
    async () => {
      const c = await rig.view.change(id);
      return c && ["completed", "paused", "rolled_back"].includes(c.state) ? c : undefined;
    },
    90_000,
  );
  expect(done.state, `${done.pause?.message ?? ""}\n${tails(rig.replicas)}`).toBe("completed");
  const [value, keys] = await Promise.all([
    rig.sim.secretValue(translator.secret),
    rig.sim.liveKeys(translator.id),
  ]);
  expect([keys.key1, keys.key2]).toContain(value);
  const succeeded = (await rig.view.events(id))
    .filter((e) => e.type === "step_succeeded")
    .map((e) => (e.payload as { index: number }).index);
  expect(succeeded).toEqual(done.plan.steps.map((s) => s.index));
  const all = await rig.view.events();
  expect(all.map((e) => e.seq)).toEqual(all.map((_, i) => i + 1));
  const verdict = await rig.view.verify();
  expect(verdict.ok, JSON.stringify(verdict)).toBe(true);
  return done;
}

const regenerateStep = (c: Change) =>
  c.steps.find((s) => s.index === c.plan.steps.find((p) => p.kind === "regenerate_standby")?.index);

const regenerateIntents = async (id: string) =>
  (await rig.view.events(id)).filter(
    (e) => e.type === "effect_intent" && (e.payload as { what?: string }).what === "regenerate",
  );

/**
 * Every listKeys is held: the runner reads the live key once more right before it regenerates. Its
 * intent recorded, it is in that last read: it is frozen there, its regenerate not yet sent.
 */
async function frozenBeforeTheWrite(
  reason: string,
): Promise<{ old: Replica; t: Takeover; requested: Change }> {
  const { sim } = rig;
  const before = await regenerations();
  await sim.admin("POST", "/faults", {
    match: { operation: "listKeys" },
    effect: { type: "latency", ms: HOLD_MS },
    times: -1,
  });
  const requested = await rig.requestApproved(translator, reason);
  await waitFor(
    "the regenerate's intent",
    async () => (await regenerateIntents(requested.id)).length > 0,
    60_000,
    20,
  );
  const { old, t } = await freezeUntilTakenOver(reason, async () => {
    await sim.admin("DELETE", "/faults");
    expect((await regenerations()).key2, "frozen before its regenerate reached Azure").toBe(before.key2);
  });
  return { old, t, requested };
}

describe("split brain: the runner frozen past its lease in the regenerate step", () => {
  it("frozen before its regenerate is sent: on waking, fencing refuses the regenerate", async () => {
    const before = await regenerations();
    const { old, t, requested } = await frozenBeforeTheWrite("split brain before the write");
    // refused, the deposed runner goes no further: no Azure call starts once it learns it lost the
    // lease (before anyone asks it anything as a standby)
    const lost = await waitFor(
      "the old runner to learn it lost the lease",
      () => logLines(old).find((l) => /runner lease lost|not the runner any more/.test(l.msg ?? "")),
      20_000,
    );
    await sleep(3000);
    const after = logLines(old).filter(
      (l) => l.msg === "azure call" && (l.time ?? 0) - (l.ms ?? 0) > (lost.time ?? 0),
    );
    expect(
      after.map(
        (l) => `${l.azure} started ${(l.time ?? 0) - (l.ms ?? 0) - (lost.time ?? 0)} ms after "${lost.msg}"`,
      ),
    ).toEqual([]);
    await expectStoodBy(old, t);
    const done = await expectCompletedOnce(requested.id);
    // the only regeneration of key2 is the new runner's: the old one's never reached Azure
    expect(await regenerations()).toEqual({ key1: before.key1 + 1, key2: before.key2 + 1 });
    expect(JSON.stringify(regenerateStep(done))).not.toMatch(/not regenerated again/);
  }, 180_000);

  it("frozen while Azure performs its regenerate: its answer is never recorded, the new runner does not repeat it", async () => {
    const { sim } = rig;
    const before = await regenerations();
    await sim.admin("POST", "/faults", {
      match: { operation: "regenerateKey" },
      effect: { type: "latency", ms: HOLD_MS },
      times: 1,
    });
    const requested = await rig.requestApproved(translator, "split brain during the write");
    // the regenerate of key2 has reached Azure (the fault took it): freeze the runner in that call
    await waitFor(
      "the regenerate to reach the simulator",
      async () => (await sim.admin<{ faults: unknown[] }>("GET", "/faults")).faults.length === 0,
      60_000,
      20,
    );
    const { old, t } = await freezeUntilTakenOver("during the write");
    await expectStoodBy(old, t);

    const done = await expectCompletedOnce(requested.id);
    expect(await regenerations()).toEqual({ key1: before.key1 + 1, key2: before.key2 + 1 });
    // the new runner found key2 already regenerated by the frozen one and said so in the evidence
    expect(JSON.stringify(regenerateStep(done))).toMatch(/not regenerated again/);
  }, 180_000);

  // the runner loses its lease between recording a new change and noting its evidence thread: the
  // requester is still told which change was opened (it goes on under the new runner)
  it("a rotate answered across a lost lease names the change it opened", async () => {
    const { replica: runner } = await rig.waitLeader();
    const known = new Set((await rig.view.changes()).map((c) => c.id));
    // Slack answers the evidence thread's permalink late: the rotate is still being answered
    rig.slack.slow(2000, ["chat.getPermalink"]);
    await runner.kt.command(
      SLACK_IDS.alice,
      `rotate ${translator.name} --reason "split brain while answering"`,
    );
    const asked = `c${runner.kt.commandsSent}`;
    const opened = await waitFor(
      "the change to be recorded and its thread posted",
      async () =>
        rig.slack.calls.includes("chat.getPermalink (stalled)") &&
        (await rig.view.changes()).find((c) => !known.has(c.id)),
      30_000,
      20,
    );
    const { old } = await freezeUntilTakenOver("while answering a rotate", () =>
      Promise.resolve(rig.slack.unhang()),
    );
    expect(old).toBe(runner);
    const answer = await waitFor(
      "the answer to the rotate",
      () => runner.kt.responses.find((r) => r.id.endsWith(asked)),
      30_000,
    );
    const text = JSON.stringify(answer.body);
    expect(text).toContain(opened.id);
    expect(text).not.toMatch(/Nothing was changed/);
    await rig.command(SLACK_IDS.alice, `cancel ${opened.id}`);
  }, 180_000);

  // a runner frozen (a VM pause, a long GC, a partition) inside a store transaction holds the store's
  // advisory lock and the lease row: PostgreSQL ends the idle transaction, and a standby takes over
  it("a runner frozen inside a store transaction is taken over within its lease", async () => {
    if (!rig.pg || !rig.url) return;
    const db = new URL(rig.url).pathname.slice(1);
    const watch = new pg.Client({ connectionString: rig.pg.url() });
    await watch.connect();
    try {
      const { replica: old, lease } = await rig.waitLeader();
      const child = old.kt.kt!.child;
      const inTx = async () =>
        (
          await watch.query<{ pid: number }>(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = 'keyturn' AND xact_start IS NOT NULL",
            [db],
          )
        ).rows.map((r) => r.pid);
      // the runner renews its lease in a transaction every third of the TTL: freeze it inside one
      let held: number[] = [];
      for (let attempt = 0; held.length === 0; attempt++) {
        if (attempt > 2000) throw new Error("never caught the runner inside a transaction");
        if ((await inTx()).length === 0) continue;
        child.kill("SIGSTOP");
        held = await inTx();
        if (held.length === 0) child.kill("SIGCONT");
      }
      const before = rig.announcements();
      const frozenAt = Date.now();
      process.stdout.write(
        `pg-split-brain: runner frozen inside the transaction of PostgreSQL backend(s) ${held.join(", ")}\n`,
      );
      try {
        const t = await rig.waitTakeover(
          { replica: old.index, pid: lease.pid, host: lease.host, token: lease.token },
          frozenAt,
          before,
          20_000,
        );
        process.stdout.write(
          `pg-split-brain (inside a transaction): replica ${t.to.replica} took lease ${t.to.lease.token} after ${t.leaseMs} ms\n`,
        );
        expect(t.leaseMs).toBeLessThanOrEqual(15_000);
      } finally {
        child.kill("SIGCONT");
      }
    } finally {
      await watch.end();
    }
  }, 120_000);
});

/** A replica's JSON log lines (pino), in order. */
function logLines(r: Replica): { msg?: string; time?: number; ms?: number; azure?: string }[] {
  return r.kt
    .output()
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as { msg?: string; time?: number; ms?: number; azure?: string }];
      } catch {
        return [];
      }
    });
}
