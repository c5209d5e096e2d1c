/**
 * keyturn SIGKILLed at random points while it rotates keys against a standalone simulator, then
 * restarted: every change still ends completed (or paused with a reason), no slot is regenerated
 * twice within a change, consumers' secrets always hold a live key, and the audit chain verifies.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Change } from "../../src/core/domain.js";
import { findSecrets, scanPaths } from "../support/scan-secrets.js";
import { ChaosKeyturn, SLACK_IDS } from "../support/chaos-keyturn.js";
import {
  azureEnv,
  expectEveryChangeEnded,
  FULL,
  ROTATABLE,
  seeded,
  size,
  startStandaloneSimulator,
  writeShortPolicy,
  type StandaloneSimulator,
} from "../support/chaos-kit.js";

const run = promisify(execFile);
const ROTATIONS = size(50, 4);
const TERMINAL = ["completed", "completed_with_findings", "rejected", "expired", "cancelled", "rolled_back"];
/** The ops laptop script's undeclared copy of contoso-openai's key1 dies with its first rotation: a finding naming it. */

let dir: string;
let sim: StandaloneSimulator;
let kt: ChaosKeyturn;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "keyturn-chaos-crash-"));
  sim = await startStandaloneSimulator(dir);
  kt = await new ChaosKeyturn(join(dir, "data"), {
    ...azureEnv(sim),
    KEYTURN_POLICY_FILE: writeShortPolicy(dir),
  }).start();
});

