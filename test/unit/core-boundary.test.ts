import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { specifiers, tsFiles } from "../support/imports.js";

const FORBIDDEN =
  /^(@slack\/|@azure\/|@microsoft\/|botbuilder|better-sqlite3$|pino($|\/)|express($|\/)|(node:)?(fs|http|https|net|child_process|tls|dgram)($|\/))/;

const forbiddenIn = (source: string) => specifiers(source).filter((s) => FORBIDDEN.test(s));

const files = tsFiles;

describe("src/core imports no SDK and does no I/O", () => {
  it("the check itself catches every form of import it guards against", () => {
    const sample = [
      'import { App } from "@slack/bolt";',
      'import type { TokenCredential } from "@azure/core-auth";',
      'export { x } from "@microsoft/agents-hosting";',
      'import {\n  readFileSync,\n} from "node:fs";',
      'const h = await import("node:http");',
      'const db = require("better-sqlite3");',
      'import "pino";',
      'import express from "express";',
      'import { Socket } from "net";',
    ].join("\n");
    expect(forbiddenIn(sample)).toEqual([
      "@slack/bolt",
      "@azure/core-auth",
      "@microsoft/agents-hosting",
      "node:fs",
      "express",
      "net",
      "pino",
      "node:http",
      "better-sqlite3",
    ]);
    expect(
      forbiddenIn(
        'import { createHash } from "node:crypto";\nimport { z } from "zod";\nimport { x } from "./fs-like.js";',
      ),
    ).toEqual([]);
  });

  it.each(files("src/core"))("%s", (file) => {
    expect(forbiddenIn(readFileSync(file, "utf8"))).toEqual([]);
  });
});
