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

describe("planner: approved holders only", () => {
  const planted: Consumer = {
    id: "kv:kv/translator-copy",
    name: "Key Vault secret translator-copy",
    source: "keyvault-secret",
    slot: "key1",
    reload: "versionless",
    secret: { vaultUrl: "https://kv", name: "translator-copy" },
    evidence: "",
    known: false,
    firstSeen: { createdAt: "2025-01-02T03:04:05.000Z", createdBy: null },
  };
  const junk: Consumer = {
    id: "kv:kv/junk",
    name: "Key Vault secret junk",
    source: "keyvault-tagged",
    slot: "unknown",
    reload: "versionless",
    secret: { vaultUrl: "https://kv", name: "junk" },
    evidence: "",
    known: false,
  };
  const knownWeb: Consumer = { ...web, known: true };
  const withHolders = (...extra: Consumer[]) => inv({ consumers: [knownWeb, ...extra] });

  it("an exposure rotation excludes a NEW holder: it is listed, delivered nothing, and named in the notes", () => {
    const p = plan({ exposure: true, leakedSlot: "key1", inventory: withHolders(planted) });
    expect(p.consumerIds).toEqual([web.id]);
    expect(p.newConsumerIds).toEqual([planted.id]);
    expect(p.excludedConsumerIds).toEqual([planted.id]);
    expect(p.notes?.join(" ")).toMatch(
      /NEW holder\(s\) receive nothing in this exposure rotation.*translator-copy/,
    );
    const kill = plan({ exposure: true, leakedSlot: "key1", killNow: true, inventory: withHolders(planted) });
    expect(kill.consumerIds).toEqual([web.id]);
    const unknown = plan({ exposure: true, leakedSlot: "unknown", inventory: withHolders(planted) });
    expect(unknown.excludedConsumerIds).toEqual([planted.id]);
  });

  it("a standard rotation delivers to a NEW holder that holds the key, and says approval covers it", () => {
    const p = plan({ inventory: withHolders(planted) });
    expect(p.consumerIds).toEqual([planted.id, web.id].sort());
    expect(p.newConsumerIds).toEqual([planted.id]);
    expect(p.excludedConsumerIds).toBeUndefined();
    expect(p.notes?.join(" ")).toMatch(/NEW holder\(s\) receive the new key in this standard rotation/);
  });

  it("a NEW tagged secret holding neither key is excluded in every rotation; a known one is delivered to", () => {
    expect(plan({ inventory: withHolders(junk) }).excludedConsumerIds).toEqual([junk.id]);
    expect(plan({ inventory: withHolders(junk) }).consumerIds).toEqual([web.id]);
    expect(plan({ inventory: withHolders({ ...junk, known: true }) }).consumerIds).toContain(junk.id);
  });

  it("NEW-ness and exclusion are part of the hash; a plan without marks hashes as before", () => {
    const unmarked = plan({ inventory: inv({ consumers: [web, { ...planted, known: undefined }] }) });
    const markedKnown = plan({ inventory: inv({ consumers: [knownWeb, { ...planted, known: true }] }) });
    const markedNew = plan({ inventory: withHolders(planted) });
    expect(markedKnown.hash).toBe(unmarked.hash);
    expect(markedNew.hash).not.toBe(markedKnown.hash);
    const expNew = plan({ exposure: true, leakedSlot: "key1", inventory: withHolders(planted) });
    const expKnown = plan({
      exposure: true,
      leakedSlot: "key1",
      inventory: inv({ consumers: [knownWeb, { ...planted, known: true }] }),
    });
    expect(expNew.hash).not.toBe(expKnown.hash);
  });

  it("a NEW holder on the other key does not block the rotation when known consumers agree", () => {
    const other = { ...planted, slot: "key2" as const };
    const p = plan({
      exposure: true,
      leakedSlot: "key2",
      inventory: inv({ consumers: [knownWeb, other], activeSlot: null }),
    });
    expect(p.activeSlot).toBe("key1");
    expect(p.variant).toBe("exposure-standby");
    expect(p.notes?.join(" ")).toMatch(
      /Known consumers use key1; NEW holder\(s\) .*translator-copy \(key2\)/,
    );
    expect(() =>
      plan({ inventory: inv({ consumers: [knownWeb, { ...other, known: true }], activeSlot: null }) }),
    ).toThrow(/use both keys/);
  });
});
