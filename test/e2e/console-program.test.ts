/**
 * The built program driven as a person runs it from a shell: commands piped in, Ctrl-C, a busy
 * port, a crash in the middle of a rotation, the scripted tour run twice on the same data.
 */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { type ConsoleChild, spawnConsole } from "../support/console-child.js";
import { useTempDir } from "../support/temp-dir.js";

const dir = useTempDir("keyturn-console-e2e-");
const children: ConsoleChild[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.child.exitCode === null) c.child.kill("SIGKILL");
});
const start = (args: string[] = [], env: Record<string, string> = {}) => {
  const c = spawnConsole({ KEYTURN_DATA_DIR: dir.current.path, ...env }, args);
  children.push(c);
  return c;
};
/** A command file for `--script` (each test below depends only on the finding it checks). */
const script = (name: string, ...lines: string[]) => {
  const file = dir.current.file(`${name}.txt`);
  writeFileSync(file, lines.join("\n") + "\n");
  return ["--script", file];
};

describe("keyturn from a shell", () => {
  it("reads piped commands line by line, answers each, and exits when the input ends", async () => {
    const k = start();
    k.send("help", "list");
    k.end();
    expect(await k.exited()).toBe(0);
    const out = k.output();
    expect(out).toContain("alice> help");
    expect(out).toContain("rotate <account>");
    expect(out).toContain("alice> list");
    expect(out).toMatch(/Accounts: \d+/);
    expect(out).toContain("Input ended: keyturn stopping.\nNo change is open.");
  });

  it("says which port is busy and what to do, instead of crashing", async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, "127.0.0.1", r));
    const port = (taken.address() as { port: number }).port;
    try {
      const k = start([], { PORT: String(port), KEYTURN_CONSOLE: "off" });
      expect(await k.exited()).toBe(2);
      expect(k.output()).toContain(
        `keyturn: keyturn cannot listen on 127.0.0.1:${port}: another process is using that port. Stop the other process`,
      );
      expect(k.output()).toContain(`or set PORT to a free port (PORT=0 picks one)`);
      expect(k.output()).not.toContain("TypeError");
    } finally {
      taken.close();
    }
  });

  it("on Ctrl-C says what happens to each open change, then exits cleanly", async () => {
    const k = start(script("open", 'rotate contoso-translator --reason "cadence"', "sleep 120"));
    await k.waitFor(/CHG-1 opened for contoso-translator/);
    k.child.kill("SIGINT");
    expect(await k.exited()).toBe(0);
    expect(k.output()).toMatch(
      /keyturn stopping \(Ctrl-C\)\.\nCHG-1 \(contoso-translator\) awaits approval until \d{4}-\d\d-\d\d \d\d:\d\d UTC: approve it when keyturn starts again on this data dir \(.+\); if no one does by then, it expires\./,
    );
  });

  it("a rotation caught by a crash resumes after a restart on the same data dir", async () => {
    const first = start(
      script(
        "approve",
        'rotate contoso-translator --exposure key1 --reason "leaked"',
        "as bob",
        "press 1",
        "as carol",
        "press 1",
        "sleep 120",
      ),
    );
    // killed after the new key is published to Key Vault, before the cutover
    await first.waitFor(/Step 3\/8 done/);
    first.child.kill("SIGKILL");
    await first.exited();

    const again = start(script("wait", "wait CHG-1 completed|paused|rolled_back 90"));
    expect(await again.exited(120_000)).toBe(0);
    const out = again.output();
    expect(out).not.toMatch(/is not configured/);
    expect(out).toContain("Step 5/8 done");
    expect(out).toContain("CHG-1 is completed.");
  });

  it("the scripted tour runs again on data that already has a change, following the change it opened", async () => {
    // an earlier session on this data dir: CHG-1 exists (cancelled)
    const earlier = start(script("earlier", 'rotate contoso-translator --reason "cadence"', "cancel CHG-1"));
    expect(await earlier.exited()).toBe(0);
    expect(earlier.output()).toContain("Cancelled CHG-1.");

    const second = spawnSync(
      process.execPath,
      ["dist/src/cli.js", "start", "--script", "examples/sandbox-tour.txt"],
      {
        env: {
          PATH: process.env.PATH ?? "",
          HOME: process.env.HOME ?? "",
          PORT: "0",
          KEYTURN_DATA_DIR: dir.current.path,
        },
        encoding: "utf8",
        timeout: 200_000,
      },
    );
    expect(second.status, second.stderr).toBe(0);
    expect(second.stdout).toContain("CHG-2 opened for contoso-translator");
    expect(second.stdout).toContain("CHG-2 is completed.");
    expect(second.stdout).toContain("keyturn-evidence-CHG-2.md");
    expect(second.stdout).not.toMatch(/You are not an approver for CHG-1|No button/);
  });
});
