import Database from "better-sqlite3";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SecretValue } from "../../src/core/secret.js";
import { openStore } from "../../src/store/open-store.js";
import { change } from "../support/change-fixture.js";
import { findSecrets } from "../support/scan-secrets.js";

let dir: string;
let path: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "keyturn-store-"));
  path = join(dir, "keyturn.db");
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const ev = (type: string, payload: unknown = {}) => ({
  changeId: "CHG-1",
  type,
  at: "2026-11-22T09:00:00.000Z",
  actor: "keyturn",
  payload,
});

describe("the SQLite store", () => {
  it("chains events, verifies them, and keeps everything across reopen", () => {
    const s = openStore(path);
    s.commit(change(), [ev("change_requested", { reason: "r" }), ev("submitted")]);
    s.commit(change({ state: "awaiting_approval" }), [ev("approved", { by: "bob" })]);
    const v = s.verify();
    expect(v).toMatchObject({ ok: true, events: 3 });
    s.close();
    const again = openStore(path);
    expect(again.getChange("CHG-1")?.state).toBe("awaiting_approval");
    expect(again.events({ changeId: "CHG-1" }).map((e) => e.type)).toEqual([
      "change_requested",
      "submitted",
      "approved",
    ]);
    expect(again.verify()).toEqual(v);
    again.close();
  });

  it("names the event whose row was edited, and a deleted row as a gap", () => {
    const s = openStore(path);
    s.commit(change(), [ev("change_requested"), ev("approved", { by: "bob" }), ev("step_started")]);
    s.close();
    const raw = new Database(path);
    expect(() => raw.prepare("UPDATE events SET payload = ? WHERE seq = 2").run('{"by":"mallory"}')).toThrow(
      /append-only/,
    );
    raw.exec("DROP TRIGGER events_no_update; DROP TRIGGER events_no_delete");
    raw.prepare("UPDATE events SET payload = ? WHERE seq = 2").run('{"by":"mallory"}');
    raw.close();
    const s2 = openStore(path);
    expect(s2.verify()).toMatchObject({ ok: false, firstBadSeq: 2 });
    const r = s2.verify();
    expect(!r.ok && r.problem).toContain("event 2 (approved)");
    s2.close();
    const raw2 = new Database(path);
    raw2.prepare("UPDATE events SET payload = ? WHERE seq = 2").run('{"by":"bob"}');
    raw2.prepare("DELETE FROM events WHERE seq = 2").run();
    raw2.close();
    const s3 = openStore(path);
    const gap = s3.verify();
    expect(gap).toMatchObject({ ok: false, firstBadSeq: 2 });
    expect(!gap.ok && gap.problem).toMatch(/missing/);
    s3.close();
  });

  it("allows one open change per account, also across connections", () => {
    const a = openStore(path);
    const b = openStore(path);
    a.commit(change({ id: "CHG-1", state: "awaiting_approval" }), [ev("submitted")]);
    expect(() =>
      b.commit(change({ id: "CHG-2", state: "awaiting_approval" }), [
        { ...ev("submitted"), changeId: "CHG-2" },
      ]),
    ).toThrow(/already has an open change, CHG-1/);
    a.commit(change({ id: "CHG-1", state: "completed", completedAt: "2026-11-22T10:00:00.000Z" }), [
      ev("step_succeeded"),
    ]);
    b.commit(change({ id: "CHG-2", state: "awaiting_approval" }), [
      { ...ev("submitted"), changeId: "CHG-2" },
    ]);
    expect(b.listChanges({ open: true }).map((c) => c.id)).toEqual(["CHG-2"]);
    expect(b.lastRotation(change().accountId)?.changeId).toBe("CHG-1");
    a.close();
    b.close();
  });

  it("claims idempotency keys once, orders due timers, numbers changes", () => {
    const s = openStore(path);
    expect(s.claimIdempotencyKey("slack:1:U0BOB", "t")).toBe(true);
    expect(s.claimIdempotencyKey("slack:1:U0BOB", "t")).toBe(false);
    s.setTimer({ id: "b", changeId: null, kind: "x", dueAt: "2026-11-22T09:02:00.000Z" });
    s.setTimer({ id: "a", changeId: null, kind: "x", dueAt: "2026-11-22T09:01:00.000Z" });
    s.setTimer({ id: "c", changeId: null, kind: "x", dueAt: "2026-11-22T09:09:00.000Z" });
    expect(s.dueTimers(new Date("2026-11-22T09:05:00.000Z")).map((t) => t.id)).toEqual(["a", "b"]);
    expect([s.nextChangeId(), s.nextChangeId()]).toEqual(["CHG-1", "CHG-2"]);
    s.close();
  });

  it("refuses to store a key value", () => {
    const s = openStore(path);
    const key = new SecretValue("k".repeat(84));
    expect(() => s.commit(null, [ev("oops", { key })])).toThrow(/secret/);
    expect(() => s.putKv("x", "y", { nested: [key] })).toThrow(/secret/);
    s.close();
    expect(findSecrets([{ name: "planted", text: "…" + "k".repeat(84) }], ["k".repeat(84)])).toHaveLength(1);
  });
});
