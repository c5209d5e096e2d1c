/** The disable-local-auth change: its plan (refused while a key holder remains) and its workflow (rollback after completion). */
import { describe, expect, it } from "vitest";
import type { Account, Change, Consumer, Inventory, StepEvidence } from "../../src/core/domain.js";
import { isKeyturnError } from "../../src/core/errors.js";
import { buildPlan } from "../../src/core/planner.js";
import { outcomeText, transition, type WorkflowEvent } from "../../src/core/workflow.js";
import { renderChangeCard } from "../../src/core/render/change.js";
import { renderError } from "../../src/core/render/answers.js";
import { toBlocks } from "../../adapters/slack/render.js";
import { visibleText } from "../fakes/slack-api.js";
import { change as fixture, inventory as baseInventory, people, policy } from "../support/change-fixture.js";

const account: Account = {
  id: baseInventory.accountId,
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
const holder = (over: Partial<Consumer>): Consumer => ({
  id: "kv:contoso-kv/openai-key",
  name: "openai-key",
  source: "keyvault-secret",
  slot: "key1",
  reload: "versionless",
  secret: { vaultUrl: "https://contoso-kv.vault.azure.net", name: "openai-key" },
  evidence: "",
  ...over,
});
const inv = (consumers: Consumer[]): Inventory => ({ ...baseInventory, consumers });
const plan = (consumers: Consumer[], acct: Account = account) =>
  buildPlan({
    account: acct,
    inventory: inv(consumers),
    exposure: false,
    leakedSlot: null,
    killNow: false,
    policy,
    variant: "disable-local-auth",
  });
const refusal = (consumers: Consumer[]): string => {
  try {
    plan(consumers);
  } catch (e) {
    if (isKeyturnError(e)) return `${e.code}: ${e.userMessage}`;
    throw e;
  }
  return "not refused";
};

describe("disable-local-auth plan", () => {
  it("is refused while a key holder remains, naming each one and what to do", () => {
    const text = refusal([
      holder({}),
      holder({
        id: "site:openai-chat/OPENAI_KEY",
        name: "openai-chat",
        source: "app-setting-reference",
        settingName: "OPENAI_KEY",
      }),
      holder({
        id: "literal:app/K",
        name: "fabrikam-app",
        source: "app-setting-literal",
        secret: undefined,
        known: false,
      }),
      holder({
        id: "declared:batch",
        name: "nightly-batch",
        source: "declared",
        secret: undefined,
        owner: "team-fab",
      }),
    ]);
    expect(text).toMatch(
      /^key_holders_remain: Local auth of contoso-openai cannot be disabled yet: 4 key holder\(s\) remain/,
    );
    expect(text).toContain(
      "openai-key (Key Vault contoso-kv.vault.azure.net/openai-key): move whatever reads this secret to Microsoft Entra ID, then delete the secret",
    );
    expect(text).toContain(
      "openai-chat (Key Vault contoso-kv.vault.azure.net/openai-key): switch the app to its managed identity (Entra ID) and remove the setting OPENAI_KEY",
    );
    expect(text).toContain("NEW holder fabrikam-app: a literal copy of the key");
    expect(text).toContain("`consumer remove contoso-openai nightly-batch`");
    expect(text).toContain("request `disable-local-auth contoso-openai` again");
  });

  it("shows the refusal as Slack lays it out: the sentence, then one holder a line with what to do", () => {
    let message: ReturnType<typeof renderError> | undefined;
    try {
      plan([
        holder({}),
        holder({ id: "declared:batch", name: "nightly-batch", source: "declared", secret: undefined }),
      ]);
    } catch (e) {
      if (isKeyturnError(e)) message = renderError(e);
    }
    const shown = visibleText(toBlocks(message!).blocks).split("\n");
    expect(shown[0]).toBe("Local auth of contoso-openai cannot be disabled yet: 2 key holder(s) remain.");
    expect(shown[1]).toMatch(/^• .*openai-key .*move whatever reads this secret to Microsoft Entra ID/);
    expect(shown[2]).toMatch(/^• .*nightly-batch.*`consumer remove contoso-openai nightly-batch`/);
    expect(shown[3]).toBe("Once none remains, request `disable-local-auth contoso-openai` again.");
  });

  it("once none remains: its own steps, no point of no return, nothing regenerated", () => {
    const caller = holder({
      id: "listkeys:jenkins",
      name: "jenkins@contoso.com",
      source: "listkeys-caller",
      secret: undefined,
    });
    const stale = holder({
      id: "kv:contoso-kv/old",
      name: "old",
      source: "keyvault-tagged",
      slot: "unknown",
    });
    const p = plan([caller, stale]);
    expect(p.variant).toBe("disable-local-auth");
    expect(p.steps.map((s) => s.kind)).toEqual([
      "key_free_preflight",
      "disable_local_auth",
      "prove_keys_refused",
      "key_free_complete",
    ]);
    expect(p.steps.some((s) => s.pointOfNoReturn || s.slot)).toBe(false);
    expect(p.consumerIds).toEqual([]);
    expect(p.notes?.join(" ")).toContain(
      "listKeys callers in the last 90 days may keep a copy of a key: jenkins@contoso.com",
    );
    // the hash binds the inventory: a holder seen afterwards changes it
    expect(plan([caller]).hash).not.toBe(p.hash);
    expect(plan([caller, stale]).hash).toBe(p.hash);
  });

  it("is refused when keys are already off", () => {
    expect(() => plan([], { ...account, disableLocalAuth: true })).toThrow(
      /already has disableLocalAuth=true/,
    );
  });
});

describe("disable-local-auth workflow", () => {
  const p = buildPlan({
    account,
    inventory: inv([]),
    exposure: false,
    leakedSlot: null,
    killNow: false,
    policy,
    variant: "disable-local-auth",
  });
  const at = "2026-11-22T09:01:00.000Z";
  const base = fixture({ accountName: "contoso-openai", accountKind: "OpenAI", plan: p, inventory: inv([]) });
  const run = (c: Change, ...events: WorkflowEvent[]): Change =>
    events.reduce((acc, e) => {
      const r = transition(acc, e);
      if (!r.ok) throw r.error;
      return r.change;
    }, c);
  const ev = (index: number, over: Partial<StepEvidence> = {}): StepEvidence => ({
    index,
    kind: p.steps[index]?.kind ?? "enable_local_auth",
    startedAt: at,
    rollback: p.steps[index]?.rollback ?? "none: this is the rollback",
    actor: "keyturn",
    ...over,
  });
  const completed = () => {
    let c = run(
      base,
      { type: "submitted", at },
      { type: "approved", at, by: people.bob, planHash: p.hash },
      { type: "approved", at, by: people.carol, planHash: p.hash },
      { type: "plan_revalidated", at, plan: p, inventory: inv([]) },
    );
    for (const s of p.steps) {
      c = run(c, { type: "step_started", at, index: s.index });
      c = run(c, {
        type: "step_succeeded",
        at,
        index: s.index,
        evidence: ev(
          s.index,
          s.kind === "prove_keys_refused"
            ? { validation: { query: "data-plane call", result: "key → 403 (refused)", passed: true } }
            : {},
        ),
      });
    }
    return c;
  };

  it("runs under the same approvals; its outcome says key-free, not rotated", () => {
    const c = completed();
    expect(c.state).toBe("completed");
    expect(outcomeText(c)).toBe(
      "CHG-1 completed: contoso-openai is key-free: disableLocalAuth=true, key → 403 (refused). `rollback CHG-1` turns keys back on.",
    );
    const card = renderChangeCard(c);
    expect(card.title).toBe("CHG-1 · disable local auth of contoso-openai");
    expect(JSON.stringify(card)).not.toMatch(/rotat/i);
    expect(card.buttons?.map((b) => b.label)).toEqual(["Roll back"]);
  });

  it("can be rolled back after it completed, by an operator only, and ends rolled back", () => {
    const c = completed();
    const denied = transition(c, { type: "rollback_requested", at, by: people.erin });
    expect(denied.ok).toBe(false);
    const asked = transition(c, { type: "rollback_requested", at, by: people.alice });
    expect(asked.ok && asked.effects.map((e) => e.type)).toEqual(["notice", "rollback"]);
    const back = run(c, {
      type: "rolled_back",
      at,
      evidence: ev(p.steps.length, {
        kind: "enable_local_auth",
        after: { disableLocalAuth: "false" },
        validation: { query: "PATCH", result: "key → 200 (works again)", passed: true },
      }),
    });
    expect(back.state).toBe("rolled_back");
    const r = transition(c, {
      type: "rolled_back",
      at,
      evidence: ev(p.steps.length, { kind: "enable_local_auth" }),
    });
    expect(r.ok && r.effects.find((e) => e.type === "notice")).toMatchObject({
      text: "CHG-1 rolled back: local auth of contoso-openai is enabled again (disableLocalAuth=false).",
    });
  });

  it("a completed rotation still cannot be rolled back", () => {
    const rotation = fixture({ state: "completed" });
    const r = transition(rotation, { type: "rollback_requested", at, by: people.alice });
    expect(r.ok).toBe(false);
  });
});
