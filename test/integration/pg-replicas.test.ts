/**
 * Two keyturn replicas on one PostgreSQL database (a real server started by the test) and one
 * simulated tenant: the runner holds the lease and acts; the standby answers people and records
 * their commands, and the work those call for reaches the runner through the store. Decisions on a
 * change are made and recorded in one transaction, so two replicas moving one change at once lose
 * nothing; a deposed runner records nothing until it has let its lease go.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAzurePorts } from "../../src/azure/index.js";
import { knownHoldersOf } from "../../src/core/known-holders.js";
import { createPolicyBook } from "../../src/core/policy.js";
import type { AsyncStore, LeaseClaim } from "../../src/core/ports.js";
import { createLogger } from "../../src/log.js";
import { ChatRegistry } from "../../src/runner/chat-registry.js";
import { createEngine, type Engine } from "../../src/runner/engine.js";
import {
  createSimulatorCredential,
  simulatorAzureConfig,
  startSimulator,
  type Simulator,
} from "../../src/sandbox/index.js";
import { openPgStore, type PgStore } from "../../src/store/pg/pg-store.js";
import { change } from "../support/change-fixture.js";
import { startEmbeddedPg, type EmbeddedPg } from "../support/embedded-pg.js";
import { fastPolicy, users } from "../support/sandbox-engine.js";
import { ThreadRecorder } from "../support/thread-recorder.js";

const translator =
  "/subscriptions/00000000-0000-4000-8000-0000000000a1/resourceGroups/rg-ai-prod/providers/Microsoft.CognitiveServices/accounts/contoso-translator";
const channel = { platform: "console" as const, id: "incident" };

let pg: EmbeddedPg;
let sim: Simulator;
let dir: string;
const stores: PgStore[] = [];
const engines: Engine[] = [];

async function replica(
  url: string,
  name: string,
  chat: ThreadRecorder,
): Promise<{ store: PgStore; engine: Engine }> {
  const store = await openPgStore(url, { signingKeyFile: join(dir, "signing.key"), replica: true });
  stores.push(store);
  const logger = createLogger({ level: "silent" });
  const azure = createAzurePorts(
    {
      ...simulatorAzureConfig(sim),
      maxRetryAfterSeconds: 5,
      declaredConsumers: (id) => store.declaredConsumers(id),
      knownHolders: (id) => knownHoldersOf(store, id),
    },
    createSimulatorCredential(),
    logger,
  );
  const chats = new ChatRegistry();
  chats.register(chat);
  const claim: LeaseClaim = { holder: `test/${name}`, pid: 1, host: `host-${name}` };
  const engine = createEngine({
    store,
    azure,
    policy: createPolicyBook(fastPolicy()),
    chats,
    clock: { now: () => new Date() },
    logger,
    sandbox: true,
    tickMs: 100,
    sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 200))),
    lease: { ttlMs: 3000, renewMs: 500, pollMs: 200, claim, holderGone: () => false },
    standbyAccepts: true,
  });
  engines.push(engine);
  return { store, engine };
}

async function until<T>(what: string, f: () => Promise<T | undefined | false>, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "keyturn-replicas-"));
  pg = await startEmbeddedPg();
  sim = await startSimulator({ dataDir: join(dir, "sim"), consumerTickMs: 100 });
}, 120_000);

afterAll(async () => {
  for (const e of engines) await e.stop().catch(() => undefined);
  for (const s of stores) await s.close().catch(() => undefined);
  await sim?.close();
  await pg?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("two replicas on one PostgreSQL database", () => {
  it("a rotation requested and approved on the standby is carried out by the runner, once", async () => {
    const url = await pg.createDatabase("replicas");
    const chat = new ThreadRecorder();
    const a = await replica(url, "a", chat);
    await a.engine.start();
    const b = await replica(url, "b", chat);
    await b.engine.start();
    expect([a.engine.role(), b.engine.role()]).toEqual(["runner", "standby"]);
    expect(b.engine.accepts()).toBe(true);

    // everything a person does goes to the standby
    const opened = await b.engine.service.handleText(
      { principal: users.alice, channel },
      'rotate contoso-translator --reason "replicas"',
    );
    expect(opened.message.text).toMatch(/CHG-1 opened for contoso-translator/);
    for (const who of [users.bob, users.carol]) {
      const c = (await b.store.getChange("CHG-1"))!;
      const r = await b.engine.service.handleAction(
        { principal: who, channel },
        { kind: "approve", changeId: "CHG-1", planHash: c.plan.hash },
      );
      expect(r.message.text).toMatch(/Approved CHG-1/);
    }

    const done = await until("the rotation to complete", async () => {
      const c = await a.store.getChange("CHG-1");
      return c && c.state !== "approved" && c.state !== "running" ? c : undefined;
    });
    expect(done.state).toBe("completed");
    // each key slot regenerated exactly once: by the runner alone
    expect(sim.admin.regenerations()[translator]).toEqual({ key1: 1, key2: 1 });
    // the standby never acted: every step's intent and outcome came from the runner's engine
    expect(b.engine.role()).toBe("standby");
    // the card a person follows shows the end of it
    const thread = [...chat.threads.values()].find((t) => t.root.text.includes("CHG-1"));
    expect(thread?.root.text).toMatch(/COMPLETED/i);
    const verified = await a.store.verify();
    expect(verified).toMatchObject({ ok: true });
  }, 120_000);

  it("two replicas deciding on one change at once lose none of the decisions", async () => {
    const url = await pg.createDatabase("decide");
    const one = await openPgStore(url, { signingKeyFile: null, replica: true });
    const two = await openPgStore(url, { signingKeyFile: null, replica: true });
    stores.push(one, two);
    const c = change({ id: "CHG-1", state: "awaiting_approval" });
    await one.commit(c, [
      { changeId: c.id, type: "change_requested", at: c.createdAt, actor: "t", payload: {} },
    ]);
    // each decision appends a mark to what it read: a decision made on a stale read would drop one
    const decide = (s: AsyncStore, n: number) =>
      s.commitOn(c.id, (cur) => ({
        change: { ...cur, waivedConsumerIds: [...cur.waivedConsumerIds, `m${n}`] },
        events: [{ changeId: c.id, type: "note", at: new Date().toISOString(), actor: "t", payload: { n } }],
      }));
    await Promise.all(Array.from({ length: 40 }, (_, n) => decide(n % 2 ? one : two, n)));
    const after = (await one.getChange(c.id))!;
    expect(after.waivedConsumerIds).toHaveLength(40);
    expect(new Set(after.waivedConsumerIds).size).toBe(40);
    expect((await one.events({ changeId: c.id })).length).toBe(41);
  }, 60_000);

  it("a deposed runner's own record is refused; the commands people gave it are recorded", async () => {
    const url = await pg.createDatabase("deposed");
    const old = await openPgStore(url, { signingKeyFile: null, replica: true });
    const next = await openPgStore(url, { signingKeyFile: null, replica: true });
    stores.push(old, next);
    const now = new Date();
    const a: LeaseClaim = { holder: "a", pid: 1, host: "h1" };
    const b: LeaseClaim = { holder: "b", pid: 2, host: "h2" };
    const note = (at: Date) => [
      { changeId: null, type: "note", at: at.toISOString(), actor: "t", payload: {} },
    ];
    expect((await old.acquireLease(a, 3000, now)).acquired).toBe(true);
    // a standby records the commands people give it while the runner's lease is live…
    await next.commit(null, note(now), { fenced: false });
    // …but nothing of the runner's own: a step's record from a process that never held the lease is refused
    expect(await next.commit(null, note(now)).catch((e: unknown) => e)).toMatchObject({ name: "LeaseLost" });
    // the runner stops renewing (paused, partitioned); the standby takes over once its lease expired
    const later = new Date(now.getTime() + 3500);
    expect((await next.acquireLease(b, 3000, later)).lease.token).toBe(2);
    // the deposed runner's step record is refused: it cannot act on what the new runner now drives
    const refused = await old.commit(null, note(later)).catch((e: unknown) => e);
    expect(refused).toMatchObject({ name: "LeaseLost" });
    // the command it was answering (a request, an approval) is recorded: the person is not told
    // "nothing changed" about something that did
    await old.commit(null, note(later), { fenced: false });
    expect(await next.runnerLease()).toMatchObject({ holder: "b", token: 2 });
    expect(await next.verify()).toMatchObject({ ok: true, events: 2 });
  }, 60_000);
});
