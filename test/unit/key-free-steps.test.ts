/** The disable-local-auth steps on injected ports: what they prove, and how they stop when they cannot. */
import { describe, expect, it } from "vitest";
import type { Account, Consumer } from "../../src/core/domain.js";
import { isKeyturnError } from "../../src/core/errors.js";
import { buildPlan } from "../../src/core/planner.js";
import type { AzurePorts } from "../../src/core/ports.js";
import { SecretValue } from "../../src/core/secret.js";
import type { StepContext } from "../../src/runner/steps/context.js";
import { GateFailed } from "../../src/runner/steps/index.js";
import { disableLocalAuthStep, keyFreePreflight, proveKeysRefused } from "../../src/runner/steps/key-free.js";
import { change as fixture, inventory, policy } from "../support/change-fixture.js";

const account: Account = {
  id: inventory.accountId,
  subscriptionId: "s",
  resourceGroup: "rg",
  name: "contoso-openai",
  kind: "OpenAI",
  location: "swedencentral",
  endpoint: "https://x/",
  disableLocalAuth: false,
  provisioningState: "Succeeded",
  tags: {},
};
const plan = buildPlan({
  account,
  inventory,
  exposure: false,
  leakedSlot: null,
  killNow: false,
  policy,
  variant: "disable-local-auth",
});

function ctx(
  id: string,
  index: number,
  o: { armSays?: boolean; probe?: number; acct?: Account; holders?: Consumer[] } = {},
): StepContext & { writes: boolean[] } {
  const writes: boolean[] = [];
  const state = { now: Date.parse("2026-11-22T09:00:00Z") };
  const azure = {
    accounts: {
      listKeys: () =>
        Promise.resolve({ key1: new SecretValue("k".repeat(84)), key2: new SecretValue("j".repeat(84)) }),
      setLocalAuth: (_: string, disabled: boolean) => {
        writes.push(disabled);
        return Promise.resolve({ ...account, disableLocalAuth: o.armSays ?? disabled });
      },
    },
    dataPlane: { probe: () => Promise.resolve({ status: o.probe ?? 403 }), proofBoundMs: 10_000 },
    inventory: { take: () => Promise.resolve({ ...inventory, consumers: o.holders ?? [] }) },
    telemetry: {},
  } as unknown as AzurePorts;
  const c = {
    change: fixture({ id, accountName: account.name, plan, state: "running", currentStep: index }),
    index,
    account: o.acct ?? account,
    azure,
    clock: { now: () => new Date(state.now) },
    logger: {
      debug() {},
      info() {},
      warn() {},
      error() {},
      child() {
        return this;
      },
    },
    recordIntent: () => Promise.resolve(),
    intentRecorded: () => false,
    sleep: (ms: number) => {
      state.now += ms;
      return Promise.resolve();
    },
    fence: async () => undefined,
    notifyOwner: () => Promise.resolve(true),
    writes,
  };
  return c;
}

describe("disable-local-auth steps", () => {
  it("preflight stops on a holder that appeared since approval, listing it and saying to resume or cancel", async () => {
    const c = ctx("CHG-7", 0, {
      holders: [
        {
          id: "kv:contoso-kv/openai-key",
          name: "openai-key",
          source: "keyvault-secret",
          slot: "key1",
          reload: "versionless",
          secret: { vaultUrl: "https://contoso-kv.vault.azure.net", name: "openai-key" },
          evidence: "",
        },
      ],
    });
    const err = await keyFreePreflight.act(c).then(
      () => null,
      (e: unknown) => e,
    );
    expect(isKeyturnError(err) && err.code).toBe("key_holders_remain");
    const lines = isKeyturnError(err) ? err.userMessage.split("\n") : [];
    expect(lines[0]).toBe("Local auth of contoso-openai cannot be disabled yet: 1 key holder(s) remain.");
    expect(lines[1]).toMatch(/^• .*openai-key/);
    expect(lines.at(-1)).toBe("Then resume CHG-7, or cancel it.");
    expect(lines.join("\n")).not.toMatch(/Once none remains|request `disable-local-auth/);
    expect(c.writes).toEqual([]);
  });

  it("turns keys off, then proves a key is refused with the key it held in memory", async () => {
    const d = ctx("CHG-7", 1);
    const acted = await disableLocalAuthStep.act(d);
    expect(d.writes).toEqual([true]);
    expect(acted.after).toEqual({ disableLocalAuth: "true" });
    const proof = await proveKeysRefused.act(
      ctx("CHG-7", 2, { acct: { ...account, disableLocalAuth: true } }),
    );
    expect(proof.validation).toMatchObject({ result: "key → 403 (refused)", passed: true });
  });

  it("a key still accepted past the bound pauses the change at its gate, saying what to do", async () => {
    await disableLocalAuthStep.act(ctx("CHG-8", 1));
    const p = ctx("CHG-8", 2, { probe: 200, acct: { ...account, disableLocalAuth: true } });
    const err = await proveKeysRefused.act(p).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GateFailed);
    expect((err as GateFailed).userMessage).toMatch(
      /A key of contoso-openai still works 10 s after disableLocalAuth=true .*Resume CHG-8 to check again, or roll it back\./,
    );
  });

  it("without the held key (a restart between the steps) the proof is a finding, not a pass", async () => {
    const r = await proveKeysRefused.act(ctx("CHG-9", 2, { acct: { ...account, disableLocalAuth: true } }));
    expect(r.validation?.passed).toBe(false);
    expect(r.findings?.[0]?.what).toMatch(/not proven on contoso-openai's data plane/);
  });

  it("ARM reading false after the PATCH (a policy denied it) stops the step with what to check", async () => {
    const err = await disableLocalAuthStep.act(ctx("CHG-10", 1, { armSays: false })).catch((e: unknown) => e);
    expect((err as { userMessage: string }).userMessage).toMatch(
      /still reads disableLocalAuth=false.*an Azure Policy may deny/,
    );
  });
});
