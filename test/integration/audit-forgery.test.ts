/**
 * Forging the audit trail the ways someone covering their tracks would, on the database of a real
 * rotation against the simulated tenant: an event row, a `changes` row, a dropped tail with the
 * stored count lowered, a reordered pair — each by hand and with the chain re-hashed after it.
 * `audit verify` names each one, with and without a witness (a head seen outside the database).
 */
import Database from "better-sqlite3";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Witness } from "../../src/core/checkpoint.js";
import type { VerifyResult } from "../../src/core/ports.js";
import { eventHashFromText, GENESIS } from "../../src/store/hash-chain.js";
import { openStore } from "../../src/store/open-store.js";
import { startSandboxEngine, users } from "../support/sandbox-engine.js";

const work = mkdtempSync(join(tmpdir(), "keyturn-forgery-"));
// the checkpoint key of this file's engine and stores: outside every data directory, removed afterwards
process.env.KEYTURN_SIGNING_KEY_FILE = join(work, "keyturn-signing.key");
const original = join(work, "original.db");
let head: Witness;
let copies = 0;

beforeAll(async () => {
  const kt = await startSandboxEngine();
  try {
    await kt.say(users.alice, 'rotate contoso-translator --reason "quarterly rotation"');
    for (const who of [users.bob, users.carol])
      await kt.press(who, { kind: "approve", changeId: "CHG-1", planHash: kt.change("CHG-1").plan.hash });
    const done = await kt.waitFor("CHG-1", ["completed", "completed_with_findings", "paused"], 60_000);
    expect(done.pause).toBeNull();
    await kt.say(users.alice, 'rotate contoso-speech --reason "routine"');
    await kt.say(users.alice, 'cancel CHG-2 --reason "wrong account"');
    await kt.engine.idle();
    await kt.engine.stop();
    kt.store.close();
    copyFileSync(join(kt.dir, "keyturn.db"), original);
  } finally {
    await kt.close();
  }
  const s = openStore(original);
  const cp = s.checkpoint(new Date().toISOString());
  s.close();
  head = { seq: cp.seq, hash: cp.hash, source: "the pack exported yesterday" };
}, 90_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A copy of the untouched database, forged by `sql` with the append-only triggers dropped. */
function forged(forge: (db: Database.Database) => void): string {
  const path = join(work, `forged-${++copies}.db`);
  copyFileSync(original, path);
  const db = new Database(path);
  try {
    db.exec("DROP TRIGGER IF EXISTS events_no_update; DROP TRIGGER IF EXISTS events_no_delete");
    forge(db);
  } finally {
    db.close();
  }
  return path;
}

function verify(path: string, witnesses: Witness[] = []): Extract<VerifyResult, { ok: false }> {
  const s = openStore(path);
  try {
    const r = s.verify({ witnesses });
    if (r.ok) throw new Error(`the forged database verified: ${JSON.stringify(r)}`);
    return r;
  } finally {
    s.close();
  }
}

/** Recomputes every hash from `fromSeq` on, as a forger who knows the scheme would. */
function rehash(db: Database.Database, fromSeq: number): void {
  const rows = db
    .prepare("SELECT seq, change_id, type, at, actor, payload FROM events WHERE seq >= ? ORDER BY seq")
    .all(fromSeq) as {
    seq: number;
    change_id: string | null;
    type: string;
    at: string;
    actor: string | null;
    payload: string;
  }[];
  let prev =
    (db.prepare("SELECT hash FROM events WHERE seq = ?").get(fromSeq - 1) as { hash: string } | undefined)
      ?.hash ?? GENESIS;
  const set = db.prepare("UPDATE events SET prev_hash = ?, hash = ? WHERE seq = ?");
  for (const r of rows) {
    const hash = eventHashFromText(prev, r.seq, r.change_id, r.type, r.at, r.actor, r.payload);
    set.run(prev, hash, r.seq);
    prev = hash;
  }
}

const seqOf = (db: Database.Database, type: string, nth = 0): number =>
  (
    db.prepare("SELECT seq FROM events WHERE change_id = 'CHG-1' AND type = ? ORDER BY seq").all(type) as {
      seq: number;
    }[]
  )[nth]!.seq;

describe("audit verify against a forged store", () => {
  it("the untouched store verifies, every change rebuilt from its events, and reaches the witness", () => {
    const s = openStore(original);
    expect(s.verify({ witnesses: [head] })).toMatchObject({
      ok: true,
      changes: 2,
      witnessed: [`the pack exported yesterday: event ${head.seq}`],
    });
    s.close();
  });

  it("an edited event row is named by the chain; re-hashed, by the rebuilt change and the witness", () => {
    const editReason = (db: Database.Database) => {
      const seq = seqOf(db, "change_requested");
      const row = db.prepare("SELECT payload FROM events WHERE seq = ?").get(seq) as { payload: string };
      db.prepare("UPDATE events SET payload = ? WHERE seq = ?").run(
        row.payload.replace('"reason":"quarterly rotation"', '"reason":"routine"'),
        seq,
      );
      return seq;
    };
    let seq = 0;
    const plain = forged((db) => void (seq = editReason(db)));
    for (const w of [[], [head]]) {
      const r = verify(plain, w);
      expect(r.problem).toBe(
        `event ${seq} (change_requested) hash does not match its content — the row was edited`,
      );
      expect(r.firstBadSeq).toBe(seq);
    }

    const rewritten = forged((db) => rehash(db, editReason(db)));
    const alone = verify(rewritten);
    expect(alone.problem).toBe(
      'CHG-1: reason differs: table says "quarterly rotation", events say "routine"',
    );
    const witnessed = verify(rewritten, [head]);
    expect(witnessed.problems).toContain(
      `event ${head.seq}'s hash is ${hashAt(rewritten, head.seq).slice(0, 16)}…, but the pack exported yesterday saw ${head.hash.slice(0, 16)}… — the log was rewritten at or before event ${head.seq}`,
    );
  });

  it("an edited changes row is named with the first field that differs, also with a witness", () => {
    const path = forged((db) => {
      db.prepare(
        "UPDATE changes SET doc = json_set(doc, '$.reason', 'routine', '$.approvals[0].by.displayName', 'Mallory') WHERE id = 'CHG-1'",
      ).run();
    });
    for (const w of [[], [head]]) {
      const r = verify(path, w);
      expect(r.problem).toBe('CHG-1: reason differs: table says "routine", events say "quarterly rotation"');
      expect(r.problems).toHaveLength(1);
    }
    // the approver alone: the field is named down to the approval
    const approver = forged((db) => {
      db.prepare(
        "UPDATE changes SET doc = json_set(doc, '$.approvals[0].by.displayName', 'Mallory') WHERE id = 'CHG-1'",
      ).run();
    });
    expect(verify(approver).problem).toBe(
      'CHG-1: approvals[0].by.displayName differs: table says "Mallory", events say "Bob Okafor"',
    );
    // the state column the read models filter on, and a row no event records
    const column = forged((db) => {
      db.prepare("UPDATE changes SET state = 'rolled_back' WHERE id = 'CHG-2'").run();
      db.prepare(
        "INSERT INTO changes (id, account_id, state, open, created_at, updated_at, completed_at, doc) SELECT 'CHG-7', account_id, state, 0, created_at, updated_at, completed_at, replace(doc, 'CHG-1', 'CHG-7') FROM changes WHERE id = 'CHG-1'",
      ).run();
    });
    expect(verify(column).problems).toEqual([
      'CHG-2: state column differs: table says "rolled_back", events say "cancelled"',
      "CHG-7: the changes table has it, but no event records it — the row was added outside keyturn",
    ]);
  });

  it("a dropped tail with the stored count lowered is named by the changes it leaves behind, and by the witness", () => {
    let last = 0;
    const path = forged((db) => {
      // CHG-1's last events: its completion
      last = seqOf(db, "step_succeeded", 7);
      const cut = (db.prepare("SELECT COUNT(*) AS n FROM events WHERE seq >= ?").get(last) as { n: number })
        .n;
      db.prepare("DELETE FROM events WHERE seq >= ?").run(last);
      db.prepare("UPDATE counters SET value = value - ? WHERE name = 'events'").run(cut);
    });
    const alone = verify(path);
    expect(alone.problem).toBe('CHG-1: state differs: table says "completed", events say "running"');
    // CHG-2 came after: its row outlived its events
    expect(alone.problems).toEqual([
      'CHG-1: state differs: table says "completed", events say "running"',
      "CHG-2: the changes table has it, but no event records it — the row was added outside keyturn",
    ]);
    const witnessed = verify(path, [head]);
    expect(witnessed.problem).toBe(
      `gap: the log ends at event ${last - 1}, but the pack exported yesterday saw event ${head.seq} (head ${head.hash.slice(0, 16)}…): events ${last}–${head.seq} are missing — the end of the log was cut off`,
    );
    expect(witnessed.firstBadSeq).toBe(last);
  });

  it("a reordered pair is named by the chain; re-hashed, by the rebuilt change and the witness", () => {
    const swapApprovals = (db: Database.Database) => {
      const a = seqOf(db, "approved", 0);
      const b = seqOf(db, "approved", 1);
      const get = db.prepare("SELECT type, at, actor, payload FROM events WHERE seq = ?");
      const ra = get.get(a) as Record<string, string>;
      const rb = get.get(b) as Record<string, string>;
      const put = db.prepare("UPDATE events SET type = ?, at = ?, actor = ?, payload = ? WHERE seq = ?");
      put.run(rb.type, rb.at, rb.actor, rb.payload, a);
      put.run(ra.type, ra.at, ra.actor, ra.payload, b);
      return a;
    };
    let first = 0;
    const plain = forged((db) => void (first = swapApprovals(db)));
    for (const w of [[], [head]])
      expect(verify(plain, w).problem).toBe(
        `event ${first} (approved) hash does not match its content — the row was edited`,
      );

    const rewritten = forged((db) => rehash(db, swapApprovals(db)));
    const alone = verify(rewritten);
    expect(alone.problem).toMatch(
      /^CHG-1: approvals\[0\]\.(by\.id|at) differs: table says .*, events say .*/,
    );
    expect(verify(rewritten, [head]).problems).toContain(
      `event ${head.seq}'s hash is ${hashAt(rewritten, head.seq).slice(0, 16)}…, but the pack exported yesterday saw ${head.hash.slice(0, 16)}… — the log was rewritten at or before event ${head.seq}`,
    );
  });
});

function hashAt(path: string, seq: number): string {
  const db = new Database(path, { readonly: true });
  try {
    return (db.prepare("SELECT hash FROM events WHERE seq = ?").get(seq) as { hash: string }).hash;
  } finally {
    db.close();
  }
}
