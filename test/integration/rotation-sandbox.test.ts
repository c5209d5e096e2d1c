import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fingerprintOf } from "../../src/core/secret.js";
import { loadScenario } from "../../src/sandbox/index.js";
import { scanPaths } from "../support/scan-secrets.js";
import { startSandboxEngine, users, type SandboxEngine } from "../support/sandbox-engine.js";

const translator =
  "/subscriptions/00000000-0000-4000-8000-0000000000a1/resourceGroups/rg-ai-prod/providers/Microsoft.CognitiveServices/accounts/contoso-translator";
const speech = translator.replace("contoso-translator", "contoso-speech");

let kt: SandboxEngine;
beforeEach(async () => {
  kt = await startSandboxEngine();
});
afterEach(async () => {
  await kt?.close();
});

async function approveAll(id: string, approvers = [users.bob, users.carol]) {
  for (const who of approvers) {
    const r = await kt.press(who, { kind: "approve", changeId: id, planHash: kt.change(id).plan.hash });
    expect(r.message.text).not.toMatch(/not an approver|cannot/);
  }
}

async function noSecretsLeft() {
  await kt.engine.idle();
  const values = kt.sim.admin.keyValues();
  expect(values.length).toBeGreaterThan(10);
  const files = await scanPaths([kt.dir + "/keyturn.db", kt.dir + "/keyturn.db-wal"], values);
  expect(files).toEqual([]);
  for (const v of values) {
    expect(kt.chat.allText()).not.toContain(v);
    expect(kt.logText()).not.toContain(v);
  }
}

