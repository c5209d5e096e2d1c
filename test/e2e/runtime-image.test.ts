/**
 * What the container image runs, checked without a Docker engine (none runs here, and no base image
 * can be pulled): the Dockerfile's runtime stage is assembled into a clean folder exactly as its COPY
 * lines say, with production dependencies only, then started as the image starts it (ENTRYPOINT + CMD,
 * its ENV), asked with the image's own HEALTHCHECK command, and stopped with SIGTERM as `docker stop`
 * does. Needs the built program (`npm run build`), as every e2e test.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  statSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const root = process.cwd();
const work = mkdtempSync(join(tmpdir(), "keyturn-runtime-image-"));
// `rm -rf`: fs.rmSync takes a minute over node_modules' many small files on a busy machine
afterAll(() => void spawnSync("rm", ["-rf", work]));

interface Copy {
  from?: string;
  sources: string[];
  dest: string;
}
interface Stage {
  name: string;
  runs: string[];
  copies: Copy[];
  env: Record<string, string>;
  healthcheck: string[];
  command: string[];
  stopSignal?: string;
}

/** The Dockerfile's stages: continuation lines joined, comments dropped, the instructions this test needs. */
function stages(text: string): Map<string, Stage> {
  const lines = text
    .replace(/\\\r?\n/g, " ")
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
  const out = new Map<string, Stage>();
  let stage: Stage | undefined;
  let entrypoint: string[] = [];
  let cmd: string[] = [];
  for (const line of lines) {
    const [, op = "", rest = ""] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    switch (op.toUpperCase()) {
      case "FROM": {
        const name = /\bAS\s+(\S+)/i.exec(rest)?.[1] ?? `stage${out.size}`;
        stage = { name, runs: [], copies: [], env: {}, healthcheck: [], command: [] };
        entrypoint = [];
        cmd = [];
        out.set(name, stage);
        break;
      }
      case "RUN":
        stage!.runs.push(rest);
        break;
      case "COPY": {
        const words = rest.split(/\s+/);
        const from = words.find((w) => w.startsWith("--from="))?.slice("--from=".length);
        const paths = words.filter((w) => !w.startsWith("--"));
        stage!.copies.push({ ...(from ? { from } : {}), sources: paths.slice(0, -1), dest: paths.at(-1)! });
        break;
      }
      case "ENV":
        for (const m of rest.matchAll(/(\w+)=("[^"]*"|\S*)/g))
          stage!.env[m[1]!] = m[2]!.replace(/^"|"$/g, "");
        break;
      case "HEALTHCHECK":
        stage!.healthcheck = JSON.parse(rest.slice(rest.indexOf("CMD") + 3).trim()) as string[];
        break;
      case "STOPSIGNAL":
        stage!.stopSignal = rest;
        break;
      case "ENTRYPOINT":
        entrypoint = JSON.parse(rest) as string[];
        stage!.command = [...entrypoint, ...cmd];
        break;
      case "CMD":
        cmd = JSON.parse(rest) as string[];
        stage!.command = [...entrypoint, ...cmd];
        break;
    }
  }
  return out;
}

const dockerfile = stages(readFileSync(join(root, "Dockerfile"), "utf8"));
const runtime = dockerfile.get("runtime")!;
const app = join(work, "app");
const volume = join(work, "var-lib-keyturn");
const home = join(work, "home");

/** The production dependencies as the `deps` stage installs them, in their own folder like the stage. */
function installProductionDependencies(stage: Stage): string {
  expect(stage.runs.join("\n"), "the deps stage installs production dependencies only").toMatch(
    /npm ci --omit=dev/,
  );
  const dir = join(work, "deps");
  mkdirSync(dir);
  for (const c of stage.copies) for (const s of c.sources) cpSync(join(root, s), join(dir, s));
  // better-sqlite3's install script compiles it (minutes on 2 cores): here it is skipped and the binary
  // this run's own `npm ci` built for this Node, from the same locked version, is put where the script
  // puts it. Every other production install script runs, as in the stage.
  const lock = JSON.parse(readFileSync(join(dir, "package-lock.json"), "utf8")) as {
    packages: Record<string, { dev?: boolean; hasInstallScript?: boolean }>;
  };
  const scripted = Object.entries(lock.packages)
    .filter(([, p]) => p.hasInstallScript && !p.dev)
    .map(([k]) => k.slice(k.lastIndexOf("node_modules/") + "node_modules/".length));
  expect(scripted).toContain("better-sqlite3");
  const npm = (args: string[]) => {
    const r = spawnSync("npm", [...args, "--no-audit", "--no-fund"], {
      cwd: dir,
      encoding: "utf8",
      timeout: 120_000,
    });
    expect(r.status, `npm ${args.join(" ")}: ${r.stderr}`).toBe(0);
  };
  npm(["ci", "--omit=dev", "--prefer-offline", "--ignore-scripts"]);
  const others = [...new Set(scripted.filter((n) => n !== "better-sqlite3"))];
  if (others.length) npm(["rebuild", ...others]);
  const binary = "node_modules/better-sqlite3/build/Release/better_sqlite3.node";
  cpSync(join(root, binary), join(dir, binary));
  return dir;
}

/** The runtime stage's files, each COPY line as Docker would do it (the build stage's /app is this tree, built). */
function assemble(): void {
  mkdirSync(app, { recursive: true });
  for (const c of runtime.copies) {
    const dest = join(app, c.dest);
    if (c.from === "deps") {
      expect(c.sources).toEqual(["/app/node_modules"]);
      const deps = installProductionDependencies(dockerfile.get("deps")!);
      renameSync(join(deps, "node_modules"), dest); // the same files, moved rather than copied
    } else if (c.from === "build") {
      for (const s of c.sources) {
        expect(s, "the build stage works in /app").toMatch(/^\/app\//);
        expect(existsSync(join(root, s.slice(5))), `${s} exists after npm run build`).toBe(true);
        cpSync(join(root, s.slice(5)), dest, { recursive: true });
      }
    } else {
      throw new Error(`this test does not know how to assemble COPY ${JSON.stringify(c)}: teach it`);
    }
  }
  mkdirSync(home);
}

function listing(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .map((e) => join(e.parentPath, e.name))
    .map((p) => {
      const s = statSync(p);
      return `${relative(dir, p)} ${s.isDirectory() ? "dir" : s.size} ${s.mtimeMs}`;
    })
    .sort();
}

function sizeOf(dir: string): number {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .reduce((n, e) => n + statSync(join(e.parentPath, e.name)).size, 0);
}

/** The container's environment: the image's ENV, its paths moved into the temp folder, then `docker run -e`. */
function containerEnv(overrides: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? "", HOME: home, TMPDIR: join(work, "tmp") };
  for (const [k, v] of Object.entries(runtime.env))
    env[k] = v.startsWith("/var/lib/keyturn") ? volume + v.slice("/var/lib/keyturn".length) : v;
  return { ...env, ...overrides };
}

/** ENTRYPOINT + CMD, with `node` being the Node that runs this test. */
function startImage(env: Record<string, string>): { child: ChildProcess; output: () => string } {
  const [exe, ...args] = runtime.command;
  expect(exe).toBe("node");
  const child = spawn(process.execPath, args, { cwd: app, env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  return { child, output: () => out };
}

function exited(child: ChildProcess, ms: number): Promise<number | string> {
  return new Promise((resolve, reject) => {
    if (child.exitCode !== null) return resolve(child.exitCode);
    const timer = setTimeout(() => reject(new Error(`still running after ${ms} ms`)), ms);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      resolve(code ?? signal ?? "?");
    });
  });
}

function healthcheck(port: string): number | null {
  const [exe, ...args] = runtime.healthcheck;
  expect(exe).toBe("node");
  return spawnSync(process.execPath, args, { env: containerEnv({ PORT: port }), timeout: 10_000 }).status;
}

describe("the container image's runtime stage, assembled as the Dockerfile does", () => {
  it("has production dependencies only, starts, answers its HEALTHCHECK, writes only its volume and stops on SIGTERM", async () => {
    const t0 = Date.now();
    assemble();
    mkdirSync(join(work, "tmp"));

    // production dependencies only: no build or test tool, no dev-only package of the lockfile
    for (const tool of ["typescript", "vitest", "tsx", "eslint", "prettier", "@stryker-mutator/core"])
      expect(existsSync(join(app, "node_modules", tool)), `${tool} is not in the image`).toBe(false);
    const lock = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8")) as {
      packages: Record<string, { dev?: boolean }>;
    };
    const devOnly = Object.entries(lock.packages).filter(([k, p]) => k && p.dev);
    expect(devOnly.length).toBeGreaterThan(100);
    expect(devOnly.filter(([k]) => existsSync(join(app, k))).map(([k]) => k)).toEqual([]);

    // every package the program imports resolves inside the image (a devDependency would not)
    const check = spawnSync(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        `import { readdirSync, readFileSync } from "node:fs";
         const files = readdirSync("dist", { recursive: true }).filter((f) => f.endsWith(".js"));
         const missing = new Set(); let n = 0;
         for (const f of files) {
           const src = readFileSync("dist/" + f, "utf8");
           for (const m of src.matchAll(/(?:^|[;\\s])(?:import|export)\\s[^"';]*?from\\s*["']([^"'.][^"']*)["']|import\\(\\s*["']([^"'.][^"']*)["']\\s*\\)/gm)) {
             const spec = m[1] ?? m[2];
             if (spec.startsWith("node:")) continue;
             n++;
             try { import.meta.resolve(spec); } catch { missing.add(spec + " (imported by dist/" + f + ")"); }
           }
         }
         console.log(JSON.stringify({ files: files.length, imports: n, missing: [...missing] }));`,
      ],
      { cwd: app, encoding: "utf8" },
    );
    expect(check.status, check.stderr).toBe(0);
    const resolved = JSON.parse(check.stdout) as { files: number; imports: number; missing: string[] };
    expect(resolved.files).toBeGreaterThan(50);
    expect(resolved.imports).toBeGreaterThan(20);
    expect(resolved.missing).toEqual([]);

    const before = listing(app);
    const sizes = {
      total: sizeOf(app),
      node_modules: sizeOf(join(app, "node_modules")),
      dist: sizeOf(join(app, "dist")),
    };

    // As shipped (NODE_ENV=production) and given nothing, it refuses to run the sandbox and says what to set.
    const bare = startImage(containerEnv({ PORT: "0" }));
    expect(await exited(bare.child, 30_000)).not.toBe(0);
    expect(bare.output()).toMatch(/AZURE_SUBSCRIPTION_IDS: missing with NODE_ENV=production/);

    // `docker run -e NODE_ENV= -e KEYTURN_SANDBOX=1 keyturn`: the sandbox, on loopback here.
    const started = Date.now();
    const run = startImage(
      containerEnv({ NODE_ENV: "", KEYTURN_SANDBOX: "1", PORT: "0", HOST: "127.0.0.1" }),
    );
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`keyturn did not start:\n${run.output()}`)), 60_000);
      const look = () => {
        const m = /keyturn ready on (http:\/\/\S+)/.exec(run.output());
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      };
      run.child.stdout!.on("data", look);
      run.child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`keyturn exited with ${code}:\n${run.output()}`));
      });
    });
    const startSeconds = (Date.now() - started) / 1000;
    try {
      const health = (await (await fetch(`${url}/healthz`)).json()) as { ok: boolean; mode: string };
      expect(health).toMatchObject({ ok: true, mode: "sandbox" });
      const port = new URL(url).port;
      expect(healthcheck(port), "the image's HEALTHCHECK passes").toBe(0);
    } finally {
      expect(runtime.stopSignal).toBe("SIGTERM");
      run.child.kill("SIGTERM");
    }
    // `docker stop` sends STOPSIGNAL and waits 10 s before SIGKILL: keyturn (node as PID 1) exits 0 well within it
    const stopped = Date.now();
    expect(await exited(run.child, 10_000), run.output()).toBe(0);
    const stopSeconds = (Date.now() - stopped) / 1000;

    // the HEALTHCHECK fails once keyturn is gone (so it can fail at all)
    expect(healthcheck(new URL(url).port)).not.toBe(0);

    // a read-only root filesystem is enough: nothing under the app or HOME changed, the data is on the volume
    expect(listing(app)).toEqual(before);
    expect(readdirSync(home)).toEqual([]);
    expect(existsSync(join(volume, "data", "keyturn.db"))).toBe(true);

    const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
    console.info(
      `runtime image contents: ${mib(sizes.total)} (node_modules ${mib(sizes.node_modules)}, dist ${mib(sizes.dist)}); ` +
        `${resolved.imports} package imports in ${resolved.files} files resolve; sandbox ready in ${startSeconds.toFixed(1)} s, stopped by SIGTERM in ${stopSeconds.toFixed(1)} s; ` +
        `test ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );
  });
});
