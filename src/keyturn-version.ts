/**
 * keyturn's own version, from its package.json, for the evidence pack. Read once by the composition
 * layer (src/core does no I/O). Looks upward from this file, so it works from src/ (tests) and dist/src/.
 */
import { readFileSync } from "node:fs";

export function keyturnVersion(from: URL = new URL(".", import.meta.url)): string | undefined {
  for (let dir = from, i = 0; i < 4; dir = new URL("..", dir), i++) {
    try {
      const pkg = JSON.parse(readFileSync(new URL("package.json", dir), "utf8")) as {
        name?: unknown;
        version?: unknown;
      };
      if (pkg.name === "keyturn" && typeof pkg.version === "string") return pkg.version;
    } catch {
      // no package.json here: look one level up
    }
  }
  return undefined;
}
