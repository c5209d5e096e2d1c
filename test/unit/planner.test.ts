import { describe, expect, it } from "vitest";
import type { Account, Consumer, Inventory } from "../../src/core/domain.js";
import { buildPlan } from "../../src/core/planner.js";
import { inventory as baseInventory, policy } from "../support/change-fixture.js";

const account: Account = {
  id: baseInventory.accountId,
  subscriptionId: "s",
  resourceGroup: "rg",
  name: "contoso-translator",
  kind: "TextTranslation",
  location: "westeurope",
  endpoint: "https://x/",
  disableLocalAuth: false,
  provisioningState: "Succeeded",
  tags: {},
};
const web: Consumer = {
  id: "site:web/KEY",
  name: "web",
  source: "app-setting-reference",
  slot: "key1",
  reload: "refreshable",
  secret: { vaultUrl: "https://kv", name: "k" },
  evidence: "",
};
const inv = (over: Partial<Inventory> = {}): Inventory => ({ ...baseInventory, consumers: [web], ...over });
const plan = (over: Partial<Parameters<typeof buildPlan>[0]> = {}) =>
  buildPlan({
    account,
    inventory: inv(),
    exposure: false,
    leakedSlot: null,
    killNow: false,
    policy,
    ...over,
  });
const kinds = (p: ReturnType<typeof plan>) =>
  p.steps.map((s) => `${s.kind}${s.slot ? `(${s.slot})` : ""}${s.pointOfNoReturn ? "!" : ""}`);

describe("planner", () => {
  it("standard: never regenerates the active key before the cutover check", () => {
    const p = plan();
    expect(p.variant).toBe("standard");
    expect(kinds(p)).toEqual([
      "preflight",
      "regenerate_standby(key2)",
      "publish(key2)",
      "move_consumers",
      "verify_cutover",
      "regenerate_old(key1)!",
      "soak",
      "complete",
    ]);
    expect(p.steps.find((s) => s.kind === "move_consumers")?.waitSeconds).toBe(policy.propagationSeconds);
  });

  it("a leaked standby key is regenerated alone", () => {
    expect(kinds(plan({ exposure: true, leakedSlot: "key2" }))).toEqual([
      "preflight",
      "regenerate_standby(key2)",
      "complete",
    ]);
  });

  it("a leaked active key: staged, or kill now", () => {
    expect(plan({ exposure: true, leakedSlot: "key1" }).variant).toBe("exposure-active");
    const kill = plan({ exposure: true, leakedSlot: "key1", killNow: true });
    expect(kinds(kill)).toEqual([
      "preflight",
      "kill_leaked(key1)!",
      "publish(key1)",
      "move_consumers",
      "verify_cutover",
      "soak",
      "complete",
    ]);
  });

  it("unknown leak: staged, both keys end fresh", () => {
    const p = plan({ exposure: true, leakedSlot: "unknown" });
    expect(p.variant).toBe("exposure-unknown");
    expect(kinds(p).filter((k) => k.startsWith("regenerate"))).toEqual([
      "regenerate_standby(key2)",
      "regenerate_old(key1)!",
    ]);
  });

  it("consumers on both keys, or a key-free account, are refused with what to do", () => {
    expect(() =>
      plan({
        inventory: inv({
          activeSlot: null,
          consumers: [web, { ...web, id: "b", name: "batch", slot: "key2" }],
        }),
      }),
    ).toThrow(/use both keys.*web \(key1\), batch \(key2\)/);
    expect(() => plan({ inventory: inv({ keyFree: true }) })).toThrow(/disableLocalAuth/);
  });

  it("no consumer found: key1 is assumed and the plan says so", () => {
    const p = plan({ inventory: inv({ activeSlot: null, consumers: [] }) });
    expect(p.activeSlot).toBe("key1");
    expect(p.notes?.join(" ")).toMatch(/No consumer with a known key/);
  });

  it("the hash moves with the plan and the inventory, not with time or fingerprints", () => {
    const a = plan();
    expect(
      plan({
        inventory: inv({
          takenAt: "2030-01-01T00:00:00Z",
          fingerprints: { key1: "sha256:x", key2: "sha256:y" },
        }),
      }).hash,
    ).toBe(a.hash);
    expect(
      plan({ inventory: inv({ consumers: [web, { ...web, id: "site:new/KEY", name: "new" }] }) }).hash,
    ).not.toBe(a.hash);
    expect(plan({ inventory: inv({ consumers: [{ ...web, reload: "pinned" }] }) }).hash).not.toBe(a.hash);
    expect(plan({ exposure: true, leakedSlot: "key1" }).hash).not.toBe(a.hash);
    expect(plan({ inventory: inv({ consumers: [{ ...web, reload: "pinned" }] }) }).pinnedConsumerIds).toEqual(
      ["site:web/KEY"],
    );
  });
});
