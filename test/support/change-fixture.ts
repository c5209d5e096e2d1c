/** A realistic change for pure tests: contoso-translator, standard plan, production policy (2 of bob/carol). */
import type { Change, Inventory, Plan, PlanStep, PolicySnapshot, Principal } from "../../src/core/domain.js";

export const people = {
  alice: principal("alice", "Alice Ng", "U0ALICE"),
  bob: principal("bob", "Bob Okafor", "U0BOB"),
  carol: principal("carol", "Carol Diaz", "U0CAROL"),
  dave: principal("dave", "Dave Kim", "U0DAVE"),
  erin: principal("erin", "Erin Cho", "U0ERIN"),
};

function principal(name: string, displayName: string, slack: string): Principal {
  return {
    platform: "slack",
    id: `slack:T0CONTOSO:${slack}`,
    displayName,
    identities: [`${name}@contoso.com`, `slack:${slack.toLowerCase()}`],
  };
}

export const policy: PolicySnapshot = {
  name: "production",
  approvers: ["group:secops", "group:platform"],
  resolvedApprovers: ["bob@contoso.com", "carol@contoso.com"],
  approvalsRequired: 2,
  approvalExpirySeconds: 4 * 3600,
  breakGlass: ["dave@contoso.com"],
  breakGlassApprovalSeconds: 3600,
  propagationSeconds: 300,
  soakSeconds: 900,
  cadenceDays: 90,
};

const step = (index: number, kind: PlanStep["kind"], extra: Partial<PlanStep> = {}): PlanStep => ({
  index,
  kind,
  title: kind,
  pointOfNoReturn: false,
  waitSeconds: 0,
  rollback: "point the secrets back to the previous version",
  ...extra,
});

export const standardPlan: Plan = {
  variant: "standard",
  accountId:
    "/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/contoso-translator",
  activeSlot: "key1",
  standbySlot: "key2",
  steps: [
    step(0, "preflight"),
    step(1, "regenerate_standby", { slot: "key2" }),
    step(2, "publish", { slot: "key2" }),
    step(3, "move_consumers", { waitSeconds: 300 }),
    step(4, "verify_cutover"),
    step(5, "regenerate_old", { slot: "key1", pointOfNoReturn: true }),
    step(6, "soak", { waitSeconds: 900 }),
    step(7, "complete"),
  ],
  consumerIds: ["kv:contoso-kv/translator-key"],
  pinnedConsumerIds: [],
  hash: "a".repeat(64),
};

export const inventory: Inventory = {
  accountId: standardPlan.accountId,
  takenAt: "2026-11-22T09:00:00.000Z",
  keyFree: false,
  fingerprints: { key1: "sha256:111111111111", key2: "sha256:222222222222" },
  activeSlot: "key1",
  consumers: [],
  services: [],
  unseen: [],
};

export function change(over: Partial<Change> = {}): Change {
  return {
    id: "CHG-1",
    accountId: standardPlan.accountId,
    accountName: "contoso-translator",
    accountKind: "TextTranslation",
    reason: "leaked in PR 123",
    exposure: false,
    leakedSlot: null,
    killNow: false,
    breakGlass: false,
    requester: { platform: "slack", id: people.alice.id, displayName: people.alice.displayName },
    state: "requested",
    policy,
    plan: standardPlan,
    inventory,
    approvals: [],
    createdAt: "2026-11-22T09:00:00.000Z",
    approvalDeadline: null,
    currentStep: 0,
    steps: [],
    waivedConsumerIds: [],
    pause: null,
    completedAt: null,
    thread: null,
    sandbox: true,
    ...over,
  };
}
