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

  it("exposure plans use the snapshot's short windows; titles and rollback notes say what happens", () => {
    const short = { ...policy, propagationSeconds: 60, soakSeconds: 300 };
    const p = plan({ exposure: true, leakedSlot: "key1", policy: short });
    expect(p.steps.filter((s) => s.waitSeconds > 0).map((s) => [s.kind, s.waitSeconds])).toEqual([
      ["move_consumers", 60],
      ["soak", 300],
    ]);
    const pnr = p.steps.filter((s) => s.pointOfNoReturn);
    expect(pnr.map((s) => s.kind)).toEqual(["regenerate_old"]);
    expect(pnr[0]?.title).toMatch(/Regenerate key1 — POINT OF NO RETURN: the old key stops working/);
    expect(pnr[0]?.rollback).toMatch(/none: key1 is dead; consumers on key2 are unaffected/);
    expect(p.steps.find((s) => s.kind === "publish")?.rollback).toMatch(/previous version; key1 still works/);
    expect(p.steps.find((s) => s.kind === "regenerate_standby")?.title).toMatch(
      /Regenerate key2 \(standby — no consumer uses it\)/,
    );
  });

  it("follows the active slot: consumers on key2 make key1 the standby", () => {
    const onKey2 = inv({ activeSlot: "key2", consumers: [{ ...web, slot: "key2" }] });
    expect(kinds(plan({ inventory: onKey2 }))).toEqual([
      "preflight",
      "regenerate_standby(key1)",
      "publish(key1)",
      "move_consumers",
      "verify_cutover",
      "regenerate_old(key2)!",
      "soak",
      "complete",
    ]);
    expect(plan({ inventory: onKey2, exposure: true, leakedSlot: "key1" }).variant).toBe("exposure-standby");
    expect(
      plan({ inventory: onKey2, exposure: true, leakedSlot: "key2", killNow: true }).steps[1],
    ).toMatchObject({ kind: "kill_leaked", slot: "key2", pointOfNoReturn: true });
  });

  it("moves consumers that read a secret or hold a copy; activity-log callers are only reported", () => {
    const caller: Consumer = {
      id: "al:caller",
      name: "someone",
      source: "listkeys-caller",
      slot: "unknown",
      reload: "unknown",
      evidence: "",
    };
    const p = plan({ inventory: inv({ consumers: [web, caller] }) });
    expect(p.consumerIds).toEqual(["site:web/KEY"]);
  });

  it("the same input gives the same hash; a slot change moves it", () => {
    expect(plan().hash).toBe(plan().hash);
    expect(plan().hash).toMatch(/^[0-9a-f]{64}$/);
    expect(
      plan({
        inventory: inv({
          consumers: [{ ...web, secret: { vaultUrl: "https://kv", name: "k", version: "v2" } }],
        }),
      }).hash,
    ).not.toBe(plan().hash);
    expect(plan({ policy: { ...policy, soakSeconds: 1 } }).hash).not.toBe(plan().hash);
  });
});
