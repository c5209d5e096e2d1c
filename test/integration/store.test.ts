import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { KeyturnError } from "../../src/core/errors.js";
import type { NewEvent } from "../../src/core/ports.js";
import { SecretValue } from "../../src/core/secret.js";
import { eventHash, eventHashFromText, GENESIS } from "../../src/store/hash-chain.js";
import { openStore } from "../../src/store/open-store.js";
import { requestedEvent } from "../support/audit-events.js";
import { change } from "../support/change-fixture.js";
import { scanPaths } from "../support/scan-secrets.js";
import { useTempDir } from "../support/temp-dir.js";

const tmp = useTempDir("keyturn-store-");
const dbPath = () => tmp.current.file("keyturn.db");

const ev = (type: string, payload: unknown = {}, changeId: string | null = "CHG-1"): NewEvent => ({
  changeId,
  type,
  at: "2026-11-22T09:00:00.000Z",
  actor: "keyturn",
  payload,
});

/** Edits the file behind the store's back, the way someone covering their tracks would. */
function tamper(path: string, sql: string, ...args: unknown[]): void {
  const raw = new Database(path);
  try {
    raw.exec("DROP TRIGGER IF EXISTS events_no_update; DROP TRIGGER IF EXISTS events_no_delete");
    raw.prepare(sql).run(...args);
  } finally {
    raw.close();
  }
}

