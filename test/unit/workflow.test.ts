import { describe, expect, it } from "vitest";
import type { Change, ChangeState } from "../../src/core/domain.js";
import { isKeyturnError } from "../../src/core/errors.js";
import type { Effect, WorkflowEvent } from "../../src/core/workflow.js";
import { acceptedEvents, BEFORE_FIRST_STEP, transition } from "../../src/core/workflow.js";
import { change, people, standardPlan } from "../support/change-fixture.js";

const T0 = "2026-11-22T09:00:00.000Z";
const at = (minutes: number) => new Date(Date.parse(T0) + minutes * 60_000).toISOString();
const hash = standardPlan.hash;

function run(c: Change, ...events: WorkflowEvent[]): { change: Change; effects: Effect[] } {
  let cur = c;
  let effects: Effect[] = [];
  for (const e of events) {
    const r = transition(cur, e);
    if (!r.ok) throw r.error;
    cur = r.change;
    effects = [...r.effects];
  }
  return { change: cur, effects };
}

const awaiting = () => run(change(), { type: "submitted", at: T0 }).change;
const approved = () =>
  run(
    awaiting(),
    { type: "approved", at: at(1), by: people.bob, planHash: hash },
    { type: "approved", at: at(2), by: people.carol, planHash: hash },
  ).change;
const running = () =>
  run(approved(), {
    type: "plan_revalidated",
    at: at(3),
    plan: standardPlan,
    inventory: approved().inventory,
  }).change;
const evidence = (index: number) => ({
  index,
  kind: standardPlan.steps[index]!.kind,
  startedAt: at(4),
  rollback: "r",
  actor: "keyturn",
});
const paused = (index = 1) =>
  run(
    { ...running(), currentStep: index },
    { type: "step_started", at: at(4), index },
    {
      type: "step_failed",
      at: at(5),
      index,
      evidence: evidence(index),
      code: "azure_throttled",
      message: "Azure is throttling keyturn; resume later.",
    },
  ).change;

describe("submitting a change", () => {
  it("waits for approval until the policy's expiry and asks the approvers", () => {
    const { change: c, effects } = run(change(), { type: "submitted", at: T0 });
    expect(c.state).toBe("awaiting_approval");
    expect(c.approvalDeadline).toBe(at(240));
    expect(effects).toContainEqual({ type: "notify_approvers", afterTheFact: false });
    expect(effects).toContainEqual({ type: "set_timer", kind: "approval_expiry", at: at(240) });
  });

  it("break-glass starts at once, loudly, and sets the after-the-fact approval deadline", () => {
    const { change: c, effects } = run(
      change({
        breakGlass: true,
        exposure: true,
        leakedSlot: "key1",
        requester: { platform: "slack", id: people.dave.id, displayName: "Dave Kim" },
      }),
      { type: "submitted", at: T0 },
    );
    expect(c.state).toBe("running");
    expect(effects).toContainEqual({ type: "run_step", index: 0, phase: "act" });
    expect(effects).toContainEqual({ type: "set_timer", kind: "break_glass_deadline", at: at(60) });
    expect(
      effects.some((e) => e.type === "notice" && e.tone === "danger" && e.text.includes("BREAK-GLASS")),
    ).toBe(true);
  });
});

