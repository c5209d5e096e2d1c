/** `keyturn migrate-store --to postgres://…`: the SQLite store of KEYTURN_DATA_DIR into an empty PostgreSQL database. */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { readConfig } from "../../config/read-config.js";
import { isKeyturnError } from "../../core/errors.js";
import { migrateStore } from "./migrate-store.js";

export const MIGRATE_STORE_HELP = `  keyturn migrate-store --to <postgres://user@host:5432/db?sslmode=require>
                                    copy the SQLite store (events with their hashes, changes, timers, kv,
                                    declared consumers, idempotency keys) into an EMPTY PostgreSQL database
                                    in one transaction; kept only if audit verify passes on the copy
`;

export async function migrateStoreCommand(args: readonly string[]): Promise<number> {
  const { values } = parseArgs({ args: [...args], options: { to: { type: "string" } } });
  const url = values.to ?? process.env.KEYTURN_DATABASE_URL;
  if (!url) {
    process.stderr.write(
      `keyturn: migrate-store needs the target database: keyturn migrate-store --to postgres://<user>@<host>:5432/<database>?sslmode=require (or set KEYTURN_DATABASE_URL)\n\n${MIGRATE_STORE_HELP}`,
    );
    return 2;
  }
  const c = readConfig();
  const source = join(c.dataDir, "keyturn.db");
  let r;
  try {
    r = await migrateStore(source, url);
  } catch (e) {
    // a copy or a source that does not verify is an audit finding: exit 1 like audit verify
    if (isKeyturnError(e) && e.code === "tampered") {
      process.stderr.write(`keyturn: ${e.userMessage}\n`);
      return 1;
    }
    throw e;
  }
  const v = r.verify;
  const copied = Object.entries(r.rows)
    .filter(([t]) => t !== "events")
    .map(([t, n]) => `${t} ${n}`)
    .join(", ");
  process.stdout.write(
    [
      `copied ${source} into ${r.target}: ${r.events} events (head ${r.head}); ${copied}`,
      `audit verify on PostgreSQL: chain OK (${v.events} events, same head); ${v.changes ?? 0} change(s) rebuilt from their events match the changes table`,
      "The SQLite store stays where it is, and keyturn start still runs on it in this version: keep KEYTURN_DATA_DIR as it is until the PostgreSQL store is wired into start (see docs/operations.md).",
    ].join("\n") + "\n",
  );
  return 0;
}
