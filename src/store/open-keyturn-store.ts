/**
 * The store keyturn runs on: the SQLite file in its data directory (the default: nothing to set up),
 * or the PostgreSQL database named by KEYTURN_DATABASE_URL (several replicas on one database; one of
 * them, the lease holder, runs steps and timers). Both behind the same asynchronous port.
 */
import { join } from "node:path";
import type { AsyncStore, Logger } from "../core/ports.js";
import { asyncStore } from "./async-sqlite.js";
import { signingKeyPath } from "./checkpoint-signer.js";
import { openStore } from "./open-store.js";

export interface KeyturnStore {
  readonly store: AsyncStore;
  readonly kind: "sqlite" | "postgresql";
  /** Where it is, for people: the file, or user@host:port/db (never a password). */
  readonly where: string;
}

export async function openKeyturnStore(
  dataDir: string,
  env: NodeJS.ProcessEnv,
  logger?: Logger,
): Promise<KeyturnStore> {
  const dbPath = join(dataDir, "keyturn.db");
  const url = env.KEYTURN_DATABASE_URL?.trim();
  if (!url) return { store: asyncStore(openStore(dbPath)), kind: "sqlite", where: dbPath };
  // loaded only when asked for: the default SQLite start never loads the PostgreSQL client
  const { openPgStore } = await import("./pg/pg-store.js");
  const { pgTarget } = await import("./pg/connection.js");
  const store = await openPgStore(url, {
    ...(logger ? { logger } : {}),
    // every replica signs checkpoints with the same key: one file, given to each (a Key Vault reference in production)
    signingKeyFile: signingKeyPath(dbPath, env),
    replica: true,
  });
  return { store, kind: "postgresql", where: pgTarget(url).display };
}
