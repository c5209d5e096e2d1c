/**
 * Finds key values where they must never be: strings (chat messages, HTTP bodies), files and
 * directories (logs, evidence packs, SQLite databases with their -wal files). Every tier uses it to
 * prove that key values never leave memory.
 */
import Database from "better-sqlite3";
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";

export interface SecretHit {
  /** The haystack (file, `file#table`, message name) and the form the secret was found in. */
  readonly where: string;
  /** The first four characters of the secret, enough to tell which key leaked. */
  readonly secretPrefix: string;
}

/** Shorter values are not keys and would match by chance. */
const MIN_SECRET_LENGTH = 16;

/**
 * The forms a value takes when something encodes it: raw, URL-encoded, hex, and base64 /
 * base64url at each of the three byte alignments it can have inside a longer encoded blob (the
 * middle of the encoding, whose characters depend on the secret's bytes alone).
 */
function formsOf(secret: string): { form: string; text: string }[] {
  const bytes = Buffer.from(secret, "utf8");
  const forms = [
    { form: "raw", text: secret },
    { form: "url-encoded", text: encodeURIComponent(secret) },
    { form: "hex", text: bytes.toString("hex") },
  ];
  for (let shift = 0; shift < 3; shift++) {
    const b64 = Buffer.concat([Buffer.alloc(shift), bytes])
      .toString("base64")
      .replace(/=+$/, "");
    const middle = b64.slice(4, -4);
    if (middle.length < MIN_SECRET_LENGTH) continue;
    forms.push({ form: "base64", text: middle });
    forms.push({ form: "base64url", text: middle.replace(/\+/g, "-").replace(/\//g, "_") });
  }
  return forms.filter((f, i) => forms.findIndex((g) => g.text === f.text) === i);
}

export function findSecrets(haystacks: { name: string; text: string }[], secrets: string[]): SecretHit[] {
  const hits: SecretHit[] = [];
  const candidates = secrets
    .filter((s) => s.length >= MIN_SECRET_LENGTH)
    .map((s) => ({ s, forms: formsOf(s) }));
  for (const h of haystacks) {
    for (const { s, forms } of candidates) {
      const found = forms.find((f) => h.text.includes(f.text));
      if (found)
        hits.push({
          where: found.form === "raw" ? h.name : `${h.name} (${found.form})`,
          secretPrefix: s.slice(0, 4) + "…",
        });
    }
  }
  return hits;
}

/**
 * Reads every file under the paths (directories recursively; missing paths are skipped) as raw
 * bytes, and for *.db / *.sqlite also every text column of every table through SQLite, including
 * what is still only in the -wal file.
 */
export async function scanPaths(paths: string[], secrets: string[]): Promise<SecretHit[]> {
  const hay: { name: string; text: string }[] = [];
  const seen = new Set<string>();
  const visit = (p: string): void => {
    if (seen.has(p) || !existsSync(p)) return;
    seen.add(p);
    if (statSync(p).isDirectory()) {
      for (const f of readdirSync(p)) visit(join(p, f));
      return;
    }
    // latin1 maps every byte to one char: ASCII keys match whatever surrounds them
    hay.push({ name: p, text: readFileSync(p).toString("latin1") });
    if (/\.(db|sqlite3?)$/i.test(p)) {
      for (const side of ["-wal", "-journal"]) visit(p + side);
      hay.push(...tablesOf(p));
    }
  };
  for (const p of paths) visit(p);
  return findSecrets(hay, secrets);
}

/**
 * Every text and blob cell, table by table. Works on a copy (with its -wal), so a database a live
 * process holds open is neither locked nor checkpointed by the scan.
 */
function tablesOf(path: string): { name: string; text: string }[] {
  const dir = mkdtempSync(join(tmpdir(), "keyturn-scan-"));
  try {
    const copy = join(dir, basename(path));
    copyFileSync(path, copy);
    if (existsSync(path + "-wal")) copyFileSync(path + "-wal", copy + "-wal");
    let db: Database.Database;
    try {
      db = new Database(copy, { fileMustExist: true });
    } catch {
      return []; // not a SQLite file after all: its raw bytes were scanned
    }
    try {
      const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as {
        name: string;
      }[];
      return tables.map(({ name }) => {
        const cells: string[] = [];
        for (const row of db
          .prepare(`SELECT * FROM "${name.replace(/"/g, '""')}"`)
          .raw(true)
          .iterate() as IterableIterator<unknown[]>) {
          for (const c of row) {
            if (typeof c === "string") cells.push(c);
            else if (Buffer.isBuffer(c)) cells.push(c.toString("latin1"));
          }
        }
        return { name: `${path}#${name}`, text: cells.join("\n") };
      });
    } catch {
      return [];
    } finally {
      db.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
