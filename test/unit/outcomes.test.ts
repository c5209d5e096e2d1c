/**
 * Outcomes that say what happened: a soak that saw unexplained 401s ends `completed_with_findings`
 * with what to do; waived consumers are named as waived (by whom, why) and their 401s attributed to
 * them; a due date moves only with a rotation that really completed.
 */
import { describe, expect, it } from "vitest";
import type { Account, Change, Consumer, Finding, StepEvidence } from "../../src/core/domain.js";
import { isOpen } from "../../src/core/domain.js";
import { renderChangeCard, renderHistory, renderStepReply } from "../../src/core/render/index.js";
import { countsAsRotation, lastRotationOf, nextDueOf } from "../../src/core/rotation-record.js";
import type { Effect, WorkflowEvent } from "../../src/core/workflow.js";
import { acceptedEvents, transition } from "../../src/core/workflow.js";
import type { CallerErrors, Logger } from "../../src/core/ports.js";
import type { StepContext } from "../../src/runner/steps/context.js";
import { soak } from "../../src/runner/steps/soak.js";
import { change, inventory, people, standardPlan } from "../support/change-fixture.js";

const T0 = "2026-11-22T09:00:00.000Z";
const at = (minutes: number) => new Date(Date.parse(T0) + minutes * 60_000).toISOString();
const IVR = "site:speech-ivr/SPEECH_KEY";
const ivr: Consumer = {
  id: IVR,
  name: "speech-ivr",
  source: "app-setting-reference",
  slot: "key1",
  reload: "pinned",
  siteId: "/subscriptions/s/resourceGroups/rg-apps/providers/Microsoft.Web/sites/speech-ivr",
  settingName: "SPEECH_KEY",
  callerIps: ["10.1.0.4"],
  evidence: "pinned",
};

function run(c: Change, ...events: WorkflowEvent[]): { change: Change; effects: readonly Effect[] } {
  let cur = c;
  let effects: readonly Effect[] = [];
  for (const e of events) {
    const r = transition(cur, e);
    if (!r.ok) throw r.error;
    cur = r.change;
    effects = r.effects;
  }
  return { change: cur, effects };
}

const ev = (index: number, extra: Partial<StepEvidence> = {}): StepEvidence => ({
  index,
  kind: standardPlan.steps[index]!.kind,
  startedAt: at(index),
  finishedAt: at(index),
  outcome: "succeeded",
  rollback: "r",
  actor: "keyturn",
  ...extra,
});

/** A change running its soak (step 7), every earlier step done, speech-ivr pinned in the plan. */
const soaking = (over: Partial<Change> = {}): Change =>
  change({
    state: "running",
    currentStep: 6,
    plan: { ...standardPlan, pinnedConsumerIds: [IVR] },
    inventory: { ...inventory, consumers: [ivr] },
    steps: [0, 1, 2, 3, 4, 5].map((i) => ev(i)),
    ...over,
  });

const finding: Finding = {
  stepIndex: 6,
  kind: "soak",
  what: "401s since the old key died from callers no consumer explains: 203.0.113.9 (Translate) × 21.",
  next: "Find who calls from 203.0.113.9; rotate again with --exposure if the new key may be in their hands.",
};

const finish = (c: Change, soakEvidence: StepEvidence) =>
  run(
    c,
    { type: "step_succeeded", at: at(20), index: 6, evidence: soakEvidence },
    { type: "step_started", at: at(21), index: 7 },
    { type: "step_succeeded", at: at(22), index: 7, evidence: ev(7, { outcome: undefined }) },
  );

const noticeOf = (effects: readonly Effect[]) =>
  effects.find((e): e is Extract<Effect, { type: "notice" }> => e.type === "notice");

