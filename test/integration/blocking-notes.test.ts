import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSandboxEngine, users, type SandboxEngine } from "../support/sandbox-engine.js";

let kt: SandboxEngine;
beforeAll(async () => {
  kt = await startSandboxEngine();
});
afterAll(() => kt.close());

describe("a consumer that will hold the cutover check", () => {
  it("is named on the card's plan when requested and still after approval rebuilds the plan", async () => {
    await kt.say(users.alice, 'rotate contoso-speech --reason "cadence"');
    const requested = kt.change("CHG-1");
    const blocks = (notes: readonly string[] | undefined) =>
      (notes ?? []).filter((n) => n.startsWith("BLOCKS THE CUTOVER:"));
    expect(blocks(requested.plan.notes)).toHaveLength(1);
    expect(blocks(requested.plan.notes)[0]).toMatch(
      /pins Key Vault version [0-9a-f]{8}… of speech-key: .*waive CHG-1 /,
    );

    // a consumer declared meanwhile changes the inventory: the plan is rebuilt (approvals reset)
    const added = await kt.say(users.bob, "consumer add contoso-speech batch-job --owner dave@contoso.com");
    expect(added.message.text).toMatch(/batch-job/);
    await kt.press(users.bob, { kind: "approve", changeId: "CHG-1", planHash: requested.plan.hash });
    await kt.engine.idle();
    const replanned = kt.change("CHG-1");
    expect(replanned.state).toBe("awaiting_approval");
    expect(replanned.plan.hash).not.toBe(requested.plan.hash);
    expect(blocks(replanned.plan.notes)).toEqual(blocks(requested.plan.notes));
  });
});
