/**
 * SIGTERM in the middle of a rotation, against the built program and the standalone simulator (as
 * against real Azure), with a second keyturn on standby on the same data directory as in a rolling
 * restart: the stopping process takes no new command, lets the Azure call in flight finish and
 * records it, starts nothing new, gives the lease up and exits 0 within its bound, saying what stays
 * open; the standby takes over at once, resumes the change where it stopped and completes it, each
 * slot regenerated exactly once, and `keyturn audit verify` passes.
 */
import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sign, slashCommand } from "../fakes/slack-sign.js";
import { SLACK_IDS, type ChaosKeyturn } from "../support/chaos-keyturn.js";
import { waitUntil } from "../support/spawn-keyturn.js";
import { startStandaloneRig, translator, type StandaloneRig } from "../support/standalone-rig.js";

let rig: StandaloneRig;
let sim: StandaloneRig["sim"];
let first: ChaosKeyturn;
let second: ChaosKeyturn;
let env: Record<string, string>;

beforeAll(async () => {
  rig = await startStandaloneRig("sigterm", {
    processes: 2,
    env: () => ({ KEYTURN_SHUTDOWN_SECONDS: "10" }),
  });
  ({ sim, env } = rig);
  [first, second] = rig.processes as [ChaosKeyturn, ChaosKeyturn];
});

afterAll(() => rig?.close());

const theChange = () => rig.theChange();

describe("SIGTERM mid-rotation", () => {
  it("stops taking commands, finishes the call in flight, releases the lease, exits 0; the rotation resumes and completes", async () => {
    // key2's regenerate takes 5 s at Azure: SIGTERM lands while it is in flight
    await sim.admin("POST", "/faults", {
      match: { operation: "regenerateKey" },
      effect: { type: "latency", ms: 5000 },
      times: 1,
    });
    const requested = await rig.requestApproved("rolling restart");
    await second.start();
    expect(second.output()).toMatch(/STANDBY/);

    await waitUntil(
      "the regenerate to be in flight",
      () => first.events(requested.id).some((e) => e.type === "effect_intent"),
      30_000,
    );
    const kt = first.kt!;
    const exited = new Promise<number | null>((r) => kt.child.once("exit", (code) => r(code)));
    const termAt = Date.now();
    kt.child.kill("SIGTERM");

    // from now on it takes no command: the port is closed while the regenerate finishes
    await new Promise((r) => setTimeout(r, 300));
    const body = slashCommand({
      user: SLACK_IDS.alice,
      channel: "C0CHAOS",
      text: "status contoso-openai",
      responseUrl: first.slack.responseUrl("after-term"),
    });
    const late = await fetch(`${kt.url}/slack/events`, {
      method: "POST",
      headers: sign(first.secret, body),
      body,
    }).then(
      (r) => `answered ${r.status}`,
      () => "refused",
    );
    expect(late).toBe("refused");

    const code = await exited;
    const stoppedMs = Date.now() - termAt;
    expect(code).toBe(0);
    expect(stoppedMs).toBeLessThan(9000);
    const out = kt.output();
    expect(out).toContain("keyturn stopping (SIGTERM).");
    expect(out).toMatch(
      /keyturn stopped in \d+\.\d s; runner lease released \(a standby takes over at once\)\./,
    );
    expect(out).toMatch(
      new RegExp(
        `${requested.id} \\(${translator.name}\\) is rotating \\(\\d of \\d+ steps done\\): it resumes when keyturn starts again`,
      ),
    );
    // the regenerate in flight finished and was recorded (preflight and it are done); nothing after it started
    expect(requested.plan.steps.slice(0, 2).map((s) => s.kind)).toEqual(["preflight", "regenerate_standby"]);
    expect(out).toContain(`is rotating (2 of ${requested.plan.steps.length} steps done)`);

    // the standby takes over at once (not after the 15 s lease expiry) and completes the rotation
    await waitUntil("the standby to take over", () => /now the runner/.test(second.output()), 5000);
    const done = await waitUntil(
      "the rotation to finish",
      () => {
        const c = theChange();
        return c && ["completed", "paused", "rolled_back"].includes(c.state) ? c : undefined;
      },
      90_000,
    );
    expect(done.state, done.pause?.message ?? "").toBe("completed");
    const regens = await sim.admin<Record<string, { key1: number; key2: number }>>("GET", "/regenerations");
    expect(regens[translator.id]).toEqual({ key1: 1, key2: 1 });

    // the second one stops cleanly too, and the record verifies
    await second.kt!.stop();
    expect(second.kt!.child.exitCode).toBe(0);
    expect(second.output()).toMatch(/keyturn stopped in [\d.]+ s; runner lease released/);
    const verify = spawnSync(process.execPath, ["dist/src/cli.js", "audit", "verify"], {
      env: {
        PATH: process.env.PATH ?? "",
        HOME: process.env.HOME ?? "",
        KEYTURN_DATA_DIR: first.dir,
        ...env,
      },
      encoding: "utf8",
    });
    expect(verify.stdout + verify.stderr).toMatch(/chain OK: \d+ events/);
    expect(verify.status).toBe(0);
  });
});
