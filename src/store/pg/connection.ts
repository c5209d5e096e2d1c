/**
 * From KEYTURN_DATABASE_URL to node-postgres settings, with keyturn's rules:
 * - `postgres://user@host:5432/db?sslmode=require` without a password signs in with a Microsoft
 *   Entra token (entra-password.ts); with a password, that password.
 * - TLS is required unless the host is loopback, and the server's certificate is always verified
 *   (sslmode require, verify-ca and verify-full all verify it here; Azure's certificates chain to
 *   public roots Node.js trusts). `sslrootcert=<file>` adds a private CA.
 * The URL's password never appears in a message.
 */
import { readFileSync } from "node:fs";
import type { ConnectionOptions } from "node:tls";
import type { TokenCredential } from "@azure/core-auth";
import pg from "pg";
import { KeyturnError } from "../../core/errors.js";
import { entraPassword } from "./entra-password.js";

export interface PgConnectionOptions {
  /** The credential for an Entra sign-in (default: DefaultAzureCredential, created on first use). */
  readonly credential?: TokenCredential;
  /** Connections kept open at most (default 10). */
  readonly max?: number;
}

export interface PgTarget {
  readonly config: pg.PoolConfig;
  /** user@host:port/db, for messages. */
  readonly display: string;
  readonly auth: "password" | "entra";
  readonly tls: boolean;
}

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[?::1\]?)$/i;

const INT8_OID = 20;

/** BIGINT columns (seq, token, counters) as numbers: exact up to 2^53, far beyond any log. */
const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: "text" | "binary") =>
    oid === INT8_OID
      ? (v: string) => Number(v)
      : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig["getTypeParser"],
};

/** The settings for a URL; the default credential is DefaultAzureCredential, created on first use. */
export function pgTarget(url: string, opts: PgConnectionOptions = {}): PgTarget {
  return pgTargetWith(url, opts, () => import("@azure/identity").then((m) => new m.DefaultAzureCredential()));
}

/** The settings for a URL (exported for tests: no connection is made). */
export function pgTargetWith(
  url: string,
  opts: PgConnectionOptions,
  defaultCredential: () => Promise<TokenCredential>,
): PgTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw bad("it is not a URL");
  }
  if (u.protocol !== "postgres:" && u.protocol !== "postgresql:")
    throw bad(`it starts with ${u.protocol}// (expected postgres://)`);
  const host = u.hostname;
  if (!host) throw bad("it names no host");
  const user = decodeURIComponent(u.username);
  if (!user) throw bad("it names no user (the PostgreSQL role keyturn signs in as)");
  const database = decodeURIComponent(u.pathname.replace(/^\//, "")) || user;
  const port = u.port ? Number(u.port) : 5432;
  const loopback = LOOPBACK.test(host);
  const sslmode = u.searchParams.get("sslmode") ?? (loopback ? "disable" : "verify-full");
  const display = `${user}@${host}:${port}/${database}`;
  let ssl: ConnectionOptions | false;
  switch (sslmode) {
    case "disable":
    case "allow":
    case "prefer":
      if (!loopback)
        throw new KeyturnError(
          "config_invalid",
          `The PostgreSQL URL (${display}) has sslmode=${sslmode}: keyturn sends its audit log and its sign-in only over TLS to a database that is not on this machine. Use sslmode=require (Azure Database for PostgreSQL requires TLS).`,
        );
      ssl = false;
      break;
    case "require":
    case "verify-ca":
    case "verify-full": {
      const rootcert = u.searchParams.get("sslrootcert");
      ssl = {
        rejectUnauthorized: true,
        servername: host.replace(/^\[|\]$/g, ""),
        ...(rootcert ? { ca: readCa(rootcert, display) } : {}),
      };
      break;
    }
    default:
      throw bad(`sslmode=${sslmode} is not one keyturn knows (use require)`);
  }
  const password = decodeURIComponent(u.password);
  let provider: (() => Promise<string>) | undefined;
  const entra = async (): Promise<string> => {
    provider ??= entraPassword(opts.credential ?? (await defaultCredential()));
    return provider();
  };
  return {
    display,
    auth: password ? "password" : "entra",
    tls: ssl !== false,
    config: {
      host: host.replace(/^\[|\]$/g, ""),
      port,
      user,
      database,
      password: password || entra,
      ssl,
      max: opts.max ?? 10,
      types,
      application_name: "keyturn",
      connectionTimeoutMillis: 15_000,
      // a process frozen inside a transaction (a stopped VM, SIGSTOP, a long pause) holds the store's
      // lock: the server ends its session after 5 s, so a standby can take the lease within its time
      idle_in_transaction_session_timeout: 5_000,
      // and nobody waits for a lock for ever
      lock_timeout: 15_000,
    },
  };
}

function readCa(file: string, display: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (e) {
    throw new KeyturnError(
      "config_invalid",
      `The PostgreSQL URL (${display}) names sslrootcert=${file}, which keyturn cannot read (${(e as Error).message}). Give the path of the CA certificate (PEM), or leave sslrootcert out for a server whose certificate chains to a public root (as Azure's does).`,
    );
  }
}

const bad = (why: string) =>
  new KeyturnError(
    "config_invalid",
    `The PostgreSQL URL (KEYTURN_DATABASE_URL, or migrate-store --to) is not one keyturn can use: ${why}. Write it as postgres://<user>@<host>:5432/<database>?sslmode=require (no password: keyturn signs in with its Microsoft Entra identity).`,
  );