describe("approvals", () => {
  const refusals: [string, () => Change, WorkflowEvent, string][] = [
    [
      "a non-approver",
      awaiting,
      { type: "approved", at: at(1), by: people.erin, planHash: hash },
      "not_authorised",
    ],
    [
      "the requester",
      awaiting,
      { type: "approved", at: at(1), by: people.alice, planHash: hash },
      "self_approval",
    ],
    [
      "a stale plan hash",
      awaiting,
      { type: "approved", at: at(1), by: people.bob, planHash: "b".repeat(64) },
      "plan_changed",
    ],
    [
      "after the window",
      awaiting,
      { type: "approved", at: at(241), by: people.bob, planHash: hash },
      "approval_expired",
    ],
    [
      "the same approver twice",
      () => run(awaiting(), { type: "approved", at: at(1), by: people.bob, planHash: hash }).change,
      { type: "approved", at: at(2), by: people.bob, planHash: hash },
      "already_approved",
    ],
    [
      "a running standard change",
      running,
      { type: "approved", at: at(9), by: people.bob, planHash: hash },
      "invalid_state",
    ],
  ];
  it.each(refusals)("refuses %s", (_what, make, event, code) => {
    const before = make();
    const r = transition(before, event);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.code).toBe(code);
  });

  it("needs N of M: one approval keeps waiting, the second approves and re-checks the plan", () => {
    const one = run(awaiting(), { type: "approved", at: at(1), by: people.bob, planHash: hash });
    expect(one.change.state).toBe("awaiting_approval");
    expect(one.change.approvals).toHaveLength(1);
    const two = run(one.change, { type: "approved", at: at(2), by: people.carol, planHash: hash });
    expect(two.change.state).toBe("approved");
    expect(two.effects).toContainEqual({ type: "revalidate_plan" });
    expect(two.effects).toContainEqual({ type: "clear_timer", kind: "approval_expiry" });
  });

  it("a changed plan resets approvals and asks again", () => {
    const newPlan = {
      ...standardPlan,
      hash: "c".repeat(64),
      consumerIds: [...standardPlan.consumerIds, "site:translator-web/TRANSLATOR_KEY"],
    };
    const r = run(approved(), {
      type: "plan_revalidated",
      at: at(3),
      plan: newPlan,
      inventory: approved().inventory,
    });
    expect(r.change.state).toBe("awaiting_approval");
    expect(r.change.plan.hash).toBe(newPlan.hash);
    expect(r.effects.some((e) => e.type === "notice" && e.text.includes("Approvals of CHG-1 reset"))).toBe(
      true,
    );
    // the old approvals no longer count: two fresh ones are needed
    const again = run(r.change, { type: "approved", at: at(4), by: people.bob, planHash: newPlan.hash });
    expect(again.change.state).toBe("awaiting_approval");
  });

  it("the same plan starts the rotation at step 1", () => {
    const r = run(approved(), {
      type: "plan_revalidated",
      at: at(3),
      plan: standardPlan,
      inventory: approved().inventory,
    });
    expect(r.change.state).toBe("running");
    expect(r.effects).toContainEqual({ type: "run_step", index: 0, phase: "act" });
  });

  it("rejection needs an approver and closes the change", () => {
    const no = transition(awaiting(), { type: "rejected", at: at(1), by: people.erin, reason: "no" });
    expect(no.ok).toBe(false);
    expect(
      run(awaiting(), { type: "rejected", at: at(1), by: people.bob, reason: "wrong account" }).change.state,
    ).toBe("rejected");
  });

  it("expires only once the deadline has passed", () => {
    expect(run(awaiting(), { type: "expired", at: at(100) }).change.state).toBe("awaiting_approval");
    expect(run(awaiting(), { type: "expired", at: at(240) }).change.state).toBe("expired");
  });
});

describe("running steps", () => {
  it("a step with a window waits for it, then checks", () => {
    const c = { ...running(), currentStep: 3 };
    const acted = run(
      c,
      { type: "step_started", at: at(4), index: 3 },
      { type: "step_acted", at: at(5), index: 3, evidence: evidence(3) },
    );
    expect(acted.effects).toContainEqual({ type: "set_timer", kind: "step_wait", at: at(10), index: 3 });
    const elapsed = run(acted.change, { type: "wait_elapsed", at: at(10), index: 3 });
    expect(elapsed.effects).toEqual([{ type: "run_step", index: 3, phase: "check" }]);
  });

  it("a stale timer for another step does nothing", () => {
    const r = run({ ...running(), currentStep: 4 }, { type: "wait_elapsed", at: at(10), index: 3 });
    expect(r.effects).toEqual([]);
  });

  it("success moves to the next step; the last one completes the change", () => {
    const next = run(
      running(),
      { type: "step_started", at: at(4), index: 0 },
      { type: "step_succeeded", at: at(5), index: 0, evidence: evidence(0) },
    );
    expect(next.change.currentStep).toBe(1);
    expect(next.effects).toContainEqual({ type: "run_step", index: 1, phase: "act" });
    expect(next.effects).toContainEqual({ type: "step_reply", index: 0 });
    const last = run(
      { ...running(), currentStep: 7 },
      { type: "step_started", at: at(4), index: 7 },
      { type: "step_succeeded", at: at(5), index: 7, evidence: evidence(7) },
    );
    expect(last.change.state).toBe("completed");
    expect(last.change.completedAt).toBe(at(5));
  });

  it("a step out of order is refused", () => {
    const r = transition(running(), { type: "step_started", at: at(4), index: 3 });
    expect(r.ok).toBe(false);
  });

  it("a failure pauses with the reason and what to do", () => {
    const c = paused();
    expect(c.state).toBe("paused");
    expect(c.pause).toEqual({
      code: "azure_throttled",
      message: "Azure is throttling keyturn; resume later.",
      stepIndex: 1,
    });
    expect(c.steps.find((s) => s.index === 1)?.outcome).toBe("failed");
  });
});

