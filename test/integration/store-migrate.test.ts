/**
 * Upgrades: a database written by keyturn at commit 9d52222 (a completed exposure rotation, made by
 * that commit's own build running the sandbox tour: test/fixtures/store-9d52222.sqlite) opens with
 * today's keyturn, carries its schema version in PRAGMA user_version, verifies, keeps its history
 * and takes new records; a future schema step runs once on it and leaves the audit log verifying;
 * a database from a newer keyturn is refused with what to do.
 */
import Database from "better-sqlite3";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { MIGRATIONS } from "../../src/store/migrations.js";
import { openStore } from "../../src/store/open-store.js";

const FIXTURE = new URL("../fixtures/store-9d52222.sqlite", import.meta.url).pathname;
let dir: string;
let db: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "keyturn-migrate-"));
  db = join(dir, "keyturn.db");
  copyFileSync(FIXTURE, db);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const raw = <T>(fn: (d: Database.Database) => T): T => {
  const d = new Database(db, { readonly: true });
  try {
    return fn(d);
  } finally {
    d.close();
  }
};

describe("a database made by keyturn at 9d52222", () => {
  it("opens with today's keyturn, is stamped with its schema version, verifies and keeps its history", () => {
    expect(raw((d) => d.pragma("user_version", { simple: true }))).toBe(0);
    const store = openStore(db);
    try {
      const v = store.verify();
      expect(v.ok, v.ok ? "" : v.problem).toBe(true);
      if (v.ok) expect(v.changes).toBe(1);
      const c = store.getChange("CHG-1");
      expect(c?.state).toBe("completed");
      expect(c?.accountName).toBe("contoso-translator");
      expect(store.lastRotation(c!.accountId)?.changeId).toBe("CHG-1");
      // it takes new records after the upgrade, and the chain still verifies
      expect(store.nextChangeId()).toBe("CHG-2");
      store.commit(null, [
        { changeId: null, type: "upgrade_checked", at: new Date().toISOString(), actor: "test", payload: {} },
      ]);
      expect(store.verify().ok).toBe(true);
    } finally {
      store.close();
    }
    expect(raw((d) => d.pragma("user_version", { simple: true }))).toBe(MIGRATIONS.length);
  });

  it("runs a new schema step once, keeps every event, and the audit log still verifies", () => {
    const before = raw((d) => (d.prepare("SELECT COUNT(*) AS n FROM events").get() as { n: number }).n);
    const next = [...MIGRATIONS, "ALTER TABLE changes ADD COLUMN archived_at TEXT;"];
    for (let i = 0; i < 2; i++) {
      const store = openStore(db, { migrations: next });
      try {
        const v = store.verify();
        expect(v.ok, v.ok ? "" : v.problem).toBe(true);
      } finally {
        store.close();
      }
    }
    raw((d) => {
      expect(d.pragma("user_version", { simple: true })).toBe(next.length);
      expect((d.prepare("SELECT COUNT(*) AS n FROM schema_migrations").get() as { n: number }).n).toBe(
        next.length,
      );
      expect((d.prepare("SELECT COUNT(*) AS n FROM events").get() as { n: number }).n).toBe(before);
      expect(d.prepare("SELECT archived_at FROM changes WHERE id = 'CHG-1'").get()).toEqual({
        archived_at: null,
      });
    });
    // this keyturn, older than that schema, refuses it with what to do
    expect(() => openStore(db)).toThrow(
      /written by a newer keyturn \(schema version 3; this keyturn knows up to 2\)\. Upgrade keyturn, or restore a backup made by this version/,
    );
  });
});