describe("staged rotation against the simulated tenant", () => {
  it("a standard rotation completes with no failed consumer call, and the old key is dead", async () => {
    const before = kt.sim.admin.currentKeys(translator);
    const reply = await kt.say(users.alice, 'rotate contoso-translator --reason "quarterly rotation"');
    expect(reply.message.text).toContain("CHG-1");
    await approveAll("CHG-1");
    const done = await kt.waitFor("CHG-1", ["completed", "paused"], 90_000);
    expect(done.pause).toBeNull();
    expect(done.state).toBe("completed");

    // each slot regenerated exactly once, and both keys are new
    expect(kt.sim.admin.regenerations()[translator]).toEqual({ key1: 1, key2: 1 });
    const after = kt.sim.admin.currentKeys(translator);
    expect(after.key1).not.toBe(before.key1);
    expect(after.key2).not.toBe(before.key2);

    // no consumer saw a failed call during the rotation
    const web = kt.sim.admin.consumers().find((c) => c.name === "translator-web")!;
    expect(web.calls).toBeGreaterThan(10);
    expect(web.failures).toBe(0);

    // the proof the old key is dead, in the step evidence
    const old = done.steps.find((s) => s.kind === "regenerate_old")!;
    expect(old.validation?.result).toMatch(/old key → 401 \(dead\)/);
    expect(old.before?.key1).toBe(fingerprintOf(before.key1));

    // the thread: one reply per step, parent shows completed
    const thread = [...kt.chat.threads.values()][0]!;
    expect(thread.replies.filter((m) => /step/i.test(m.title ?? m.text)).length).toBeGreaterThanOrEqual(
      done.plan.steps.length,
    );
    expect(JSON.stringify(thread.root)).toMatch(/completed/i);

    // the question teams ask afterwards
    const status = await kt.say(users.erin, "status contoso-translator");
    expect(JSON.stringify(status.message)).toContain("CHG-1");
    expect(kt.store.verify().ok).toBe(true);
    await noSecretsLeft();
  });

  it("a leaked standby key is regenerated alone: consumers are untouched", async () => {
    await kt.say(users.alice, 'rotate contoso-translator --exposure key2 --reason "key2 pasted in a ticket"');
    const c = kt.change("CHG-1");
    expect(c.plan.variant).toBe("exposure-standby");
    await approveAll("CHG-1");
    await kt.waitFor("CHG-1", ["completed"]);
    expect(kt.sim.admin.regenerations()[translator]).toEqual({ key1: 0, key2: 1 });
    expect(kt.sim.admin.consumers().find((x) => x.name === "translator-web")!.failures).toBe(0);
  });

  it("a consumer pinned to a secret version blocks the cutover gate until it is re-pinned", async () => {
    await kt.say(users.alice, 'rotate contoso-speech --reason "rotation"');
    expect(kt.change("CHG-1").plan.pinnedConsumerIds.length).toBe(1);
    await approveAll("CHG-1", [users.bob]);
    const paused = await kt.waitFor("CHG-1", ["paused", "completed"]);
    expect(paused.state).toBe("paused");
    expect(paused.pause?.code).toBe("gate_failed");
    expect(paused.pause?.message).toMatch(/speech-ivr pins version/);
    expect(kt.sim.admin.regenerations()[speech]).toEqual({ key1: 1, key2: 0 }); // the active key2 still works
    expect(kt.sim.admin.consumers().find((x) => x.name === "speech-ivr")!.failures).toBe(0);

    const published = paused.steps.find((s) => s.kind === "publish")!.after!;
    const version = Object.values(published)[0]!.split(" ")[0]!;
    kt.sim.admin.repin("speech-ivr", version);
    await kt.press(users.bob, { kind: "resume", changeId: "CHG-1" });
    const done = await kt.waitFor("CHG-1", ["completed", "paused"]);
    expect(done.pause).toBeNull();
    expect(kt.sim.admin.consumers().find((x) => x.name === "speech-ivr")!.failures).toBe(0);
  });

  it("an approver's waiver lets the gate pass without the pinned consumer", async () => {
    await kt.say(users.alice, 'rotate contoso-speech --reason "rotation"');
    await approveAll("CHG-1", [users.bob]);
    await kt.waitFor("CHG-1", ["paused"]);
    const refused = await kt.press(users.alice, {
      kind: "waive",
      changeId: "CHG-1",
      consumerId: "speech-ivr",
      reason: "mine",
    });
    expect(refused.message.text + JSON.stringify(refused.message)).toMatch(/approver/);
    await kt.press(users.bob, {
      kind: "waive",
      changeId: "CHG-1",
      consumerId: "speech-ivr",
      reason: "IVR is being decommissioned",
    });
    await kt.press(users.bob, { kind: "resume", changeId: "CHG-1" });
    const done = await kt.waitFor("CHG-1", ["completed", "completed_with_findings", "paused"]);
    expect(done.state).toBe("completed");
    expect(done.waivedConsumerIds).toHaveLength(1);
    expect(done.waivers?.[0]).toMatchObject({
      consumerName: "speech-ivr",
      by: { displayName: "Bob Okafor" },
      reason: "IVR is being decommissioned",
    });

    // the gate names the waiver instead of claiming every consumer reads the new key
    const gate = done.steps.find((s) => s.kind === "verify_cutover")!;
    expect(gate.validation?.result).toMatch(
      /all 1 checked consumer\(s\) read key1 .*NOT checked, waived: speech-ivr \(waived by Bob Okafor: IVR is being decommissioned\)/,
    );
    expect(JSON.stringify(gate.after)).toMatch(/WAIVED by Bob Okafor/);

    // its 401s after the cut are its own, expected: not "an unknown consumer or an attacker"
    expect(kt.sim.admin.consumers().find((x) => x.name === "speech-ivr")!.failures).toBeGreaterThan(0);
    const soak = done.steps.find((s) => s.kind === "soak")!;
    expect(soak.outcome).toBe("succeeded");
    expect(soak.validation?.result).toMatch(/10\.1\.0\.4 \(SpeechToText\) × \d+ from waived speech-ivr/);
    expect(kt.chat.allText()).not.toMatch(/attacker/);
    expect(kt.chat.allText()).toContain(
      "consumers use key1 except waived speech-ivr (by Bob Okafor: IVR is being decommissioned), which still holds the dead key2",
    );
  });

  it("rollback before the point of no return puts the previous key back in the secrets", async () => {
    await kt.say(users.alice, 'rotate contoso-speech --reason "rotation"');
    await approveAll("CHG-1", [users.bob]);
    await kt.waitFor("CHG-1", ["paused"]);
    const before = kt.sim.admin.currentKeys(speech);
    await kt.press(users.alice, { kind: "rollback", changeId: "CHG-1" });
    const c = await kt.waitFor("CHG-1", ["rolled_back"]);
    expect(c.state).toBe("rolled_back");
    expect(kt.sim.admin.regenerations()[speech]).toEqual({ key1: 1, key2: 0 });
    expect(kt.sim.admin.currentKeys(speech).key2).toBe(before.key2);
  });

  it("Azure faults pause the change with a clear reason; resume finishes it; nothing is regenerated twice", async () => {
    await kt.say(users.alice, 'rotate contoso-translator --reason "rotation"');
    kt.sim.admin.injectFault({
      match: { operation: "regenerateKey" },
      effect: { type: "throttle" },
      times: 1,
    });
    await approveAll("CHG-1");
    const paused = await kt.waitFor("CHG-1", ["paused"]);
    expect(paused.pause?.code).toBe("azure_throttled");
    expect(paused.pause?.message).toMatch(/resume/);

    kt.sim.admin.injectFault({
      match: { operation: "regenerateKey" },
      effect: { type: "fail-after-success", status: 500 },
      times: 2,
    });
    await kt.press(users.bob, { kind: "resume", changeId: "CHG-1" });
    const done = await kt.waitFor("CHG-1", ["completed", "paused"], 90_000);
    expect(done.state).toBe("completed");
    expect(kt.sim.admin.regenerations()[translator]).toEqual({ key1: 1, key2: 1 });
    expect(done.steps.find((s) => s.kind === "regenerate_standby")!.notes?.join(" ")).toMatch(
      /regenerated once/,
    );
  });

  it("a request Azure never answers times out: the change pauses instead of hanging, and resume finishes it", async () => {
    await kt.say(users.alice, 'rotate contoso-translator --reason "rotation"');
    kt.sim.admin.injectFault({ match: { operation: "setSecret" }, effect: { type: "timeout" }, times: 1 });
    await approveAll("CHG-1");
    const paused = await kt.waitFor("CHG-1", ["paused", "completed"], 90_000);
    expect(paused.state).toBe("paused");
    expect(paused.pause?.code).toBe("azure_transient");
    expect(paused.pause?.message).toMatch(/resume/);
    await kt.press(users.bob, { kind: "resume", changeId: "CHG-1" });
    expect((await kt.waitFor("CHG-1", ["completed", "paused"], 90_000)).state).toBe("completed");
    expect(kt.sim.admin.regenerations()[translator]).toEqual({ key1: 1, key2: 1 });
  });

  it("a missing permission pauses with the action and scope to grant", async () => {
    await kt.say(users.alice, 'rotate contoso-translator --reason "rotation"');
    kt.sim.admin.injectFault({
      match: { operation: "regenerateKey" },
      effect: { type: "forbidden" },
      times: -1,
    });
    await approveAll("CHG-1");
    const paused = await kt.waitFor("CHG-1", ["paused"]);
    expect(paused.pause?.code).toBe("azure_permission");
    expect(paused.pause?.message).toContain("Microsoft.CognitiveServices/accounts/regenerateKey/action");
    expect(kt.sim.admin.regenerations()[translator]).toEqual({ key1: 0, key2: 0 });
  });

  it("a permission lost between approval and start pauses the change before its first step; resume re-checks", async () => {
    await kt.say(users.alice, 'rotate contoso-translator --reason "rotation"');
    kt.sim.admin.injectFault({ match: { operation: "listKeys" }, effect: { type: "forbidden" }, times: -1 });
    await approveAll("CHG-1");
    const paused = await kt.waitFor("CHG-1", ["paused", "completed"]);
    expect(paused.state).toBe("paused");
    expect(paused.pause?.code).toBe("azure_permission");
    expect(paused.pause?.message).toMatch(/listKeys\/action.*resume/);
    expect(paused.steps).toEqual([]);
    expect(kt.sim.admin.regenerations()[translator]).toEqual({ key1: 0, key2: 0 });
    expect(kt.chat.allText()).toMatch(/paused before its first step/);
    const refused = await kt.press(users.bob, { kind: "rollback", changeId: "CHG-1" });
    expect(refused.message.text).toMatch(/nothing to roll back/);

    kt.sim.admin.clearFaults();
    await kt.press(users.bob, { kind: "resume", changeId: "CHG-1" });
    const done = await kt.waitFor("CHG-1", ["completed", "paused"], 90_000);
    expect(done.pause).toBeNull();
    expect(done.state).toBe("completed");
    expect(kt.sim.admin.regenerations()[translator]).toEqual({ key1: 1, key2: 1 });
  });

  it("a failed App Service refresh is asked again at the cutover gate, not left to App Service's daily re-read", async () => {
    await kt.close();
    // App Service re-reads versionless references on its own only about once a day
    kt = await startSandboxEngine({ sim: { scenario: { ...loadScenario(), refreshSeconds: 86_400 } } });
    await kt.say(users.alice, 'rotate contoso-translator --reason "rotation"');
    kt.sim.admin.injectFault({
      match: { pathIncludes: "/config/configreferences/appsettings/refresh" },
      effect: { type: "not-found" },
      times: 1,
    });
    await approveAll("CHG-1");
    const done = await kt.waitFor("CHG-1", ["completed", "paused"], 90_000);
    const moved = done.steps.find((s) => s.kind === "move_consumers")!;
    expect(JSON.stringify(moved.after)).toMatch(/refresh failed/);
    expect(done.pause?.message ?? "").toBe("");
    expect(done.state).toBe("completed");
    expect(kt.sim.admin.consumers().find((x) => x.name === "translator-web")!.failures).toBe(0);
  });

  it("callers a previous rotation cut off do not stop the next one at the cutover gate", async () => {
    // the ops laptop script holds a literal copy of contoso-openai's key1: the first rotation kills it
    await kt.say(users.alice, 'rotate contoso-openai --reason "first"');
    await approveAll("CHG-1");
    const first = await kt.waitFor("CHG-1", ["completed", "completed_with_findings", "paused"], 90_000);
    // nothing keyturn knows explains the laptop's 401s: the rotation completed, with a finding naming it
    expect(first.state).toBe("completed_with_findings");
    expect(JSON.stringify(first.steps.find((s) => s.kind === "soak")?.validation)).toMatch(/203\.0\.113\.7/);
    expect(first.steps.find((s) => s.kind === "soak")?.outcome).toBe("succeeded_with_findings");
    expect(first.findings?.[0]?.next).toMatch(/Find who calls from 203\.0\.113\.7/);

    // seconds later, the same account again: the laptop's 401s go on, in the same minute of metrics
    await kt.say(users.alice, 'rotate contoso-openai --reason "second"');
    await approveAll("CHG-2");
    const second = await kt.waitFor("CHG-2", ["completed", "completed_with_findings", "paused"], 90_000);
    expect(second.pause?.message ?? "").toBe("");
    expect(second.state).toBe("completed");
    const gate = second.steps.find((s) => s.kind === "verify_cutover")!;
    const notes = (gate.notes ?? []).join(" ");
    // Monitor counts errors in one-minute buckets and the preflight baseline already holds the laptop's
    // 401s: whether they rise above it in the gate's window depends on where the minute boundary falls.
    // Either way the laptop never holds the gate; when its 401s do show as a spike, they are named as
    // already failing before this change, never as a new caller.
    expect(gate.outcome).toBe("succeeded");
    expect(JSON.stringify(gate)).not.toMatch(/new 401 callers/);
    if (/client errors since publish/.test(notes))
      expect(notes).toMatch(/already failing before .*203\.0\.113\.7/);
  });
});