afterAll(async () => {
  await kt?.stop();
  await sim?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const changeFor = (id: string) => kt.changes().find((c) => c.id === id);
const openFor = (accountId: string) =>
  kt
    .changes()
    .find((c) => c.accountId.toLowerCase() === accountId.toLowerCase() && !TERMINAL.includes(c.state));
/** Changes that stayed paused after the resumes a person would try, with their reason. */
const pausedWithReason = new Map<string, string>();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What the consumer's owner or an approver does when the cutover gate names them. */
async function unblock(c: Change): Promise<void> {
  const message = c.pause?.message ?? "";
  const pinned = /(\S+) pins version \S+ of \S+: re-pin it to ([0-9a-f]+)/.exec(message);
  if (pinned) await sim.admin("POST", "/repin", { site: pinned[1], version: pinned[2] });
  const literal = /(\S+) still holds a literal copy/.exec(message);
  if (literal)
    await kt.command(SLACK_IDS.bob, `waive ${c.id} ${literal[1]} --reason "owner updates it by hand"`);
}

/** One account's rotations, one after another (an account has at most one open change). */
async function lane(account: (typeof ROTATABLE)[number], count: number, done: Change["id"][]): Promise<void> {
  for (let i = 0; i < count; i++) {
    let change = openFor(account.id);
    const end = Date.now() + (FULL ? 600_000 : 45_000);
    while (!change) {
      await kt.command(SLACK_IDS.alice, `rotate ${account.name} --reason "chaos rotation ${i + 1}"`);
      for (let t = 0; t < 20 && !change; t++, await sleep(100)) change = openFor(account.id);
      if (Date.now() > end) throw new Error(`no change opened for ${account.name}`);
    }
    const id = change.id;
    let resumes = 0;
    for (;;) {
      const c = changeFor(id)!;
      if (TERMINAL.includes(c.state)) break;
      if (c.state === "awaiting_approval" || c.state === "requested") {
        if (c.state === "awaiting_approval")
          for (const who of [SLACK_IDS.bob, SLACK_IDS.carol]) await kt.command(who, `approve ${id}`);
      } else if (c.state === "paused") {
        // a pause names its reason; resuming twice more is all a person would try
        expect(c.pause?.message).toBeTruthy();
        if (resumes++ >= 3) break;
        await unblock(c);
        await kt.command(SLACK_IDS.bob, `resume ${id}`);
      }
      if (Date.now() > end)
        throw new Error(`${id} stuck in ${c.state} (step ${c.currentStep}) ${c.pause?.message ?? ""}`);
      await sleep(300);
    }
    done.push(id);
    const final = changeFor(id)!;
    if (final.state === "paused") {
      // it stays paused with a reason; before the point of no return an approver rolls it back so the
      // account can be rotated again, after it the change holds the account
      pausedWithReason.set(id, `${final.pause!.code}: ${final.pause!.message}`);
      await kt.command(SLACK_IDS.bob, `rollback ${id}`);
      for (let t = 0; t < 50 && changeFor(id)!.state === "paused"; t++) await sleep(200);
      if (changeFor(id)!.state === "paused") return;
    }
  }
}

describe("crash and restart during rotations", () => {
  it(`${ROTATIONS} rotations with keyturn SIGKILLed at random points`, async () => {
    const rng = seeded("crashes");
    const done: string[] = [];
    const violations: string[] = [];
    let running = true;

    // the invariant consumers rely on, sampled throughout: their secret holds one of the two live keys
    const sampler = (async () => {
      while (running) {
        for (const a of ROTATABLE) {
          const [value, keys] = await Promise.all([sim.secretValue(a.secret), sim.liveKeys(a.id)]);
          if (value !== keys.key1 && value !== keys.key2) {
            // a publish followed by a regenerate may land between the two reads: read again before calling it
            const [v2, k2] = await Promise.all([sim.secretValue(a.secret), sim.liveKeys(a.id)]);
            if (v2 !== k2.key1 && v2 !== k2.key2)
              violations.push(
                `${a.secret} holds neither live key of ${a.name} at ${new Date().toISOString()}`,
              );
          }
        }
        await sleep(250);
      }
    })();

    const killer = (async () => {
      while (running) {
        await sleep(1000 + rng.int(FULL ? 6000 : 3000));
        if (!running) break;
        await kt.kill();
        await sleep(rng.int(500));
        await kt.start();
      }
    })();

    const perLane = ROTATABLE.map(
      (_, i) => Math.floor(ROTATIONS / ROTATABLE.length) + (i < ROTATIONS % ROTATABLE.length ? 1 : 0),
    );
    try {
      await Promise.all(ROTATABLE.map((a, i) => lane(a, perLane[i]!, done)));
    } finally {
      running = false;
      await killer;
      await sampler;
      if (!kt.kt) await kt.start();
    }
    process.stdout.write(`crashes: ${kt.kills} SIGKILLs over ${done.length} changes\n`);
    expect(kt.kills).toBeGreaterThan(0);
    expect(violations).toEqual([]);

    const changes = kt.changes();
    expectEveryChangeEnded(changes, pausedWithReason);
    // the first rotation of every account meets a quiet tenant: it must complete
    for (const a of ROTATABLE) {
      const first = changes.find((c) => c.accountId.toLowerCase() === a.id.toLowerCase());
      expect(first?.state, `${a.name}'s first rotation: ${pausedWithReason.get(first?.id ?? "") ?? ""}`).toBe(
        a.name === "contoso-openai" ? "completed_with_findings" : "completed",
      );
    }

    // no slot regenerated twice within a change: the simulator's counts never exceed the planned
    // regenerate steps each change reached, and cover every one that succeeded
    const regens = await sim.admin<Record<string, { key1: number; key2: number }>>("GET", "/regenerations");
    for (const a of ROTATABLE) {
      for (const slot of ["key1", "key2"] as const) {
        let reached = 0;
        let succeeded = 0;
        for (const c of changes.filter((x) => x.accountId.toLowerCase() === a.id.toLowerCase())) {
          for (const s of c.plan.steps.filter(
            (p) =>
              (p.kind === "regenerate_standby" || p.kind === "regenerate_old" || p.kind === "kill_leaked") &&
              p.slot === slot,
          )) {
            const ev = c.steps.find((e) => e.index === s.index);
            if (ev) reached++;
            if (ev?.outcome === "succeeded") succeeded++;
          }
        }
        const seen = regens[a.id]?.[slot] ?? 0;
        expect(
          seen,
          `${a.name} ${slot}: simulator ${seen}, reached ${reached}, succeeded ${succeeded}`,
        ).toBeLessThanOrEqual(reached);
        expect(seen).toBeGreaterThanOrEqual(succeeded);
      }
    }

    // the audit log survived every SIGKILL intact
    await kt.kt!.stop();
    kt.outputs.push(kt.kt!.output());
    kt.kt = null;
    const env = { ...process.env, KEYTURN_DATA_DIR: kt.dir, KEYTURN_CONSOLE: "off", ...kt.env };
    const verify = await run(process.execPath, ["dist/src/cli.js", "audit", "verify"], { env });
    expect(verify.stdout + verify.stderr).toMatch(/ok|verified|intact/i);

    // no key value anywhere: logs, database and WAL, evidence packs, what Slack received
    const evidenceDir = join(dir, "evidence");
    for (const c of changes)
      await run(process.execPath, ["dist/src/cli.js", "evidence", c.id, "--out", evidenceDir], { env });
    const keys = (await sim.admin<{ values: string[] }>("GET", "/keys")).values;
    expect(keys.length).toBeGreaterThan(10);
    expect(
      findSecrets(
        [
          { name: "keyturn output", text: kt.output() },
          { name: "slack requests", text: kt.slack.bodies.join("\n") },
        ],
        keys,
      ),
    ).toEqual([]);
    expect(await scanPaths([kt.dir, evidenceDir], keys)).toEqual([]);
  });
});