describe("the SQLite store's event log", () => {
  it("chains events, verifies them, and keeps everything across reopen", () => {
    const s = openStore(dbPath());
    const waiting = change({ state: "awaiting_approval", approvalDeadline: "2026-11-22T13:00:00.000Z" });
    const first = s.commit(waiting, [requestedEvent(change()), ev("submitted")]);
    expect(first.map((e) => e.seq)).toEqual([1, 2]);
    expect(first[0]?.prevHash).toBe(GENESIS);
    expect(first[1]?.prevHash).toBe(first[0]?.hash);
    s.commit(waiting, [
      ev("approval_recorded", { by: "bob@contoso.com", when: new Date("2026-11-22T09:01:00Z") }),
    ]);
    const v = s.verify();
    expect(v).toMatchObject({ ok: true, events: 3, changes: 1 });
    s.close();

    const again = openStore(dbPath());
    expect(again.getChange("CHG-1")?.state).toBe("awaiting_approval");
    expect(again.events({ changeId: "CHG-1" }).map((e) => e.type)).toEqual([
      "change_requested",
      "submitted",
      "approval_recorded",
    ]);
    expect(again.events({ afterSeq: 1, limit: 1 }).map((e) => e.seq)).toEqual([2]);
    // a Date in a payload is stored as the string JSON makes of it, and hashes as such
    expect(again.events({ afterSeq: 2 })[0]?.payload).toEqual({
      by: "bob@contoso.com",
      when: "2026-11-22T09:01:00.000Z",
    });
    expect(again.verify()).toEqual(v);
    again.commit(null, [ev("digest_sent", {}, null)]);
    expect(again.events({ afterSeq: 3 })[0]?.changeId).toBeNull();
    expect(again.verify()).toMatchObject({ ok: true, events: 4 });
    again.close();
  });

  it("hashes stored text exactly as the canonical JSON of the event", () => {
    const e = {
      seq: 7,
      changeId: "CHG-2",
      type: "step_succeeded",
      at: "2026-11-22T09:00:00.000Z",
      actor: null,
      payload: { z: 1, a: [{ y: "é\n", b: null }] },
    };
    const text = '{"a":[{"b":null,"y":"é\\n"}],"z":1}';
    expect(eventHashFromText("ab", e.seq, e.changeId, e.type, e.at, e.actor, text)).toBe(eventHash("ab", e));
  });

  it("names the event whose row was edited, and its type", () => {
    const s = openStore(dbPath());
    s.commit(change(), [
      ev("change_requested"),
      ev("approval_recorded", { by: "bob@contoso.com" }),
      ev("step_started"),
    ]);
    s.close();
    const raw = new Database(dbPath());
    expect(() => raw.prepare("UPDATE events SET payload = ? WHERE seq = 2").run('{"by":"mallory"}')).toThrow(
      /append-only/,
    );
    expect(() => raw.prepare("DELETE FROM events WHERE seq = 3").run()).toThrow(/append-only/);
    raw.close();

    tamper(dbPath(), "UPDATE events SET payload = ? WHERE seq = 2", '{"by":"mallory@evil.example"}');
    const s2 = openStore(dbPath());
    const r = s2.verify();
    expect(r).toMatchObject({ ok: false, firstBadSeq: 2 });
    expect(!r.ok && r.problem).toBe(
      "event 2 (approval_recorded) hash does not match its content — the row was edited",
    );
    s2.close();
  });

  it("notices a rewritten hash through the next event's prevHash", () => {
    const s = openStore(dbPath());
    s.commit(change(), [ev("change_requested"), ev("approval_recorded", { by: "bob" }), ev("step_started")]);
    s.close();
    // recompute event 2's hash after editing it: the row is self-consistent, event 3 no longer is
    const raw = new Database(dbPath());
    const row = raw.prepare("SELECT prev_hash FROM events WHERE seq = 2").get() as { prev_hash: string };
    raw.close();
    const forged = eventHash(row.prev_hash, { ...ev("approval_recorded", { by: "mallory" }), seq: 2 });
    tamper(dbPath(), "UPDATE events SET payload = ?, hash = ? WHERE seq = 2", '{"by":"mallory"}', forged);
    const s2 = openStore(dbPath());
    const r = s2.verify();
    expect(r).toMatchObject({ ok: false, firstBadSeq: 3 });
    expect(!r.ok && r.problem).toBe("event 3 (step_started) prevHash does not match event 2");
    s2.close();
  });

  it("detects a deleted row as a gap, also at the end of the log and after later appends", () => {
    const s = openStore(dbPath());
    s.commit(change(), [
      ev("change_requested"),
      ev("approval_recorded"),
      ev("step_started"),
      ev("step_succeeded"),
    ]);
    s.close();
    tamper(dbPath(), "DELETE FROM events WHERE seq = 2");
    const s2 = openStore(dbPath());
    const gap = s2.verify();
    expect(gap).toMatchObject({ ok: false, firstBadSeq: 2 });
    expect(!gap.ok && gap.problem).toMatch(/^gap: event 2 is missing/);
    s2.close();

    tamper(dbPath(), "DELETE FROM events WHERE seq >= 1");
    const s3 = openStore(dbPath());
    s3.commit(null, [ev("change_requested", {}, "CHG-9")]);
    const cut = s3.verify();
    expect(cut).toMatchObject({ ok: false, firstBadSeq: 1 });
    expect(!cut.ok && cut.problem).toMatch(/^gap: events 1–4 are missing/);
    s3.close();
  });

  it("verifies a long log quickly", () => {
    const s = openStore(dbPath());
    const batch = Array.from({ length: 1000 }, (_, i) =>
      ev("metric_sampled", { i, fingerprints: { key1: "sha256:0123456789ab", key2: "sha256:ba9876543210" } }),
    );
    for (let i = 0; i < 50; i++) s.commit(null, batch);
    const started = performance.now();
    const r = s.verify();
    const ms = performance.now() - started;
    expect(r).toMatchObject({ ok: true, events: 50_000 });
    // a million events must verify in seconds: 50k take about 0.3 s on a laptop; the bound leaves
    // room for a loaded CI machine and still catches anything quadratic or a parse per row gone slow
    expect(ms).toBeLessThan(1500);
    s.close();
  });

  it("migrates a new file once, records it, and works in memory too", () => {
    const lines: object[] = [];
    const logger = {
      debug() {},
      info: (o: object) => void lines.push(o),
      warn() {},
      error() {},
      child: () => logger,
    };
    openStore(dbPath(), { logger }).close();
    openStore(dbPath(), { logger }).close();
    expect(lines).toEqual([{ schemaVersion: 1 }, { schemaVersion: 2 }]);
    const raw = new Database(dbPath(), { readonly: true });
    expect(raw.prepare("SELECT version FROM schema_migrations").all()).toEqual([
      { version: 1 },
      { version: 2 },
    ]);
    expect(raw.pragma("journal_mode", { simple: true })).toBe("wal");
    raw.close();
    const mem = openStore(":memory:");
    mem.commit(change(), [requestedEvent(change())]);
    expect(mem.verify()).toMatchObject({ ok: true, events: 1 });
    mem.close();
  });

  it("refuses a database written by a newer keyturn", () => {
    openStore(dbPath()).close();
    const raw = new Database(dbPath());
    raw.prepare("INSERT INTO schema_migrations (version, applied_at) VALUES (99, 'later')").run();
    raw.close();
    expect(() => openStore(dbPath())).toThrow(/written by a newer keyturn \(schema version 99/);
  });

  it("refuses to store a key value anywhere, and writes nothing of it", async () => {
    const s = openStore(dbPath());
    const raw = "Ab3".repeat(28);
    const key = new SecretValue(raw);
    const refused = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(KeyturnError);
        expect((e as KeyturnError).code).toBe("internal");
        expect((e as KeyturnError).userMessage).toMatch(/refused to write a key value/);
        return;
      }
      throw new Error("a SecretValue was stored");
    };
    refused(() => s.commit(null, [ev("oops", { keys: { key1: key } })]));
    refused(() => s.commit(change({ reason: key as unknown as string }), []));
    refused(() => s.putKv("teams", "ref", { nested: [key] }));
    refused(() =>
      s.setTimer({
        id: "t",
        changeId: null,
        kind: "reminder",
        dueAt: "2026-11-22T09:00:00.000Z",
        payload: key,
      }),
    );
    expect(s.events()).toEqual([]);
    expect(s.getChange("CHG-1")).toBeUndefined();
    s.close();
    expect(await scanPaths([tmp.current.path], [raw])).toEqual([]);
  });
});

