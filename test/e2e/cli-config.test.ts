import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";

const dir = mkdtempSync(join(tmpdir(), "keyturn-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const cli = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, ["dist/src/cli.js", ...args], {
    env: { PATH: process.env.PATH ?? "", KEYTURN_DATA_DIR: join(dir, "data"), ...env },
    encoding: "utf8",
    timeout: 120_000,
  });

describe("the command line", () => {
  it("lists every configuration problem with a fix, exits non-zero, shows no stack trace", () => {
    const policy = join(dir, "bad-policy.yaml");
    writeFileSync(
      policy,
      "defaults:\n  approvers: [group:secopz]\n  approvalsRequired: two\ngroups:\n  secops: [bob@contoso.com]\n",
    );
    const r = cli(["config", "check"], {
      SLACK_BOT_TOKEN: "xoxb-1",
      KEYTURN_POLICY_FILE: policy,
      PORT: "not-a-port",
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/PORT: must be a port number/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    const r2 = cli(["config", "check"], { SLACK_BOT_TOKEN: "xoxb-1", KEYTURN_POLICY_FILE: policy });
    expect(r2.status).toBe(2);
    expect(r2.stderr).toMatch(/SLACK_SIGNING_SECRET: missing/);
    expect(r2.stderr).toMatch(/policy: defaults\.approvalsRequired: expected a positive integer/);
    expect(r2.stderr).toMatch(/policy: defaults\.approvers\[0\]: unknown group "secopz"/);
    expect(r2.stderr).not.toMatch(/\n\s+at /);
    const malformed = join(dir, "malformed.yaml");
    writeFileSync(malformed, "defaults: [unclosed\n");
    expect(cli(["config", "check"], { KEYTURN_POLICY_FILE: malformed }).stderr).toMatch(/not valid YAML/);
  });

  it("config check echoes a valid configuration with secrets redacted", () => {
    const r = cli(["config", "check"], {
      KEYTURN_SANDBOX: "1",
      SLACK_BOT_TOKEN: "xoxb-very-secret-token",
      SLACK_SIGNING_SECRET: "signing-secret-value",
    });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/configuration OK \(sandbox mode\)/);
    expect(r.stdout).not.toContain("very-secret-token");
    expect(r.stdout).not.toContain("signing-secret-value");
  });

  it("runs a command file, exports evidence that lists every step and approval, and audit verify names a tampered event", () => {
    const script = join(dir, "tour.txt");
    // fabrikam-app holds a literal copy of the key: the cutover gate stops until an approver waives it
    writeFileSync(
      script,
      [
        'rotate fabrikam-ai --reason "scheduled"',
        "as bob",
        "approve CHG-1",
        "wait CHG-1 paused 60",
        'waive CHG-1 fabrikam-app --reason "owner updates it by hand"',
        "resume CHG-1",
        "wait CHG-1 completed 60",
        "evidence CHG-1",
      ].join("\n"),
    );
    const run = cli(["run", script]);
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/CHG-1 is paused/);
    expect(run.stdout).toMatch(/fabrikam-app still holds a literal copy of key1/);
    expect(run.stdout).toMatch(/CHG-1 is completed/);
    const ev = cli(["evidence", "CHG-1", "--out", join(dir, "ev")]);
    expect(ev.status).toBe(0);
    const md = readFileSync(join(dir, "ev", "keyturn-evidence-CHG-1.md"), "utf8");
    expect(md.match(/^### \d\. /gm)).toHaveLength(8);
    expect(md).toMatch(/Bob Okafor \(console:bob\) at/);
    expect(md).toMatch(/Verified: \d+ events/);
    expect(cli(["audit", "verify"]).stdout).toMatch(/chain OK/);

    const db = new Database(join(dir, "data", "keyturn.db"));
    db.exec("DROP TRIGGER events_no_update");
    const row = db.prepare("SELECT seq, type FROM events WHERE type = 'approved'").get() as {
      seq: number;
      type: string;
    };
    db.prepare("UPDATE events SET actor = 'console:mallory' WHERE seq = ?").run(row.seq);
    db.close();
    const verify = cli(["audit", "verify"]);
    expect(verify.status).toBe(1);
    expect(verify.stdout).toContain(`TAMPERED: event ${row.seq} (approved) hash does not match its content`);
  });
});
