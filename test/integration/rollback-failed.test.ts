/** A rollback that fails is part of the record: its event names the reason, the change stays paused, a retry works. */
import { afterEach, beforeEach, expect, it } from "vitest";
import { startSandboxEngine, users, type SandboxEngine } from "../support/sandbox-engine.js";

let kt: SandboxEngine;
beforeEach(async () => {
  kt = await startSandboxEngine();
});
afterEach(async () => {
  await kt?.close();
});

it("records a failed rollback with its reason, keeps the change paused, and a second rollback completes", async () => {
  // contoso-speech has a consumer that pins a secret version: the cutover check pauses the change
  await kt.say(users.alice, 'rotate contoso-speech --reason "rotation"');
  await kt.press(users.bob, { kind: "approve", changeId: "CHG-1", planHash: kt.change("CHG-1").plan.hash });
  await kt.waitFor("CHG-1", ["paused"]);
  kt.sim.admin.injectFault({ match: { operation: "setSecret" }, effect: { type: "forbidden" }, times: -1 });
  await kt.press(users.alice, { kind: "rollback", changeId: "CHG-1" });
  const failed = await waitForEvent("rollback_failed");
  expect((failed.payload as { message: string }).message).toMatch(
    /lacks Microsoft\.KeyVault\/vaults\/secrets\/setSecret\/action/,
  );
  expect(kt.change("CHG-1").state).toBe("paused");
  kt.sim.admin.clearFaults();
  await kt.press(users.alice, { kind: "rollback", changeId: "CHG-1" });
  expect((await kt.waitFor("CHG-1", ["rolled_back"])).state).toBe("rolled_back");
  expect(kt.store.verify().ok).toBe(true);
});

async function waitForEvent(type: string) {
  const end = Date.now() + 30_000;
  for (;;) {
    const ev = kt.store.events({ changeId: "CHG-1" }).find((e) => e.type === type);
    if (ev) return ev;
    if (Date.now() > end) throw new Error(`no ${type} event`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