describe("paused changes", () => {
  it("resume needs the requester or an approver and re-runs the failed step", () => {
    expect(transition(paused(), { type: "resumed", at: at(6), by: people.erin }).ok).toBe(false);
    const r = run(paused(), { type: "resumed", at: at(6), by: people.bob });
    expect(r.change.state).toBe("running");
    expect(r.effects).toContainEqual({ type: "run_step", index: 1, phase: "act" });
  });

  it("rollback is offered before the point of no return only", () => {
    expect(
      run(paused(4), { type: "rollback_requested", at: at(6), by: people.alice }).effects,
    ).toContainEqual({ type: "rollback" });
    const past = {
      ...paused(6),
      steps: [...paused(6).steps, { ...evidence(5), outcome: "succeeded" as const }],
    };
    const r = transition(past, { type: "rollback_requested", at: at(6), by: people.alice });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.userMessage).toContain("point of no return");
  });

  it("rolled back closes the change", () => {
    expect(run(paused(4), { type: "rolled_back", at: at(7), evidence: evidence(2) }).change.state).toBe(
      "rolled_back",
    );
  });

  it("only an approver other than the requester waives a pinned consumer", () => {
    const pinned = {
      ...paused(4),
      plan: { ...standardPlan, pinnedConsumerIds: ["site:speech-ivr/SPEECH_KEY"] },
    };
    const waiver: WorkflowEvent = {
      type: "consumer_waived",
      at: at(6),
      by: people.alice,
      consumerId: "site:speech-ivr/SPEECH_KEY",
      reason: "decommissioned",
    };
    expect(transition(pinned, waiver).ok).toBe(false);
    const r = run(pinned, { ...waiver, by: people.bob });
    expect(r.change.waivedConsumerIds).toEqual(["site:speech-ivr/SPEECH_KEY"]);
  });
});

describe("break-glass after the fact", () => {
  const bg = () =>
    run(
      change({
        breakGlass: true,
        exposure: true,
        leakedSlot: "key1",
        requester: { platform: "slack", id: people.dave.id, displayName: "Dave Kim" },
      }),
      { type: "submitted", at: T0 },
    ).change;

  it("escalates when the deadline passes without approval", () => {
    const r = run(bg(), { type: "break_glass_deadline", at: at(61) });
    expect(r.change.escalated).toBe(true);
    expect(r.effects).toContainEqual({ type: "notify_approvers", afterTheFact: true });
  });

  it("approvals after the fact are recorded as such and stop the escalation", () => {
    const r = run(
      bg(),
      { type: "approved", at: at(10), by: people.bob, planHash: hash },
      { type: "approved", at: at(11), by: people.carol, planHash: hash },
    );
    expect(r.change.approvals.every((a) => a.afterTheFact)).toBe(true);
    expect(r.change.state).toBe("running");
    expect(run(r.change, { type: "break_glass_deadline", at: at(61) }).change.escalated).toBeUndefined();
  });
});

