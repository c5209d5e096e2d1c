/** Finds key values where they must never be: files (raw bytes and SQLite text columns), strings. */
import Database from "better-sqlite3";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

const forms = (s: string) => [s, Buffer.from(s).toString("base64"), encodeURIComponent(s)];

export function findSecrets(
  haystacks: { name: string; text: string }[],
  secrets: string[],
): { where: string; secretPrefix: string }[] {
  const hits: { where: string; secretPrefix: string }[] = [];
  for (const h of haystacks) {
    for (const s of secrets) {
      if (s.length < 16) continue;
      if (forms(s).some((f) => h.text.includes(f)))
        hits.push({ where: h.name, secretPrefix: s.slice(0, 4) + "…" });
    }
  }
  return hits;
}

export async function scanPaths(
  paths: string[],
  secrets: string[],
): Promise<{ where: string; secretPrefix: string }[]> {
  const hay: { name: string; text: string }[] = [];
  const visit = (p: string) => {
    if (!existsSync(p)) return;
    if (statSync(p).isDirectory()) {
      for (const f of readdirSync(p)) visit(join(p, f));
      return;
    }
    hay.push({ name: p, text: readFileSync(p).toString("latin1") });
    if (/\.(db|sqlite)$/.test(p)) {
      const db = new Database(p, { readonly: true, fileMustExist: true });
      try {
        for (const { name } of db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as {
          name: string;
        }[]) {
          const rows = db.prepare(`SELECT * FROM "${name}"`).all();
          hay.push({ name: `${p}#${name}`, text: JSON.stringify(rows) });
        }
      } finally {
        db.close();
      }
    }
  };
  for (const p of paths) visit(p);
  return findSecrets(hay, secrets);
}