describe("the SQLite store's read models", () => {
  it("allows one open change per account, across connections, and says which one is open", () => {
    const a = openStore(dbPath());
    const b = openStore(dbPath());
    a.commit(change({ id: "CHG-3", state: "awaiting_approval" }), [ev("submitted", {}, "CHG-3")]);
    let err: unknown;
    try {
      b.commit(change({ id: "CHG-4", state: "requested" }), [ev("change_requested", {}, "CHG-4")]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KeyturnError);
    expect((err as KeyturnError).code).toBe("change_open");
    expect((err as KeyturnError).userMessage).toBe(
      "contoso-translator already has an open change, CHG-3 (awaiting approval). Finish, cancel or resume it first.",
    );
    expect(b.events({ changeId: "CHG-4" })).toEqual([]);

    // the database itself refuses, even for a writer that skips the check
    const raw = new Database(dbPath());
    expect(() =>
      raw
        .prepare(
          "INSERT INTO changes (id, account_id, state, open, created_at, updated_at, doc) VALUES ('CHG-5', ?, 'requested', 1, 'x', 'x', '{}')",
        )
        .run(change().accountId.toUpperCase()),
    ).toThrow(/UNIQUE/);
    raw.close();

    a.commit(change({ id: "CHG-3", state: "completed", completedAt: "2026-11-22T10:00:00.000Z" }), [
      ev("completed", {}, "CHG-3"),
    ]);
    b.commit(change({ id: "CHG-4", state: "awaiting_approval", createdAt: "2026-11-22T11:00:00.000Z" }), [
      ev("submitted", {}, "CHG-4"),
    ]);
    expect(b.listChanges({ open: true }).map((c) => c.id)).toEqual(["CHG-4"]);
    expect(b.listChanges({ accountId: change().accountId }).map((c) => c.id)).toEqual(["CHG-4", "CHG-3"]);
    expect(b.listChanges({ limit: 1 }).map((c) => c.id)).toEqual(["CHG-4"]);
    expect(b.lastRotation(change().accountId)).toMatchObject({
      changeId: "CHG-3",
      completedAt: "2026-11-22T10:00:00.000Z",
      by: { displayName: change().requester.displayName },
    });
    expect(b.lastRotation("/subscriptions/x/none")).toBeUndefined();
    expect(b.verify()).toMatchObject({ ok: true, events: 3 });
    a.close();
    b.close();
  });

  it("claims idempotency keys once, also across reopen", () => {
    const s = openStore(dbPath());
    expect(s.claimIdempotencyKey("slack:1700000000.1:U0BOB", "t")).toBe(true);
    expect(s.claimIdempotencyKey("slack:1700000000.1:U0BOB", "t")).toBe(false);
    expect(s.claimIdempotencyKey("slack:1700000000.1:U0CAROL", "t")).toBe(true);
    s.close();
    const again = openStore(dbPath());
    expect(again.claimIdempotencyKey("slack:1700000000.1:U0BOB", "t")).toBe(false);
    again.close();
  });

  it("returns due timers in due order, upserts by id, clears them", () => {
    const s = openStore(dbPath());
    s.setTimer({
      id: "CHG-1:expiry",
      changeId: "CHG-1",
      kind: "approval_expiry",
      dueAt: "2026-11-22T09:02:00.000Z",
    });
    s.setTimer({
      id: "CHG-2:step",
      changeId: "CHG-2",
      kind: "step_wait",
      dueAt: "2026-11-22T09:01:00Z",
      payload: { step: 3 },
    });
    s.setTimer({ id: "digest", changeId: null, kind: "digest", dueAt: "2026-11-22T09:09:00.000Z" });
    const now = new Date("2026-11-22T09:05:00.000Z");
    expect(s.dueTimers(now)).toEqual([
      {
        id: "CHG-2:step",
        changeId: "CHG-2",
        kind: "step_wait",
        dueAt: "2026-11-22T09:01:00.000Z",
        payload: { step: 3 },
      },
      { id: "CHG-1:expiry", changeId: "CHG-1", kind: "approval_expiry", dueAt: "2026-11-22T09:02:00.000Z" },
    ]);
    s.setTimer({
      id: "CHG-1:expiry",
      changeId: "CHG-1",
      kind: "approval_expiry",
      dueAt: "2026-11-22T10:00:00.000Z",
    });
    s.clearTimer("CHG-2:step");
    expect(s.dueTimers(now)).toEqual([]);
    expect(s.dueTimers(new Date("2026-11-22T10:00:00.000Z")).map((t) => t.id)).toEqual([
      "digest",
      "CHG-1:expiry",
    ]);
    s.close();
  });

  it("numbers changes without reuse across reopen", () => {
    const s = openStore(dbPath());
    expect([s.nextChangeId(), s.nextChangeId()]).toEqual(["CHG-1", "CHG-2"]);
    s.close();
    const again = openStore(dbPath());
    expect(again.nextChangeId()).toBe("CHG-3");
    again.close();
  });

  it("keeps declared consumers unique by account and name, and kv by namespace and key", () => {
    const s = openStore(dbPath());
    const acc = change().accountId;
    const c = {
      accountId: acc,
      name: "batch-job",
      owner: "alice@contoso.com",
      reload: "manual" as const,
      addedBy: "slack:T0CONTOSO:U0ALICE",
      addedAt: "2026-11-22T09:00:00.000Z",
    };
    s.addDeclaredConsumer(c);
    s.addDeclaredConsumer({ ...c, owner: "dave@contoso.com" });
    s.addDeclaredConsumer({ ...c, name: "airflow" });
    expect(s.declaredConsumers(acc).map((x) => [x.name, x.owner])).toEqual([
      ["airflow", "alice@contoso.com"],
      ["batch-job", "dave@contoso.com"],
    ]);
    expect(s.removeDeclaredConsumer(acc, "batch-job")).toBe(true);
    expect(s.removeDeclaredConsumer(acc, "batch-job")).toBe(false);
    expect(s.declaredConsumers("/subscriptions/other")).toEqual([]);

    s.putKv("teams", "conv:1", { serviceUrl: "http://127.0.0.1:1" });
    s.putKv("teams", "conv:1", { serviceUrl: "http://127.0.0.1:2" });
    s.putKv("reminders", "x", 1);
    expect(s.getKv("teams", "conv:1")).toEqual({ serviceUrl: "http://127.0.0.1:2" });
    expect(s.getKv("teams", "missing")).toBeUndefined();
    expect(s.listKv("teams")).toEqual([{ key: "conv:1", value: { serviceUrl: "http://127.0.0.1:2" } }]);
    s.close();
  });
});