describe("a plan that cannot be re-checked before the first step", () => {
  const failed: WorkflowEvent = {
    type: "revalidation_failed",
    at: at(2),
    code: "azure_permission",
    message: "keyturn's identity lacks listKeys: grant it, then resume.",
  };

  it("pauses the approved change with the reason, before any step", () => {
    const r = transition(change({ state: "approved" }), failed);
    if (!r.ok) throw r.error;
    expect(r.change.state).toBe("paused");
    expect(r.change.pause).toEqual({
      code: "azure_permission",
      message: "keyturn's identity lacks listKeys: grant it, then resume.",
      stepIndex: BEFORE_FIRST_STEP,
    });
    expect(r.effects.some((e) => e.type === "run_step")).toBe(false);
    expect(r.effects).toContainEqual(expect.objectContaining({ type: "notice", tone: "danger" }));
  });

  it("resume re-checks the plan instead of running a step; rollback has nothing to undo", () => {
    const paused = transition(change({ state: "approved" }), failed);
    if (!paused.ok) throw paused.error;
    const resumed = transition(paused.change, { type: "resumed", at: at(3), by: people.bob });
    if (!resumed.ok) throw resumed.error;
    expect(resumed.change.state).toBe("approved");
    expect(resumed.change.pause).toBeNull();
    expect(resumed.effects).toContainEqual({ type: "revalidate_plan" });
    expect(resumed.effects.some((e) => e.type === "run_step")).toBe(false);

    const rollback = transition(paused.change, { type: "rollback_requested", at: at(3), by: people.bob });
    expect(!rollback.ok && rollback.error.userMessage).toMatch(/nothing to roll back.*cancel/);
    const cancelled = transition(paused.change, { type: "cancelled", at: at(3), by: people.alice });
    expect(cancelled.ok && cancelled.change.state).toBe("cancelled");
  });

  it("is refused once the change runs", () => {
    const r = transition(change({ state: "running" }), failed);
    expect(r.ok).toBe(false);
  });
});

describe("every (state, event) pair is handled or refused with a typed error", () => {
  const states: ChangeState[] = [
    "requested",
    "awaiting_approval",
    "approved",
    "running",
    "paused",
    "completed",
    "completed_with_findings",
    "rejected",
    "expired",
    "cancelled",
    "rolled_back",
  ];
  const events: WorkflowEvent[] = [
    { type: "submitted", at: at(1) },
    { type: "approved", at: at(1), by: people.bob, planHash: hash },
    { type: "rejected", at: at(1), by: people.bob, reason: "r" },
    { type: "cancelled", at: at(1), by: people.alice },
    { type: "expired", at: at(300) },
    { type: "plan_revalidated", at: at(1), plan: standardPlan, inventory: change().inventory },
    { type: "step_started", at: at(1), index: 0 },
    { type: "step_acted", at: at(1), index: 0, evidence: evidence(0) },
    { type: "wait_elapsed", at: at(1), index: 0 },
    { type: "step_succeeded", at: at(1), index: 0, evidence: evidence(0) },
    { type: "step_failed", at: at(1), index: 0, evidence: evidence(0), code: "internal", message: "m" },
    { type: "revalidation_failed", at: at(1), code: "azure_permission", message: "grant it" },
    { type: "resumed", at: at(1), by: people.bob },
    { type: "rollback_requested", at: at(1), by: people.bob },
    { type: "rolled_back", at: at(1), evidence: evidence(0) },
    {
      type: "consumer_waived",
      at: at(1),
      by: people.bob,
      consumerId: "kv:contoso-kv/translator-key",
      reason: "r",
    },
    { type: "break_glass_deadline", at: at(1) },
  ];
  const cases = states.flatMap((s) => events.map((e) => [s, e.type, e] as const));
  it.each(cases)("%s + %s", (state, _type, event) => {
    const c = change({ state, approvalDeadline: at(240) });
    const r = transition(c, event);
    if (r.ok) {
      expect(acceptedEvents(state)).toContain(event.type);
    } else {
      expect(isKeyturnError(r.error)).toBe(true);
      expect(r.error.userMessage).toMatch(/CHG-1|approver|requested|plan/);
    }
  });

  it("closed changes accept nothing that changes them", () => {
    for (const state of ["rejected", "expired", "cancelled", "rolled_back"] as const) {
      expect(acceptedEvents(state)).toEqual([]);
    }
    const r = transition(change({ state: "expired" }), {
      type: "approved",
      at: at(1),
      by: people.bob,
      planHash: hash,
    });
    expect(!r.ok && r.error.code).toBe("approval_expired");
  });
});
