#!/usr/bin/env node
/**
 * Builds keyturn only when its sources changed since the last build, so `npm start` on a built tree
 * starts at once. The stamp is a hash of every input of the build (sources, tsconfig, lockfile),
 * written beside the output after a successful build. `--force` always builds (the `build` script).
 */
import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const STAMP = join(root, "dist", ".build-stamp");
const INPUTS = ["src", "adapters", "bench", "test/support/crash-child.ts"];
const CONFIG = ["tsconfig.json", "tsconfig.build.json", "package-lock.json"];

function files(path) {
  const abs = join(root, path);
  if (!existsSync(abs)) return [];
  if (!statSync(abs).isDirectory()) return [path];
  return readdirSync(abs, { withFileTypes: true })
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((e) => files(join(path, e.name)));
}

function inputsHash() {
  const h = createHash("sha256");
  for (const f of [...INPUTS.flatMap(files), ...CONFIG.filter((c) => existsSync(join(root, c)))]) {
    h.update(relative(root, join(root, f)))
      .update("\0")
      .update(readFileSync(join(root, f)))
      .update("\0");
  }
  return h.digest("hex");
}

const force = process.argv.includes("--force");
const want = inputsHash();
const have = existsSync(STAMP) ? readFileSync(STAMP, "utf8").trim() : "";
if (!force && have === want && existsSync(join(root, "dist", "src", "cli.js"))) process.exit(0);

if (!force) process.stderr.write("keyturn: building (sources changed since the last build)…\n");
const tsc = spawnSync(
  process.execPath,
  [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", join(root, "tsconfig.build.json")],
  { stdio: "inherit", cwd: root },
);
if (tsc.status !== 0) {
  process.stderr.write(
    "keyturn: the build failed (see above). Run `npm ci` if dependencies are missing, then `npm start` again.\n",
  );
  process.exit(tsc.status ?? 1);
}
writeFileSync(STAMP, want + "\n");
