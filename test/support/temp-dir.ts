/** Temporary directories for tests: created under the OS temp dir, removed afterwards (also on failure). */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach } from "vitest";

export interface TempDir {
  readonly path: string;
  /** A path inside the directory. */
  file(...parts: string[]): string;
  remove(): void;
}

export function createTempDir(prefix = "keyturn-"): TempDir {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return {
    path,
    file: (...parts) => join(path, ...parts),
    // retries: a child process killed a moment ago may still hold a file open on some platforms
    remove: () => rmSync(path, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 }),
  };
}

/** A fresh directory for every test of the calling file; read `.current` inside the test. */
export function useTempDir(prefix = "keyturn-"): { readonly current: TempDir } {
  let dir: TempDir | undefined;
  beforeEach(() => {
    dir = createTempDir(prefix);
  });
  afterEach(() => {
    dir?.remove();
    dir = undefined;
  });
  return {
    get current(): TempDir {
      if (!dir) throw new Error("useTempDir: read .current inside a test, not at module level");
      return dir;
    },
  };
}
