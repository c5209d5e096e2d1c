/**
 * Backup and restore of keyturn's SQLite store.
 *
 * Backup uses SQLite's online backup API (better-sqlite3 `db.backup()`): a consistent copy while
 * keyturn runs, written beside the destination and renamed into place only once it is complete and
 * `audit verify` passes on it, so a file under the destination name is always a verified backup.
 * The copy is one self-contained file (rollback journal, no -wal beside it).
 *
 * Restore verifies the backup first, refuses while a keyturn process runs on the data directory,
 * keeps the database it replaces (renamed, never deleted), and leaves the restored lease expired so
 * the next keyturn takes over at once.
 *
 * The checkpoint signing key is not in the database and so not in a backup: it is a secret, kept
 * apart (see signingKeyPath).
 */
import { copyFileSync, existsSync, renameSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import Database from "better-sqlite3";
import type { VerifyResult } from "../core/ports.js";
import { KeyturnError } from "../core/errors.js";
import { hostname } from "node:os";
import { openStore } from "./open-store.js";

export type VerifiedOk = Extract<VerifyResult, { ok: true }>;

export interface BackupResult {
  readonly file: string;
  readonly bytes: number;
  readonly verify: VerifiedOk;
  readonly schemaVersion: number;
}

const SIDE_FILES = ["-wal", "-shm", "-journal"];

/** A consistent, verified copy of the live database at `dest` (never overwritten). */
export async function backupStore(dbPath: string, dest: string): Promise<BackupResult> {
  if (!existsSync(dbPath))
    throw new KeyturnError(
      "config_invalid",
      `There is no keyturn database at ${dbPath}. Check KEYTURN_DATA_DIR (it names the data directory keyturn runs on).`,
    );
  if (existsSync(dest))
    throw new KeyturnError(
      "config_invalid",
      `${dest} already exists; keyturn does not overwrite a backup. Give a new file name (e.g. with today's date), or move the old one away first.`,
    );
  if (!existsSync(dirname(dest)))
    throw new KeyturnError(
      "config_invalid",
      `The directory ${dirname(dest)} does not exist. Create it, or give a path in an existing directory.`,
    );
  const partial = join(dirname(dest), `.${basename(dest)}.partial-${process.pid}`);
  const src = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    src.pragma("busy_timeout = 5000");
    await src.backup(partial);
  } catch (e) {
    removeWithSideFiles(partial);
    throw e;
  } finally {
    src.close();
  }
  try {
    selfContained(partial);
    const checked = verifyFile(partial);
    if (!checked.verify.ok)
      throw new KeyturnError(
        "tampered",
        `The copy does not pass audit verify (${checked.verify.problem ?? "see keyturn audit verify"}); no backup was written. Run \`keyturn audit verify\` on the live data and keep the database as it is (copy ${dirname(dbPath)} aside); tell your security team.`,
      );
    renameSync(partial, dest);
    return {
      file: dest,
      bytes: statSync(dest).size,
      verify: checked.verify,
      schemaVersion: checked.schemaVersion,
    };
  } finally {
    removeWithSideFiles(partial);
  }
}

/** Opens a database file as keyturn does (migrating it when older) and verifies it; closes it again. */
export function verifyFile(file: string): { verify: VerifyResult; schemaVersion: number } {
  const store = openStore(file);
  try {
    return { verify: store.verify(), schemaVersion: schemaVersionOf(file) };
  } finally {
    store.close();
    selfContained(file);
  }
}

export interface RestoreResult {
  readonly restored: string;
  /** Where the database it replaced was kept (null: there was none). */
  readonly keptAside: string | null;
  readonly verify: VerifiedOk;
}

/** Restores a verified backup into `dbPath`; refuses while a keyturn process runs on it. */
export function restoreStore(backup: string, dbPath: string, now: Date = new Date()): RestoreResult {
  if (!existsSync(backup))
    throw new KeyturnError(
      "config_invalid",
      `There is no file ${backup}. Give the path of a backup made by keyturn backup.`,
    );
  if (existsSync(dbPath)) refuseWhileRunning(dbPath, now);
  // verify a private copy: the backup file itself stays exactly as it was made
  const staged = join(dirname(dbPath), `.keyturn.db.restore-${process.pid}`);
  removeWithSideFiles(staged);
  copyFileSync(backup, staged);
  try {
    let checked: { verify: VerifyResult };
    try {
      checked = verifyFile(staged);
    } catch (e) {
      throw new KeyturnError(
        "config_invalid",
        `${backup} is not a keyturn database keyturn can open (${e instanceof Error ? e.message : String(e)}). Give a file made by keyturn backup.`,
      );
    }
    if (!checked.verify.ok)
      throw new KeyturnError(
        "tampered",
        `${backup} does not pass audit verify (${checked.verify.problem ?? "problems found"}); nothing was restored. Use another backup, and keep this one for your security team.`,
      );
    // the restored lease is expired at once: no process from the backup's time stands in the way
    const db = new Database(staged);
    try {
      const at = now.toISOString();
      db.prepare("UPDATE runner_lease SET expires_at = ?, renewed_at = ? WHERE id = 1").run(at, at);
      db.pragma("journal_mode = DELETE");
    } finally {
      db.close();
    }
    let keptAside: string | null = null;
    if (existsSync(dbPath)) {
      keptAside = `${dbPath}.before-restore-${now.toISOString().replace(/[:.]/g, "-")}`;
      moveWithSideFiles(dbPath, keptAside);
    }
    renameSync(staged, dbPath);
    return { restored: dbPath, keptAside, verify: checked.verify };
  } finally {
    removeWithSideFiles(staged);
  }
}

function refuseWhileRunning(dbPath: string, now: Date): void {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    const lease = db
      .prepare("SELECT holder, pid, host, expires_at AS expiresAt FROM runner_lease WHERE id = 1")
      .get() as { holder: string; pid: number; host: string; expiresAt: string } | undefined;
    if (!lease || Date.parse(lease.expiresAt) <= now.getTime()) return;
    if (lease.host === hostname() && !pidAlive(lease.pid)) return;
    throw new KeyturnError(
      "config_invalid",
      `A keyturn process runs on this data directory (pid ${lease.pid} on host ${lease.host}). Stop it first (SIGTERM; it releases its lease), then run keyturn restore again.`,
    );
  } catch (e) {
    if (e instanceof KeyturnError) throw e;
    // an older database without the lease table: nothing runs on it
  } finally {
    db.close();
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to someone else
    return (e as NodeJS.ErrnoException).code !== "ESRCH";
  }
}

function schemaVersionOf(file: string): number {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return db.pragma("user_version", { simple: true }) as number;
  } finally {
    db.close();
  }
}

/** One file, no -wal beside it: a backup someone copies alone is complete. */
function selfContained(file: string): void {
  const db = new Database(file);
  try {
    db.pragma("journal_mode = DELETE");
  } finally {
    db.close();
  }
}

function removeWithSideFiles(file: string): void {
  for (const f of [file, ...SIDE_FILES.map((s) => file + s)]) rmSync(f, { force: true });
}

function moveWithSideFiles(from: string, to: string): void {
  for (const s of ["", ...SIDE_FILES]) if (existsSync(from + s)) renameSync(from + s, to + s);
}
