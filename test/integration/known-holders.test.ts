/**
 * Known holders come from keyturn's record: a holder a completed rotation delivered to is known to
 * the next one; a holder seen for the first time is NEW, shown as such, and part of the plan hash.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAzurePorts } from "../../src/azure/index.js";
import type { Consumer } from "../../src/core/domain.js";
import { pauseHistory } from "../../src/core/evidence.js";
import { renderChangeCard } from "../../src/core/render/change.js";
import { createLogger } from "../../src/log.js";
import { createSimulatorCredential, simulatorAzureConfig } from "../../src/sandbox/index.js";
import { startSandboxEngine, users, type SandboxEngine } from "../support/sandbox-engine.js";

let kt: SandboxEngine;

beforeAll(async () => {
  kt = await startSandboxEngine();
});
afterAll(async () => {
  await kt?.close();
});

async function approveAll(id: string) {
  for (const who of [users.bob, users.carol]) {
    const r = await kt.press(who, { kind: "approve", changeId: id, planHash: kt.change(id).plan.hash });
    expect(r.message.text).not.toMatch(/not an approver|cannot/);
  }
}

const names = (cs: readonly Consumer[]) => cs.map((c) => c.name).sort();
const blast = (id: string) =>
  renderChangeCard(kt.change(id)).sections?.find((s) => s.heading?.startsWith("Blast radius"))?.lines ?? [];

describe("known holders", () => {
  it("a standard rotation delivers to the NEW holders it showed; the next one knows them and flags a fresh copy", async () => {
    await kt.say(users.alice, 'rotate contoso-translator --reason "quarterly"');
    const first = kt.change("CHG-1");
    const fresh = first.inventory.consumers.filter((c) => c.known === false);
    expect(names(fresh)).toEqual(["Key Vault secret translator-key", "translator-web"]);
    expect(first.plan.newConsumerIds).toEqual(fresh.map((c) => c.id).sort());
    expect(first.plan.excludedConsumerIds).toBeUndefined();
    expect(first.plan.notes?.join(" ")).toMatch(
      /NEW holder\(s\) receive the new key in this standard rotation/,
    );
    expect(blast("CHG-1").join("\n")).toMatch(
      /Key Vault secret translator-key — [^\n]*NEW \(created \d{4}-\d\d-\d\d \d\d:\d\d UTC, by an unknown creator[^\n]*\): receives the new key/,
    );
    await approveAll("CHG-1");
    await kt.waitFor("CHG-1", ["completed"]);

    // someone copies the live key into a secret of their own after that rotation
    const azure = createAzurePorts(
      simulatorAzureConfig(kt.sim),
      createSimulatorCredential(),
      createLogger({ level: "silent" }),
    );
    const vault = Object.values(kt.sim.vaultUrls)[0]!;
    const live = await azure.accounts.listKeys(first.accountId);
    await azure.secrets.publish(
      { vaultUrl: vault, name: "translator-key-copy" },
      live[first.plan.standbySlot],
      {},
    );

    await kt.say(users.alice, 'rotate contoso-translator --exposure --reason "key seen in a log"');
    const second = kt.change("CHG-2");
    const byName = (n: string) => second.inventory.consumers.find((c) => c.name === n);
    expect(byName("Key Vault secret translator-key")?.known).toBe(true);
    expect(byName("translator-web")?.known).toBe(true);
    const copy = byName("Key Vault secret translator-key-copy")!;
    expect(copy.known).toBe(false);
    expect(second.plan.excludedConsumerIds).toEqual([copy.id]);
    expect(second.plan.consumerIds).not.toContain(copy.id);
    expect(second.plan.consumerIds).toContain(byName("Key Vault secret translator-key")!.id);
    expect(blast("CHG-2").join("\n")).toMatch(
      new RegExp(
        `translator-key-copy — [^\\n]*NEW [^\\n]*EXCLUDED, receives nothing[^\\n]*include CHG-2 ${copy.id}`,
      ),
    );
    await kt.say(users.alice, "cancel CHG-2");
  }, 90_000);

  it("an approver other than the requester includes a NEW holder; it then receives the new key", async () => {
    await kt.say(users.alice, 'rotate contoso-translator --exposure --reason "key seen again"');
    const c = kt.change("CHG-3");
    const copy = c.inventory.consumers.find((x) => x.name === "Key Vault secret translator-key-copy")!;
    expect(c.plan.excludedConsumerIds).toEqual([copy.id]);
    const text = (r: { message: unknown }) => JSON.stringify(r.message);
    expect(text(await kt.say(users.alice, `include CHG-3 ${copy.id} --reason "mine"`))).toMatch(
      /Including a NEW holder in CHG-3 needs the approve role, held by an approver other than its requester/,
    );
    expect(text(await kt.say(users.erin, `include CHG-3 ${copy.id} --reason "mine"`))).toMatch(
      /needs the approve role/,
    );
    expect(text(await kt.say(users.bob, `include CHG-3 nothing-such --reason "x"`))).toMatch(
      /CHG-3 has no holder \\"nothing-such\\"\. Excluded NEW holders: kv:/,
    );
    expect(text(await kt.say(users.bob, `include CHG-3 ${copy.id}`))).toMatch(/--reason/);
    expect(
      text(await kt.say(users.bob, `include CHG-3 ${copy.id} --reason "the batch job's own secret"`)),
    ).toMatch(/Included Key Vault secret translator-key-copy in CHG-3/);
    expect(kt.change("CHG-3").includedConsumerIds).toEqual([copy.id]);
    await approveAll("CHG-3");
    await kt.waitFor("CHG-3", ["completed"]);
    const azure = createAzurePorts(
      simulatorAzureConfig(kt.sim),
      createSimulatorCredential(),
      createLogger({ level: "silent" }),
    );
    const live = await azure.accounts.listKeys(c.accountId);
    const held = await azure.secrets.getSecret({ vaultUrl: copy.secret!.vaultUrl, name: copy.secret!.name });
    const done = kt.change("CHG-3");
    expect(held.value.fingerprint).toBe(live[done.plan.standbySlot].fingerprint);
    // too late once published: the next change's exclusions stay excluded
    expect(text(await kt.say(users.bob, `include CHG-3 ${copy.id} --reason "again"`))).toMatch(
      /CHG-3 is completed|already published/,
    );
  }, 120_000);

  it("the evidence history names an approver's inclusion of a NEW holder", () => {
    const [entry] = pauseHistory([
      {
        seq: 7,
        changeId: "CHG-9",
        type: "consumer_included",
        at: "2025-01-01T00:00:00.000Z",
        actor: "slack:T1:U0BOB",
        payload: { consumerId: "kv:contoso-kv/app-key", reason: "the billing app's own secret" },
        prevHash: "0",
        hash: "1",
      },
    ]);
    expect(entry?.detail).toBe("included NEW holder kv:contoso-kv/app-key: the billing app's own secret");
  });
});
