/**
 * Two keyturn processes (the built program) on one data directory, as in an overlapping restart,
 * against the standalone simulator with a slow regenerate: the second one starts while the first
 * is in the middle of regenerating key2. Exactly one regeneration per slot, the consumers' secret
 * ends holding a live key, the second process says it stands by (and who runs), refuses chat
 * requests, and takes over at once when the runner is SIGKILLed.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SLACK_IDS, type ChaosKeyturn } from "../support/chaos-keyturn.js";
import { waitUntil } from "../support/spawn-keyturn.js";
import { startStandaloneRig, translator, type StandaloneRig } from "../support/standalone-rig.js";

let rig: StandaloneRig;
let sim: StandaloneRig["sim"];
let first: ChaosKeyturn;
let second: ChaosKeyturn;

beforeAll(async () => {
  rig = await startStandaloneRig("two", { processes: 2 });
  ({ sim } = rig);
  [first, second] = rig.processes as [ChaosKeyturn, ChaosKeyturn];
});

afterAll(() => rig?.close());

const theChange = () => rig.theChange();

describe("two keyturn processes on one data directory", () => {
  it("regenerate each slot once while a second process stands by, which takes over when the first dies", async () => {
    // the first regenerate waits 8 s before Azure performs it: long enough for a second process to
    // boot, read the same live key and act on it too
    await sim.admin("POST", "/faults", {
      match: { operation: "regenerateKey" },
      effect: { type: "latency", ms: 8000 },
      times: 1,
    });
    const requested = await rig.requestApproved("two processes");

    // key2's regenerate is under way (intent recorded, Azure not answered yet): start the second process
    await waitUntil(
      "the first regenerate to be in flight",
      () => first.events(requested.id).some((e) => e.type === "effect_intent"),
      30_000,
    );
    await second.start();
    const firstPid = first.kt!.child.pid!;
    expect(second.output()).toMatch(
      new RegExp(
        `STANDBY — another keyturn process drives changes from this data directory \\(pid ${firstPid} on host `,
      ),
    );
    expect(second.output()).toMatch(/runs no steps or timers and refuses chat requests/);

    // a request that reaches the standby is refused, saying why and who runs
    await second.command(SLACK_IDS.bob, `status ${translator.name}`);
    await waitUntil("the standby's answer", () => second.slack.responses.length > 0, 10_000);
    expect(JSON.stringify(second.slack.responses)).toMatch(
      new RegExp(`on standby.*pid ${firstPid} on host .*Nothing was recorded or changed`),
    );

    const done = await waitUntil(
      "the rotation to finish",
      () => {
        const c = theChange();
        return c && ["completed", "paused", "rolled_back"].includes(c.state) ? c : undefined;
      },
      90_000,
    );
    await sim.admin("DELETE", "/faults");
    expect(done.state, done.pause?.message ?? "").toBe("completed");

    // exactly one regeneration per slot, although two processes had the change in front of them
    const regens = await sim.admin<Record<string, { key1: number; key2: number }>>("GET", "/regenerations");
    expect(regens[translator.id]).toEqual({ key1: 1, key2: 1 });
    // the consumers' secret holds a live key (the one keyturn moved them to)
    const [value, keys] = await Promise.all([
      sim.secretValue(translator.secret),
      sim.liveKeys(translator.id),
    ]);
    expect([keys.key1, keys.key2]).toContain(value);
    expect(second.output()).not.toMatch(/now the runner/);

    // the runner dies without a word: the standby on the same host takes over at once
    const killedAt = Date.now();
    await first.kill();
    await waitUntil("the standby to take over", () => /now the runner/.test(second.output()), 10_000);
    expect(Date.now() - killedAt).toBeLessThan(5000);
    expect(second.output()).toMatch(
      new RegExp(`now the runner \\(lease 2\\), after pid ${firstPid} on host \\S+ is no longer running`),
    );
    const before = second.slack.responses.length;
    await second.command(SLACK_IDS.bob, `status ${translator.name}`);
    await waitUntil("the new runner's answer", () => second.slack.responses.length > before, 10_000);
    expect(JSON.stringify(second.slack.responses.slice(before))).not.toMatch(/standby/);
  });
});
