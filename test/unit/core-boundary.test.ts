import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const FORBIDDEN =
  /from\s+["'](@slack\/|@azure\/|@microsoft\/|botbuilder|better-sqlite3|pino|express|node:(fs|http|https|net|child_process|tls|dgram))/;

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith(".ts") ? [p] : [];
  });
}

describe("src/core imports no SDK and does no I/O", () => {
  it.each(files("src/core"))("%s", (file) => {
    const bad = readFileSync(file, "utf8")
      .split("\n")
      .filter((l) => FORBIDDEN.test(l));
    expect(bad).toEqual([]);
  });
});
