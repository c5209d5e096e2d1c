/**
 * The Azure ports never depend on the simulated tenant: the simulator's credential and endpoints
 * reach them only through the composition root (src/main.ts), so nothing fake sits inside the
 * production path.
 */
import { readFileSync } from "node:fs";
import { dirname, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { specifiers, tsFiles } from "../support/imports.js";

const SANDBOX = resolve("src/sandbox");

/** The specifiers of `source` (a file at `file`) that resolve into src/sandbox. */
const sandboxImports = (file: string, source: string) =>
  specifiers(source).filter((s) => {
    if (!s.startsWith(".")) return false;
    const target = relative(SANDBOX, resolve(dirname(file), s));
    return target === "" || (!target.startsWith("..") && !target.startsWith("/"));
  });

const files = tsFiles;

describe("src/azure never imports src/sandbox", () => {
  it("the check itself catches every form of import into the sandbox", () => {
    const file = "src/azure/index.ts";
    const sample = [
      'import { createSimulatorCredential } from "../sandbox/index.js";',
      'export { x } from "../sandbox/credential.js";',
      'import type { Scenario } from "../sandbox/scenario.js";',
      'const s = await import("../sandbox");',
      'const t = require("../sandbox/tenant.js");',
      'import { y } from "./sandbox-like.js";',
      'import { z } from "../sandboxed/x.js";',
      'import { DefaultAzureCredential } from "@azure/identity";',
    ].join("\n");
    expect(sandboxImports(file, sample)).toEqual([
      "../sandbox/index.js",
      "../sandbox/credential.js",
      "../sandbox/scenario.js",
      "../sandbox",
      "../sandbox/tenant.js",
    ]);
  });

  it.each(files("src/azure"))("%s", (file) => {
    expect(sandboxImports(file, readFileSync(file, "utf8"))).toEqual([]);
  });
});
