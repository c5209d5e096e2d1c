import Database from "better-sqlite3";
import { mkdirSync, writeFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { findSecrets, scanPaths } from "../support/scan-secrets.js";
import { useTempDir } from "../support/temp-dir.js";

const PLANTED = "Qm7Rt2Yu8Io3Pa6Sd1Fg5Hj9Kl4Zx0Cv7Bn2Mq8We3Rt6Yu1Io5Pa9Sd4Fg0Hj3Kl7Zx2Cv6Bn1Mq5We8Rt4Y";
const ABSENT = "Lp0Ok9Ij8Uh7Yg6Tf5Rd4Es3Wa2Qz1Xs0Cd9Vf8Bg7Nh6Mj5Ki4Lo3Pl2Ok1Ij0Uh9Yg8Tf7Rd6Es5Wa4Qz3X";
const tmp = useTempDir("keyturn-scan-");

describe("the secret scanner used by every test tier", () => {
  it("finds a planted key in strings, raw or encoded, and nothing that is not there", () => {
    const blob = Buffer.concat([Buffer.from("xy"), Buffer.from(`{"k":"${PLANTED}"}`)]).toString("base64");
    const hits = findSecrets(
      [
        { name: "chat", text: `posted: ${PLANTED}.` },
        { name: "http", text: `body=${blob}` },
        { name: "clean", text: `sha256:0123456789ab ${PLANTED.slice(0, 20)}` },
      ],
      [PLANTED, ABSENT, "short"],
    );
    expect(hits).toEqual([
      { where: "chat", secretPrefix: "Qm7R…" },
      { where: "http (base64)", secretPrefix: "Qm7R…" },
    ]);
  });

  it("finds a key in nested files and in a SQLite database whose rows are still only in the WAL", async () => {
    const dir = tmp.current;
    mkdirSync(dir.file("evidence", "CHG-1"), { recursive: true });
    writeFileSync(dir.file("evidence", "CHG-1", "pack.md"), "# CHG-1\nfingerprint sha256:0123456789ab\n");
    expect(await scanPaths([dir.path, dir.file("does-not-exist")], [PLANTED])).toEqual([]);

    writeFileSync(
      dir.file("evidence", "CHG-1", "pack.json"),
      JSON.stringify({ leaked: encodeURIComponent(PLANTED) }),
    );
    const db = new Database(dir.file("keyturn.db"));
    db.pragma("journal_mode = WAL");
    db.pragma("wal_autocheckpoint = 0"); // keep the row out of the main file
    db.exec("CREATE TABLE kv (k TEXT, v TEXT)");
    db.prepare("INSERT INTO kv VALUES (?, ?)").run("teams", JSON.stringify({ note: PLANTED }));
    try {
      const hits = await scanPaths([dir.file("keyturn.db"), dir.file("evidence")], [PLANTED, ABSENT]);
      const where = hits.map((h) => h.where.replace(dir.path, ""));
      expect(where).toContain("/keyturn.db#kv");
      expect(where).toContain("/keyturn.db-wal");
      expect(where).toContain("/evidence/CHG-1/pack.json");
      expect(hits.every((h) => h.secretPrefix === "Qm7R…")).toBe(true);
    } finally {
      db.close();
    }
  });
});
