/**
 * The built program as an auditor uses it: an evidence pack copied to an empty folder verifies with
 * `keyturn audit verify --pack` and nothing else; one byte changed fails it. A store whose changes
 * table was edited makes `keyturn evidence` say so first and exit non-zero, and a pack is a witness
 * that catches a dropped tail.
 */
import { spawnSync } from "node:child_process";
import {
  copyFileSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";

const dir = mkdtempSync(join(tmpdir(), "keyturn-audit-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const program = resolve("dist/src/cli.js");

const cli = (args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) =>
  spawnSync(process.execPath, [program, ...args], {
    cwd: opts.cwd ?? process.cwd(),
    env: { PATH: process.env.PATH ?? "", ...(opts.env ?? { KEYTURN_DATA_DIR: join(dir, "data") }) },
    encoding: "utf8",
    timeout: 120_000,
  });

const packName = "keyturn-evidence-CHG-1.json";

describe("evidence an auditor verifies offline", () => {
  it("a pack copied to an empty folder verifies alone; one byte changed fails it", () => {
    const script = join(dir, "cancelled.txt");
    writeFileSync(
      script,
      ['rotate contoso-translator --reason "leaked in PR 123"', 'cancel CHG-1 --reason "wrong account"'].join(
        "\n",
      ),
    );
    expect(cli(["run", script]).status).toBe(0);
    const ev = cli(["evidence", "CHG-1", "--out", join(dir, "ev")]);
    expect(ev.stderr).toBe("");
    expect(ev.status).toBe(0);
    // the signing key lives beside the data directory, not in it, readable by its owner only
    const key = join(dir, "keyturn-signing.key");
    expect(statSync(key).mode & 0o777).toBe(0o600);
    expect(readdirSync(join(dir, "data"))).not.toContain("keyturn-signing.key");
    const md = readFileSync(join(dir, "ev", "keyturn-evidence-CHG-1.md"), "utf8");
    expect(md).toMatch(/## Signed checkpoint/);
    expect(md).toMatch(/BEGIN PUBLIC KEY/);

    const empty = mkdtempSync(join(tmpdir(), "keyturn-auditor-"));
    try {
      copyFileSync(join(dir, "ev", packName), join(empty, packName));
      const ok = cli(["audit", "verify", "--pack", packName], { cwd: empty, env: {} });
      expect(ok.stderr).toBe("");
      expect(ok.status).toBe(0);
      expect(ok.stdout).toMatch(/content digest matches the seal/);
      expect(ok.stdout).toMatch(/signature verifies: Ed25519, key sha256:[0-9a-f]{16}, over event \d+/);
      expect(ok.stdout).toMatch(/pack OK: keyturn-evidence-CHG-1\.json verifies on its own/);
      expect(readdirSync(empty)).toEqual([packName]);

      const original = readFileSync(join(empty, packName));
      const at = original.indexOf(Buffer.from("leaked in PR 123")) + "leaked in PR ".length;
      const edited = Buffer.from(original);
      edited[at] = "4".charCodeAt(0); // "PR 123" → "PR 423"
      writeFileSync(join(empty, packName), edited);
      const bad = cli(["audit", "verify", "--pack", packName], { cwd: empty, env: {} });
      expect(bad.status).toBe(1);
      expect(bad.stdout).toMatch(
        /FAILED: keyturn-evidence-CHG-1\.json's content does not match its seal .*the pack was edited after keyturn wrote it/,
      );
      expect(bad.stdout).toMatch(/pack NOT verified/);

      // a byte that changes no value (layout) fails too
      const spaced = Buffer.from(original);
      spaced[original.indexOf(Buffer.from('"schema"')) - 1] = "\t".charCodeAt(0);
      writeFileSync(join(empty, packName), spaced);
      const layout = cli(["audit", "verify", "--pack", packName], { cwd: empty, env: {} });
      expect(layout.status).toBe(1);
      expect(layout.stdout).toMatch(/bytes are not the ones keyturn wrote/);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it("a tampered store: evidence warns first and exits 1; a pack as witness catches a dropped tail", () => {
    const pack = join(dir, "ev", packName);
    const witnessed = cli(["audit", "verify", "--witness", pack]);
    expect(witnessed.status).toBe(0);
    expect(witnessed.stdout).toMatch(/changes OK: 1 change\(s\) rebuilt from their events/);
    expect(witnessed.stdout).toMatch(/witness OK: the log still reaches keyturn-evidence-CHG-1\.json/);

    const dbPath = join(dir, "data", "keyturn.db");
    const db = new Database(dbPath);
    db.prepare("UPDATE changes SET doc = json_set(doc, '$.reason', 'routine') WHERE id = 'CHG-1'").run();
    db.close();
    const ev = cli(["evidence", "CHG-1", "--out", join(dir, "ev2")]);
    expect(ev.status).toBe(1);
    expect(ev.stderr.split("\n")[0]).toMatch(
      /^keyturn: TAMPERED: the audit log does NOT verify — CHG-1: reason differs: table says "routine", events say "leaked in PR 123"/,
    );
    const md = readFileSync(join(dir, "ev2", "keyturn-evidence-CHG-1.md"), "utf8");
    expect(md.split("\n")[0]).toMatch(/^> \*\*WARNING — TAMPERED: the audit log does NOT verify/);
    // the pack shows the change as its events say, not the forged row
    expect(md).not.toMatch(/\| Reason \| routine \|/);
    expect(md).toContain("leaked in PR 123");

    // the last events deleted and the stored count lowered: the chain alone still verifies
    const db2 = new Database(dbPath);
    db2.exec("DROP TRIGGER IF EXISTS events_no_delete");
    db2
      .prepare("UPDATE changes SET doc = json_set(doc, '$.reason', 'leaked in PR 123') WHERE id = 'CHG-1'")
      .run();
    const last = (db2.prepare("SELECT MAX(seq) AS v FROM events").get() as { v: number }).v;
    const cancel = (db2.prepare("SELECT seq FROM events WHERE type = 'cancelled'").get() as { seq: number })
      .seq;
    db2.prepare("DELETE FROM events WHERE seq >= ?").run(cancel);
    db2.prepare("UPDATE counters SET value = ? WHERE name = 'events'").run(cancel - 1);
    db2.close();
    const alone = cli(["audit", "verify"]);
    expect(alone.status).toBe(1);
    expect(alone.stdout).not.toMatch(/gap|chain OK/);
    expect(alone.stdout).toContain(
      'TAMPERED: CHG-1: state differs: table says "cancelled", events say "awaiting_approval"',
    );
    const withPack = cli(["audit", "verify", "--witness", pack]);
    expect(withPack.status).toBe(1);
    expect(withPack.stdout.split("\n")[0]).toMatch(
      new RegExp(
        `^TAMPERED: gap: the log ends at event ${cancel - 1}, but keyturn-evidence-CHG-1\\.json \\(signed [^)]+\\) saw event ${last} \\(head [0-9a-f]{16}…\\): events? ${cancel}(–${last})? (is|are) missing — the end of the log was cut off$`,
      ),
    );
    // the head as printed in a thread or a digest (seq:hash) is a witness too
    const head = /over event (\d+), head ([0-9a-f]{64})/.exec(
      cli(["audit", "verify", "--pack", pack], { env: {} }).stdout,
    );
    expect(head?.[1]).toBe(String(last));
    const bySeq = cli(["audit", "verify", "--witness", `${head![1]}:${head![2]}`]);
    expect(bySeq.status).toBe(1);
    expect(bySeq.stdout).toMatch(
      new RegExp(`TAMPERED: gap: the log ends at event ${cancel - 1}, but witness ${last}:`),
    );
  });
});
