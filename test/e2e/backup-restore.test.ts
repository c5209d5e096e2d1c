/**
 * Backup → verify → restore as an operator runs it, with the built program, on a database holding a
 * completed rotation (made by keyturn at commit 9d52222): `keyturn backup` writes a verified,
 * self-contained copy while keyturn runs, says where the signing key is and that it is not in the
 * backup, and never overwrites; `keyturn restore` refuses while keyturn runs on the data directory,
 * restores into an empty one; keyturn starts on the restored data, `audit verify` passes and the
 * history is there (`history` in Slack names the rotation).
 */
import Database from "better-sqlite3";
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeShortPolicy } from "../support/chaos-kit.js";
import { ChaosKeyturn, SLACK_IDS } from "../support/chaos-keyturn.js";
import { waitUntil } from "../support/spawn-keyturn.js";

let dir: string;
let running: ChaosKeyturn | null = null;
const FIXTURE = new URL("../fixtures/store-9d52222.sqlite", import.meta.url).pathname;

const cli = (dataDir: string, ...args: string[]) => {
  const r = spawnSync(process.execPath, ["dist/src/cli.js", ...args], {
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "",
      KEYTURN_DATA_DIR: dataDir,
      KEYTURN_SIGNING_KEY_FILE: join(dir, "secrets", "keyturn-signing.key"),
    },
    encoding: "utf8",
  });
  return { code: r.status, out: r.stdout + r.stderr };
};

const keyturnEnv = () => ({
  KEYTURN_SANDBOX: "1",
  KEYTURN_POLICY_FILE: writeShortPolicy(dir),
  KEYTURN_SIGNING_KEY_FILE: join(dir, "secrets", "keyturn-signing.key"),
});

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "keyturn-backup-"));
  mkdirSync(join(dir, "live"));
  mkdirSync(join(dir, "secrets"));
  mkdirSync(join(dir, "backups"));
  copyFileSync(FIXTURE, join(dir, "live", "keyturn.db"));
});

afterAll(async () => {
  await running?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("keyturn backup and restore", () => {
  it("backs up a live store verified, restores it, and keyturn runs on it with its history", async () => {
    const live = join(dir, "live");
    // an evidence pack first: the store's checkpoints get a signing key, kept apart from the data
    expect(cli(live, "evidence", "CHG-1", "--out", join(dir, "packs")).code).toBe(0);
    const key = join(dir, "secrets", "keyturn-signing.key");
    expect(existsSync(key)).toBe(true);

    // backup while keyturn runs on the live data
    running = await new ChaosKeyturn(live, keyturnEnv()).start();
    const file = join(dir, "backups", "keyturn-2026-11-30.sqlite");
    const b = cli(live, "backup", file);
    expect(b.out).toMatch(/^backup written: .*keyturn-2026-11-30\.sqlite \(\d+ KiB, schema version \d+\)/);
    expect(b.out).toMatch(
      /audit verify on the copy: chain OK \(\d+ events, head [0-9a-f]{64}\); 1 change\(s\)/,
    );
    expect(b.out).toContain(`The checkpoint signing key is NOT in the backup: it is ${key}.`);
    expect(b.code).toBe(0);
    // one self-contained file, nothing half-written beside it
    expect(readdirSync(join(dir, "backups"))).toEqual(["keyturn-2026-11-30.sqlite"]);

    // a store whose log was edited is not backed up as if it were sound
    const edited = join(dir, "edited");
    mkdirSync(edited);
    copyFileSync(FIXTURE, join(edited, "keyturn.db"));
    const db = new Database(join(edited, "keyturn.db"));
    db.exec("DROP TRIGGER events_no_update; UPDATE events SET actor = 'mallory' WHERE seq = 4;");
    db.close();
    const refused = cli(edited, "backup", join(dir, "backups", "edited.sqlite"));
    expect(refused.out).toMatch(
      /The copy does not pass audit verify \(.*event 4.*\); no backup was written\./,
    );
    expect(refused.code).toBe(1);
    expect(readdirSync(join(dir, "backups"))).toEqual(["keyturn-2026-11-30.sqlite"]);

    // never overwrites
    const again = cli(live, "backup", file);
    expect(again.code).toBe(2);
    expect(again.out).toMatch(/already exists; keyturn does not overwrite a backup\. Give a new file name/);

    // restore refuses while keyturn runs on the data directory
    const busy = cli(live, "restore", file);
    expect(busy.code).toBe(2);
    expect(busy.out).toMatch(
      /A keyturn process runs on this data directory \(pid \d+ on host \S+\)\. Stop it first \(SIGTERM; it releases its lease\), then run keyturn restore again\./,
    );
    await running.stop();
    running = null;

    // restore into a new data directory (a new machine)
    const fresh = join(dir, "restored");
    const r = cli(fresh, "restore", file);
    expect(r.out).toMatch(
      /backup verified: chain OK \(\d+ events, head [0-9a-f]{64}\); 1 change\(s\) match their events/,
    );
    expect(r.out).toContain(`restored into ${join(fresh, "keyturn.db")}`);
    expect(r.out).toMatch(/Next: start keyturn, then run keyturn audit verify\./);
    expect(r.code).toBe(0);

    // keyturn starts on the restored data, at once the runner; the rotation is in its history
    running = await new ChaosKeyturn(fresh, keyturnEnv()).start();
    expect(running.output()).toMatch(/keyturn ready on/);
    expect(running.output()).not.toMatch(/STANDBY/);
    await running.command(SLACK_IDS.alice, "history contoso-translator");
    const slack = running.slack;
    await waitUntil("the history answer", () => slack.responses.length > 0, 20_000);
    expect(JSON.stringify(slack.responses)).toMatch(/CHG-1/);
    await running.stop();
    running = null;

    const verify = cli(fresh, "audit", "verify");
    expect(verify.out).toMatch(/chain OK: \d+ events/);
    expect(verify.out).toMatch(/changes OK: 1 change\(s\)/);
    expect(verify.code).toBe(0);
  });
});