describe("a soak that saw what the rotation does not explain", () => {
  it("marks the soak succeeded_with_findings, and the change ends completed_with_findings with what to do", () => {
    const soakEv = ev(6, { outcome: undefined, findings: [finding] });
    const afterSoak = run(soaking(), { type: "step_succeeded", at: at(20), index: 6, evidence: soakEv });
    expect(afterSoak.change.steps.find((s) => s.index === 6)?.outcome).toBe("succeeded_with_findings");
    expect(afterSoak.change.findings).toEqual([finding]);

    const done = finish(soaking(), soakEv);
    expect(done.change.state).toBe("completed_with_findings");
    expect(isOpen(done.change.state)).toBe(false);
    const notice = noticeOf(done.effects)!;
    expect(notice.tone).toBe("warning");
    expect(notice.text).toMatch(/CHG-1 completed WITH FINDINGS/);
    expect(notice.text).toContain("203.0.113.9");
    expect(notice.text).toMatch(/What to do: Find who calls from 203\.0\.113\.9/);
  });

  it("the card, the step reply and the history say so", () => {
    const done = finish(soaking(), ev(6, { outcome: undefined, findings: [finding] })).change;
    const card = JSON.stringify(renderChangeCard(done));
    expect(card).toContain("COMPLETED WITH FINDINGS");
    expect(card).toContain("What to do: Find who calls from 203.0.113.9");
    const reply = renderStepReply(
      done,
      done.steps.find((s) => s.index === 6)!,
    );
    expect(reply.title).toMatch(/Step 7\/8 done WITH FINDINGS/);
    expect(reply.tone).toBe("warning");
    expect(JSON.stringify(reply)).toContain("What to do:");
    const history = JSON.stringify(renderHistory(account, [done]));
    expect(history).toMatch(/CHG-1 — completed with findings \(1 finding\(s\): Find who calls/);
  });

  it("a soak without findings completes the change as before", () => {
    const done = finish(soaking(), ev(6, { outcome: undefined }));
    expect(done.change.state).toBe("completed");
    expect(done.change.steps.find((s) => s.index === 6)?.outcome).toBe("succeeded");
    expect(noticeOf(done.effects)).toMatchObject({ tone: "success" });
    expect(noticeOf(done.effects)!.text).toBe(
      "CHG-1 completed: contoso-translator rotated; consumers use key2.",
    );
  });

  it("a closed completed_with_findings change takes an approval after the fact and nothing else", () => {
    expect(acceptedEvents("completed_with_findings").sort()).toEqual(["approved", "break_glass_deadline"]);
    const r = transition(change({ state: "completed_with_findings" }), {
      type: "cancelled",
      at: at(30),
      by: people.alice,
    });
    expect(!r.ok && r.error.userMessage).toMatch(/is completed with findings \(closed\)/);
  });
});

describe("a waived consumer", () => {
  const waived = () =>
    run(soaking({ state: "paused", pause: { code: "gate_failed", message: "m", stepIndex: 4 } }), {
      type: "consumer_waived",
      at: at(10),
      by: people.bob,
      consumerId: IVR,
      reason: "IVR is being decommissioned",
    }).change;

  it("is recorded with who waived it and why", () => {
    expect(waived().waivers).toEqual([
      {
        consumerId: IVR,
        consumerName: "speech-ivr",
        by: { platform: "slack", id: people.bob.id, displayName: "Bob Okafor" },
        reason: "IVR is being decommissioned",
        at: at(10),
      },
    ]);
  });

  it("is named in the final notice as left on the dead key, not as moved", () => {
    const c = { ...waived(), state: "running" as const, pause: null, currentStep: 6 };
    const done = finish(c, ev(6, { outcome: undefined }));
    expect(done.change.state).toBe("completed");
    expect(noticeOf(done.effects)!.text).toBe(
      "CHG-1 completed: contoso-translator rotated; consumers use key2 except waived speech-ivr (by Bob Okafor: IVR is being decommissioned), which still holds the dead key1.",
    );
    const card = JSON.stringify(renderChangeCard(done.change));
    expect(card).toMatch(
      /speech-ivr — waived by Bob Okafor, [^"]*: IVR is being decommissioned — still holds the dead key1/,
    );
  });
});

// ---------------------------------------------------------------- the soak's attribution

const account: Account = {
  id: standardPlan.accountId,
  subscriptionId: "s",
  resourceGroup: "rg",
  name: "contoso-translator",
  kind: "TextTranslation",
  location: "westeurope",
  endpoint: "https://contoso-translator.cognitiveservices.azure.com",
  disableLocalAuth: false,
  provisioningState: "Succeeded",
  tags: {},
};

const silent: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => silent,
};

/** The soak's check against telemetry that answers as given: 401 callers since the cut, and before the change. */
async function soakCheck(
  c: Change,
  since: CallerErrors[] | null,
  before: CallerErrors[] = [],
  errors?: number,
) {
  const killedAt = Date.parse(c.steps.find((s) => s.index === 5)!.finishedAt!);
  const total = errors ?? (since ?? []).reduce((n, x) => n + x.count, 0);
  const ctx = {
    change: c,
    index: 6,
    account,
    clock: { now: () => new Date(killedAt + 5 * 60_000) },
    logger: silent,
    azure: {
      telemetry: {
        metrics: async (_id: string, q: { names: readonly string[] }) =>
          q.names.map((name) => ({
            name,
            points: [{ at: T0, total: name === "ClientErrors" ? total : 500 }],
          })),
        activityLog: async () => [],
        // null: no Log Analytics workspace configured
        ...(since
          ? {
              unauthorizedCallers: async (_id: string, q: { from: Date; to: Date }) =>
                q.to.getTime() <= killedAt ? before : since,
            }
          : {}),
      },
    },
  } as unknown as StepContext;
  return soak.check!(ctx, ev(6, { outcome: undefined }));
}

describe("the soak attributes 401s", () => {
  const withWaiver = () =>
    soaking({
      waivedConsumerIds: [IVR],
      waivers: [
        { consumerId: IVR, consumerName: "speech-ivr", by: people.bob, reason: "IVR retired", at: at(10) },
      ],
    });

  it("to the waived consumer whose outbound address they come from: expected, no finding", async () => {
    const r = await soakCheck(withWaiver(), [{ callerIp: "10.1.0.4", operation: "SpeechToText", count: 21 }]);
    expect(r.findings ?? []).toEqual([]);
    expect(r.validation?.passed).toBe(true);
    expect(r.validation?.result).toContain(
      "10.1.0.4 (SpeechToText) × 21 from waived speech-ivr (by Bob Okafor: IVR retired), which still holds the dead key1: expected",
    );
    expect(r.validation?.result).not.toMatch(/attacker|unknown consumer/);
    expect(r.after?.["401 from waived speech-ivr (by Bob Okafor: IVR retired)"]).toBe(
      "10.1.0.4 (SpeechToText) × 21",
    );
    expect(r.alert).toBeUndefined();
  });

  it("to nobody when another address fails too: a finding naming it, with what to do", async () => {
    const r = await soakCheck(withWaiver(), [
      { callerIp: "10.1.0.4", operation: "SpeechToText", count: 21 },
      { callerIp: "203.0.113.9", operation: "SpeechToText", count: 4 },
    ]);
    expect(r.validation?.passed).toBe(false);
    expect(r.findings).toHaveLength(1);
    expect(r.findings![0]).toMatchObject({ stepIndex: 6, kind: "soak" });
    expect(r.findings![0]!.what).toContain("203.0.113.9 (SpeechToText) × 4");
    expect(r.findings![0]!.what).not.toContain("10.1.0.4");
    expect(r.findings![0]!.next).toMatch(/Find who calls from 203\.0\.113\.9/);
    expect(r.alert).toMatch(/An unknown consumer, or an attacker/);
  });

  it("a waived consumer whose address keyturn does not know cannot explain anything, and the finding says why", async () => {
    const c = withWaiver();
    const blind = {
      ...c,
      inventory: { ...c.inventory, consumers: [{ ...ivr, callerIps: undefined }] },
    } as Change;
    const r = await soakCheck(blind, [{ callerIp: "10.1.0.4", operation: "SpeechToText", count: 21 }]);
    expect(r.validation?.passed).toBe(false);
    expect(r.findings![0]!.what).toMatch(/waived speech-ivr, whose addresses keyturn does not know/);
  });

  it("callers already failing before the change began are not this rotation's doing", async () => {
    const r = await soakCheck(
      soaking(),
      [{ callerIp: "203.0.113.7", operation: "ChatCompletions", count: 9 }],
      [{ callerIp: "203.0.113.7", operation: "ChatCompletions", count: 30 }],
    );
    expect(r.findings ?? []).toEqual([]);
    expect(r.validation?.result).toMatch(
      /203\.0\.113\.7 \(ChatCompletions\) × 9 already failing before this change began/,
    );
  });

  it("without logs naming callers, client errors beyond the baseline are a finding", async () => {
    const r = await soakCheck(soaking(), null, [], 40);
    expect(r.validation?.passed).toBe(false);
    expect(r.findings![0]!.what).toMatch(/40 client errors since the old key died .*callers are not named/);
  });

  it("where the logs name every caller, errors from the metric bucket before the cut are a note, not a finding", async () => {
    const r = await soakCheck(
      soaking(),
      [{ callerIp: "203.0.113.7", operation: "ChatCompletions", count: 9 }],
      [{ callerIp: "203.0.113.7", operation: "ChatCompletions", count: 30 }],
      72,
    );
    expect(r.findings ?? []).toEqual([]);
    expect(r.validation?.result).toMatch(/one-minute buckets \(72\) exceed .*\(9\)/);
  });
});

// ---------------------------------------------------------------- due dates

describe("the last rotation and the due date", () => {
  const full = (id: string, state: Change["state"], completedAt: string | null) =>
    change({ id, state, completedAt, createdAt: completedAt ?? at(0) });

  it("move only with a rotation that really completed (with or without findings)", () => {
    const done = full("CHG-1", "completed", "2026-08-01T10:00:00.000Z");
    const later = [
      full("CHG-2", "cancelled", null),
      full("CHG-3", "rolled_back", "2026-11-01T10:00:00.000Z"),
      full("CHG-4", "expired", null),
      full("CHG-5", "rejected", null),
      full("CHG-6", "paused", null),
    ];
    expect(later.some(countsAsRotation)).toBe(false);
    expect(lastRotationOf([...later, done])).toEqual({
      at: "2026-08-01T10:00:00.000Z",
      by: "Alice Ng",
      source: "keyturn",
      changeId: "CHG-1",
    });
    expect(lastRotationOf(later)).toBeNull();
    const withFindings = full("CHG-7", "completed_with_findings", "2026-11-20T10:00:00.000Z");
    expect(lastRotationOf([withFindings, done])?.changeId).toBe("CHG-7");
    expect(nextDueOf(lastRotationOf([done]), 90)).toBe("2026-10-30T10:00:00.000Z");
    expect(nextDueOf(null, 90)).toBeNull();
  });

  it("do not move with an exposure change that regenerated one key only", () => {
    const standbyOnly = change({
      id: "CHG-8",
      state: "completed",
      completedAt: at(10),
      plan: {
        ...standardPlan,
        variant: "exposure-standby",
        steps: [standardPlan.steps[0]!, standardPlan.steps[1]!, { ...standardPlan.steps[7]!, index: 2 }],
      },
    });
    expect(countsAsRotation(standbyOnly)).toBe(false);
  });

  it("history reports no rotation when the account's only change was cancelled", () => {
    const msg = renderHistory(account, [full("CHG-2", "cancelled", null)]);
    expect(msg.text).toBe("contoso-translator: 1 change(s), no completed rotation on record");
  });
});
