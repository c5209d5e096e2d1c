/**
 * The guards of the change state machine, one by one: who may act (authorisation), who may not
 * (separation of duties), when enough approvals are enough, and that steps run in order only.
 * Each test pins a decision the workflow makes, so that weakening the rule breaks a test.
 */
import { describe, expect, it } from "vitest";
import type { Change, Principal } from "../../src/core/domain.js";
import type { Effect, TransitionResult, WorkflowEvent } from "../../src/core/workflow.js";
import { BEFORE_FIRST_STEP, pastPointOfNoReturn, transition } from "../../src/core/workflow.js";
import { change, inventory, people, policy, standardPlan } from "../support/change-fixture.js";

const T0 = "2026-11-22T09:00:00.000Z";
const at = (minutes: number) => new Date(Date.parse(T0) + minutes * 60_000).toISOString();
const hash = standardPlan.hash;
const DEADLINE = at(240);

function ok(r: TransitionResult): { change: Change; effects: readonly Effect[] } {
  if (!r.ok) throw r.error;
  return r;
}
function refused(r: TransitionResult): { code: string; message: string } {
  expect(r.ok).toBe(false);
  if (r.ok) throw new Error("expected a refusal");
  return { code: r.error.code, message: r.error.userMessage };
}
const ref = (p: Principal) => ({ platform: p.platform, id: p.id, displayName: p.displayName });
const approval = (p: Principal, planHash = hash, afterTheFact = false) => ({
  by: ref(p),
  at: at(1),
  planHash,
  afterTheFact,
});
const evidence = (index: number) => ({
  index,
  kind: standardPlan.steps[index]!.kind,
  startedAt: at(4),
  rollback: "r",
  actor: "keyturn",
});

const awaiting = (over: Partial<Change> = {}) =>
  change({ state: "awaiting_approval", approvalDeadline: DEADLINE, ...over });
const paused = (over: Partial<Change> = {}) =>
  change({
    state: "paused",
    approvalDeadline: DEADLINE,
    approvals: [approval(people.bob), approval(people.carol)],
    currentStep: 2,
    pause: { code: "azure_throttled", message: "resume later", stepIndex: 2 },
    steps: [0, 1].map((i) => ({ ...evidence(i), outcome: "succeeded" as const })),
    ...over,
  });
const breakGlass = (state: Change["state"], over: Partial<Change> = {}) =>
  change({
    state,
    breakGlass: true,
    exposure: true,
    leakedSlot: "key1",
    approvalDeadline: at(60),
    requester: ref(people.dave),
    ...over,
  });
const stranger: Principal = {
  platform: "teams",
  id: "teams:99999999-9999-4999-8999-999999999999",
  displayName: "Mallory",
  identities: ["aad:99999999-9999-4999-8999-999999999999", "mallory@contoso.com"],
};

describe("submitting", () => {
  it("a standard change waits for approval with exactly these effects", () => {
    const r = ok(transition(change(), { type: "submitted", at: T0 }));
    expect(r.change).toMatchObject({ state: "awaiting_approval", approvalDeadline: DEADLINE });
    expect(r.effects).toEqual([
      { type: "render" },
      { type: "notify_approvers", afterTheFact: false },
      { type: "set_timer", kind: "approval_expiry", at: DEADLINE },
    ]);
  });

  it("a break-glass change runs step 1 at once with exactly these effects", () => {
    const r = ok(
      transition(breakGlass("requested", { approvalDeadline: null, currentStep: 3 }), {
        type: "submitted",
        at: T0,
      }),
    );
    expect(r.change).toMatchObject({ state: "running", currentStep: 0, approvalDeadline: at(60) });
    expect(r.effects).toEqual([
      { type: "render" },
      {
        type: "notice",
        text: `BREAK-GLASS: Dave Kim started CHG-1 without prior approval. An approval is needed after the fact by ${at(60)}.`,
        tone: "danger",
      },
      { type: "notify_approvers", afterTheFact: true },
      { type: "set_timer", kind: "break_glass_deadline", at: at(60) },
      { type: "run_step", index: 0, phase: "act" },
    ]);
  });
});

describe("approving: the window", () => {
  it("closes exactly at the deadline", () => {
    const r = refused(
      transition(awaiting(), { type: "approved", at: DEADLINE, by: people.bob, planHash: hash }),
    );
    expect(r).toEqual({
      code: "approval_expired",
      message: `CHG-1's approval window closed at ${DEADLINE}. Request the rotation again.`,
    });
    expect(transition(awaiting(), { type: "approved", at: at(239), by: people.bob, planHash: hash }).ok).toBe(
      true,
    );
  });

  it("a change without a deadline has no window to miss", () => {
    expect(
      transition(awaiting({ approvalDeadline: null }), {
        type: "approved",
        at: at(10_000),
        by: people.bob,
        planHash: hash,
      }).ok,
    ).toBe(true);
  });

  it("a break-glass change can still be approved after its deadline (the escalation is not a refusal)", () => {
    const r = ok(
      transition(breakGlass("running"), { type: "approved", at: at(90), by: people.bob, planHash: hash }),
    );
    expect(r.change.approvals).toHaveLength(1);
  });

  it("only an awaiting change (or a break-glass one) takes approvals", () => {
    for (const state of ["approved", "paused", "running", "completed"] as const) {
      const r = refused(
        transition(change({ state, approvalDeadline: DEADLINE }), {
          type: "approved",
          at: at(1),
          by: people.bob,
          planHash: hash,
        }),
      );
      expect(r.code).toBe("invalid_state");
      expect(r.message).toMatch(/^CHG-1 is .*: it cannot be approved\./);
    }
  });
});

describe("approving: who", () => {
  it("refuses the requester with a message that says why, even when the requester is an approver", () => {
    const r = refused(
      transition(awaiting({ requester: ref(people.bob) }), {
        type: "approved",
        at: at(1),
        by: people.bob,
        planHash: hash,
      }),
    );
    expect(r).toEqual({
      code: "self_approval",
      message:
        "You requested CHG-1; someone else among its approvers must approve it (on any platform, you count as one person).",
    });
  });

  it("refuses a non-approver and names the approvers", () => {
    const r = refused(transition(awaiting(), { type: "approved", at: at(1), by: stranger, planHash: hash }));
    expect(r.code).toBe("not_authorised");
    expect(r.message).toMatch(/CHG-1\b.*the approve role \(policy "production"\)/);
    expect(r.message).toContain("Approvers: group:secops, group:platform.");
    const named = refused(
      transition(awaiting({ policy: { ...policy, approverNames: "Bob Okafor or Carol Diaz" } }), {
        type: "approved",
        at: at(1),
        by: stranger,
        planHash: hash,
      }),
    );
    expect(named.message).toContain("Approvers: Bob Okafor or Carol Diaz.");
  });

  it("refuses a stale button with what to do", () => {
    const r = refused(
      transition(awaiting(), { type: "approved", at: at(1), by: people.bob, planHash: "b".repeat(64) }),
    );
    expect(r).toEqual({
      code: "plan_changed",
      message:
        "The plan of CHG-1 changed since that approval button was shown. Review the updated card and approve again.",
    });
  });

  it("a second approval by the same person is refused, but an approval of an earlier plan does not block a new one", () => {
    const again = refused(
      transition(awaiting({ approvals: [approval(people.bob)] }), {
        type: "approved",
        at: at(2),
        by: people.bob,
        planHash: hash,
      }),
    );
    expect(again).toEqual({
      code: "already_approved",
      message: "You already approved CHG-1; it needs 2 approval(s).",
    });
    // another approver's earlier approval does not make this one a repeat
    expect(
      transition(awaiting({ approvals: [approval(people.carol)] }), {
        type: "approved",
        at: at(2),
        by: people.bob,
        planHash: hash,
      }).ok,
    ).toBe(true);
    // bob approved the previous plan: he may approve the current one
    const r = ok(
      transition(awaiting({ approvals: [approval(people.bob, "c".repeat(64))] }), {
        type: "approved",
        at: at(2),
        by: people.bob,
        planHash: hash,
      }),
    );
    expect(r.change.approvals).toHaveLength(2);
    expect(r.change.state).toBe("awaiting_approval");
  });
});

describe("approving: counting", () => {
  it("the approval that makes N of N approves, clears the expiry and re-checks the plan; fewer only renders", () => {
    const first = ok(transition(awaiting(), { type: "approved", at: at(1), by: people.bob, planHash: hash }));
    expect(first.change.state).toBe("awaiting_approval");
    expect(first.effects).toEqual([{ type: "render" }]);
    expect(first.change.approvals).toEqual([
      { by: ref(people.bob), at: at(1), planHash: hash, afterTheFact: false },
    ]);
    const second = ok(
      transition(first.change, { type: "approved", at: at(2), by: people.carol, planHash: hash }),
    );
    expect(second.change.state).toBe("approved");
    expect(second.effects).toEqual([
      { type: "clear_timer", kind: "approval_expiry" },
      { type: "render" },
      { type: "revalidate_plan" },
    ]);
  });

  it("an approval of an earlier plan does not count toward the current one", () => {
    const r = ok(
      transition(awaiting({ approvals: [approval(people.carol, "c".repeat(64))] }), {
        type: "approved",
        at: at(2),
        by: people.bob,
        planHash: hash,
      }),
    );
    expect(r.change.state).toBe("awaiting_approval");
  });

  it("a recorded approval by the requester never counts", () => {
    const r = ok(
      transition(awaiting({ approvals: [approval(people.alice)] }), {
        type: "approved",
        at: at(2),
        by: people.bob,
        planHash: hash,
      }),
    );
    expect(r.change.state).toBe("awaiting_approval");
  });

  it("break-glass: approvals are after the fact; only the last needed one clears the escalation timer", () => {
    const one = ok(
      transition(breakGlass("running"), { type: "approved", at: at(10), by: people.bob, planHash: hash }),
    );
    expect(one.effects).toEqual([{ type: "render" }]);
    expect(one.change.state).toBe("running");
    expect(one.change.approvals[0]!.afterTheFact).toBe(true);
    const two = ok(
      transition(one.change, { type: "approved", at: at(11), by: people.carol, planHash: hash }),
    );
    expect(two.change.state).toBe("running");
    expect(two.effects).toEqual([
      { type: "clear_timer", kind: "break_glass_deadline" },
      { type: "render" },
      {
        type: "notice",
        text: "Break-glass change CHG-1 approved after the fact by Carol Diaz.",
        tone: "success",
      },
    ]);
  });

  it("break-glass approvals given while paused or completed are after the fact too; those while awaiting are not", () => {
    for (const state of ["paused", "completed"] as const) {
      const r = ok(
        transition(breakGlass(state), { type: "approved", at: at(10), by: people.bob, planHash: hash }),
      );
      expect(r.change.approvals[0]!.afterTheFact).toBe(true);
      expect(r.change.state).toBe(state);
    }
    const r = ok(
      transition(breakGlass("awaiting_approval", { approvalDeadline: DEADLINE }), {
        type: "approved",
        at: at(10),
        by: people.bob,
        planHash: hash,
      }),
    );
    expect(r.change.approvals[0]!.afterTheFact).toBe(false);
  });

  it("the break-glass deadline escalates unless enough people approved", () => {
    const none = ok(transition(breakGlass("running"), { type: "break_glass_deadline", at: at(61) }));
    expect(none.change.escalated).toBe(true);
    expect(none.effects).toEqual([
      { type: "render" },
      {
        type: "notice",
        text: `ESCALATION: break-glass change CHG-1 has no approval after the fact (deadline ${at(60)}). Approvers, review it now.`,
        tone: "danger",
      },
      { type: "notify_approvers", afterTheFact: true },
    ]);
    // one of two is not enough
    const one = ok(
      transition(breakGlass("paused", { approvals: [approval(people.bob, hash, true)] }), {
        type: "break_glass_deadline",
        at: at(61),
      }),
    );
    expect(one.change.escalated).toBe(true);
    // two approvals by one person are one
    const twice = ok(
      transition(
        breakGlass("completed", {
          approvals: [approval(people.bob, hash, true), approval(people.bob, hash, true)],
        }),
        { type: "break_glass_deadline", at: at(61) },
      ),
    );
    expect(twice.change.escalated).toBe(true);
    // the requester's own approval does not count
    const own = ok(
      transition(
        breakGlass("running", {
          approvals: [approval(people.dave, hash, true), approval(people.bob, hash, true)],
        }),
        { type: "break_glass_deadline", at: at(61) },
      ),
    );
    expect(own.change.escalated).toBe(true);
    const enough = ok(
      transition(
        breakGlass("completed", {
          approvals: [approval(people.bob, hash, true), approval(people.carol, hash, true)],
        }),
        { type: "break_glass_deadline", at: at(61) },
      ),
    );
    expect(enough.effects).toEqual([]);
    expect(enough.change.escalated).toBeUndefined();
    // without a recorded deadline the escalation names the time it fired
    const undated = ok(
      transition(breakGlass("running", { approvalDeadline: null }), {
        type: "break_glass_deadline",
        at: at(61),
      }),
    );
    expect(undated.effects).toContainEqual(
      expect.objectContaining({ type: "notice", text: expect.stringContaining(`(deadline ${at(61)})`) }),
    );
  });
});

describe("rejecting", () => {
  it("the requester may withdraw their own request; an approver may reject; nobody else", () => {
    const byRequester = ok(
      transition(awaiting(), { type: "rejected", at: at(1), by: people.alice, reason: "wrong account" }),
    );
    expect(byRequester.change.state).toBe("rejected");
    expect(byRequester.effects).toEqual([
      { type: "clear_timer", kind: "approval_expiry" },
      { type: "render" },
      { type: "notice", text: "CHG-1 rejected by Alice Ng: wrong account", tone: "warning" },
    ]);
    expect(
      ok(transition(awaiting(), { type: "rejected", at: at(1), by: people.carol, reason: "no" })).change
        .state,
    ).toBe("rejected");
    const r = refused(transition(awaiting(), { type: "rejected", at: at(1), by: stranger, reason: "no" }));
    expect(r).toEqual({
      code: "not_authorised",
      message:
        "Rejecting CHG-1 needs the approve role (or being its requester), which you do not hold. Approvers: group:secops, group:platform.",
    });
  });
});

describe("expiry", () => {
  it("does nothing before the deadline or without one; at the deadline it closes the change and says so", () => {
    expect(ok(transition(awaiting(), { type: "expired", at: at(239) })).effects).toEqual([]);
    const none = ok(transition(awaiting({ approvalDeadline: null }), { type: "expired", at: at(10_000) }));
    expect(none.change.state).toBe("awaiting_approval");
    expect(none.effects).toEqual([]);
    const r = ok(transition(awaiting(), { type: "expired", at: DEADLINE }));
    expect(r.change.state).toBe("expired");
    expect(r.effects).toEqual([
      { type: "render" },
      {
        type: "notice",
        text: `CHG-1 expired: it did not get 2 approval(s) by ${DEADLINE}. Request the rotation again if it is still needed.`,
        tone: "warning",
      },
    ]);
  });
});

describe("operating: a stranger can neither resume, cancel nor roll back, in any state", () => {
  const operated = (state: Change["state"]) =>
    state === "paused" ? paused() : change({ state, approvalDeadline: DEADLINE });
  const cases: [Change["state"], WorkflowEvent["type"], string][] = [
    ["requested", "cancelled", "Cancelling"],
    ["awaiting_approval", "cancelled", "Cancelling"],
    ["approved", "cancelled", "Cancelling"],
    ["paused", "cancelled", "Cancelling"],
    ["approved", "resumed", "Resuming"],
    ["paused", "resumed", "Resuming"],
    ["paused", "rollback_requested", "Rolling back"],
  ];
  it.each(cases)("%s + %s", (state, type, doing) => {
    const r = refused(transition(operated(state), { type, at: at(6), by: stranger } as WorkflowEvent));
    expect(r).toEqual({
      code: "not_authorised",
      message: `${doing} CHG-1 needs the operate role, which you do not hold. It is held by: its requester (Alice Ng) or an approver (group:secops, group:platform).`,
    });
  });

  it("the requester and an approver may; an approver's identity counts on any of its identities", () => {
    expect(transition(paused(), { type: "resumed", at: at(6), by: people.alice }).ok).toBe(true);
    expect(transition(paused(), { type: "resumed", at: at(6), by: people.carol }).ok).toBe(true);
    expect(
      transition(change({ state: "approved" }), {
        type: "resumed",
        at: at(6),
        by: { ...stranger, identities: ["slack:u0zzz", "CAROL@contoso.com"] },
      }).ok,
    ).toBe(true);
  });

  it("with operators in the snapshot, only they (and the requester when listed) may operate; the refusal lists them", () => {
    const c = paused({ policy: { ...policy, operators: ["requester", "ops@contoso.com"] } });
    const opsPerson: Principal = { ...stranger, id: "teams:ops", identities: ["aad:ops", "OPS@contoso.com"] };
    expect(transition(c, { type: "resumed", at: at(6), by: opsPerson }).ok).toBe(true);
    expect(transition(c, { type: "resumed", at: at(6), by: people.alice }).ok).toBe(true);
    // an approver is not an operator unless the policy says so
    const r = refused(transition(c, { type: "cancelled", at: at(6), by: people.bob }));
    expect(r.message).toBe(
      "Cancelling CHG-1 needs the operate role, which you do not hold. It is held by: its requester (Alice Ng), ops@contoso.com.",
    );
    const noRequester = paused({ policy: { ...policy, operators: ["ops@contoso.com"] } });
    expect(transition(noRequester, { type: "resumed", at: at(6), by: people.alice }).ok).toBe(false);
    expect(refused(transition(noRequester, { type: "resumed", at: at(6), by: people.alice })).message).toBe(
      "Resuming CHG-1 needs the operate role, which you do not hold. It is held by: ops@contoso.com.",
    );
    const nobody = paused({ policy: { ...policy, operators: [] } });
    expect(refused(transition(nobody, { type: "resumed", at: at(6), by: people.alice })).message).toBe(
      "Resuming CHG-1 needs the operate role, which you do not hold. It is held by: nobody.",
    );
  });

  it("`people` in the operators means anyone the policy resolved to a person, not a stranger", () => {
    const c = paused({ policy: { ...policy, operators: ["people"] } });
    expect(transition(c, { type: "resumed", at: at(6), by: stranger }).ok).toBe(false);
    expect(
      transition(c, { type: "resumed", at: at(6), by: { ...stranger, person: "person:mallory" } }).ok,
    ).toBe(true);
  });

  it("the refusal uses the policy's names for the operators, naming the requester", () => {
    const c = paused({
      policy: { ...policy, operators: ["requester"], operatorNames: "the change's requester; Bob Okafor" },
    });
    expect(refused(transition(c, { type: "cancelled", at: at(6), by: stranger })).message).toBe(
      "Cancelling CHG-1 needs the operate role, which you do not hold. It is held by: its requester (Alice Ng); Bob Okafor.",
    );
  });
});

describe("cancelling", () => {
  it("clears every timer and says what stays done", () => {
    const early = ok(
      transition(awaiting(), { type: "cancelled", at: at(6), by: people.alice, reason: "not needed" }),
    );
    expect(early.change).toMatchObject({ state: "cancelled", pause: null });
    expect(early.effects).toEqual([
      { type: "clear_timer", kind: "approval_expiry" },
      { type: "clear_timer", kind: "step_wait" },
      { type: "clear_timer", kind: "break_glass_deadline" },
      { type: "render" },
      { type: "notice", text: "CHG-1 cancelled by Alice Ng: not needed.", tone: "warning" },
    ]);
    const notice = (c: Change) => {
      const r = ok(transition(c, { type: "cancelled", at: at(6), by: people.alice }));
      expect(r.change.pause).toBeNull();
      return r.effects.find((e) => e.type === "notice");
    };
    expect(notice(paused())).toEqual({
      type: "notice",
      text: "CHG-1 cancelled by Alice Ng. Steps already done stay done: check the secrets point where you want them (or use rollback before cancelling).",
      tone: "warning",
    });
    // one step done (only the preflight): nothing to check
    expect(notice(paused({ steps: [{ ...evidence(0), outcome: "succeeded" }] }))).toMatchObject({
      text: "CHG-1 cancelled by Alice Ng.",
    });
    const past = paused({
      currentStep: 6,
      steps: [0, 1, 2, 3, 4, 5].map((i) => ({ ...evidence(i), outcome: "succeeded" as const })),
    });
    expect(notice(past)).toMatchObject({
      text: "CHG-1 cancelled by Alice Ng. The old key was already regenerated; consumers on the new key are unaffected.",
    });
    // the same steps in a change that is not paused carry no warning
    expect(notice({ ...past, state: "approved" })).toMatchObject({ text: "CHG-1 cancelled by Alice Ng." });
  });
});

describe("waiving a consumer", () => {
  const pinned = "site:speech-ivr/SPEECH_KEY";
  const withPinned = (over: Partial<Change> = {}) =>
    paused({ plan: { ...standardPlan, pinnedConsumerIds: [pinned] }, ...over });
  const waiver = (by: Principal, consumerId = pinned): WorkflowEvent => ({
    type: "consumer_waived",
    at: at(6),
    by,
    consumerId,
    reason: "decommissioned",
  });

  it("is refused to the requester even when the requester is an approver", () => {
    const r = refused(transition(withPinned({ requester: ref(people.bob) }), waiver(people.bob)));
    expect(r).toEqual({
      code: "not_authorised",
      message:
        "Waiving a consumer of CHG-1 needs the approve role, held by an approver other than its requester. Approvers: group:secops, group:platform.",
    });
    // the same person from another chat account is still the requester
    const bobElsewhere: Principal = {
      ...people.bob,
      id: "teams:bob",
      platform: "teams",
      person: "person:bob",
    };
    expect(
      transition(
        withPinned({ requester: { ...ref(people.bob), person: "person:bob" } }),
        waiver(bobElsewhere),
      ).ok,
    ).toBe(false);
    expect(transition(withPinned(), waiver(stranger)).ok).toBe(false);
  });

  it("an approver other than the requester waives a consumer in the plan, pinned or not, once", () => {
    const r = ok(transition(withPinned(), waiver(people.bob)));
    expect(r.change.waivedConsumerIds).toEqual([pinned]);
    expect(r.effects).toEqual([
      { type: "render" },
      {
        type: "notice",
        text: `Bob Okafor waived ${pinned} for the cutover check: decommissioned`,
        tone: "warning",
      },
    ]);
    const again = ok(transition(r.change, waiver(people.carol)));
    expect(again.change.waivedConsumerIds).toEqual([pinned]);
    expect(again.effects).toEqual([]);
    const planned = ok(transition(withPinned(), waiver(people.carol, "kv:contoso-kv/translator-key")));
    expect(planned.change.waivedConsumerIds).toEqual(["kv:contoso-kv/translator-key"]);
  });

  it("a consumer that is not in the plan is refused with the plan's consumers", () => {
    expect(refused(transition(withPinned(), waiver(people.bob, "site:other/KEY")))).toEqual({
      code: "invalid_state",
      message: "site:other/KEY is not a consumer in CHG-1's plan. Consumers: kv:contoso-kv/translator-key.",
    });
    const two = paused({ plan: { ...standardPlan, consumerIds: ["kv:a/1", "kv:b/2"] } });
    expect(refused(transition(two, waiver(people.bob, "site:other/KEY"))).message).toContain(
      "Consumers: kv:a/1, kv:b/2.",
    );
    const empty = paused({ plan: { ...standardPlan, consumerIds: [] } });
    expect(refused(transition(empty, waiver(people.bob, "site:other/KEY"))).message).toBe(
      "site:other/KEY is not a consumer in CHG-1's plan. Consumers: none.",
    );
  });
});

describe("including a NEW holder", () => {
  const planted = "kv:v/planted";
  const excludedPlan = { ...standardPlan, excludedConsumerIds: [planted] };
  const include = (c: Change, by: Principal, consumerId = planted) =>
    transition(c, { type: "consumer_included", at: at(6), by, consumerId, reason: "the batch job's own" });

  it("is refused to the requester even when the requester is an approver, and to a non-approver", () => {
    const own = refused(include(awaiting({ plan: excludedPlan, requester: ref(people.bob) }), people.bob));
    expect(own).toEqual({
      code: "not_authorised",
      message:
        "Including a NEW holder in CHG-1 needs the approve role, held by an approver other than its requester. Approvers: group:secops, group:platform.",
    });
    expect(refused(include(awaiting({ plan: excludedPlan }), stranger)).code).toBe("not_authorised");
  });

  it("records the inclusion and says who included what and why", () => {
    const r = ok(include(awaiting({ plan: excludedPlan }), people.carol));
    expect(r.change.includedConsumerIds).toEqual([planted]);
    expect(r.effects).toEqual([
      { type: "render" },
      {
        type: "notice",
        text: `Carol Diaz included NEW holder ${planted}: it receives the new key. Reason: the batch job's own`,
        tone: "warning",
      },
    ]);
  });

  it("only a holder the plan excludes can be included", () => {
    expect(refused(include(awaiting(), people.bob))).toEqual({
      code: "invalid_state",
      message: `${planted} is not a holder CHG-1 excludes, so there is nothing to include. Excluded: none.`,
    });
    expect(refused(include(awaiting({ plan: excludedPlan }), people.bob, "kv:v/other")).message).toContain(
      `Excluded: ${planted}.`,
    );
  });

  it("is possible until publish has succeeded: a started or failed publish, or other steps done, do not stop it", () => {
    const publishIndex = standardPlan.steps.findIndex((s) => s.kind === "publish");
    const withSteps = (steps: Change["steps"]) =>
      change({
        state: "paused",
        plan: excludedPlan,
        steps,
        pause: { code: "x", message: "x", stepIndex: publishIndex },
      });
    const done = (index: number, outcome?: "succeeded" | "failed") => ({
      ...evidence(index),
      ...(outcome ? { outcome } : {}),
    });
    expect(include(withSteps([done(0, "succeeded"), done(1, "succeeded")]), people.bob).ok).toBe(true);
    expect(include(withSteps([done(publishIndex, "failed")]), people.bob).ok).toBe(true);
    expect(include(withSteps([done(publishIndex)]), people.bob).ok).toBe(true);
    expect(refused(include(withSteps([done(publishIndex, "succeeded")]), people.bob))).toEqual({
      code: "invalid_state",
      message: `CHG-1 has already published the new key, so ${planted} can no longer receive it in this change. Rotate again once this change is closed.`,
    });
    // a plan that publishes nothing has nothing to include a holder in
    const noPublish = { ...excludedPlan, steps: excludedPlan.steps.filter((s) => s.kind !== "publish") };
    expect(refused(include(awaiting({ plan: noPublish }), people.bob)).code).toBe("invalid_state");
  });

  it("an included holder can be waived; one neither planned nor included cannot", () => {
    const c = paused({ plan: excludedPlan, includedConsumerIds: [planted] });
    const waive = (consumerId: string) =>
      transition(c, { type: "consumer_waived", at: at(6), by: people.bob, consumerId, reason: "gone" });
    expect(ok(waive(planted)).change.waivedConsumerIds).toEqual([planted]);
    expect(waive("kv:v/nobody").ok).toBe(false);
    expect(
      transition(
        { ...c, includedConsumerIds: undefined },
        {
          type: "consumer_waived",
          at: at(6),
          by: people.bob,
          consumerId: planted,
          reason: "gone",
        },
      ).ok,
    ).toBe(false);
  });
});

describe("step order", () => {
  const running = (over: Partial<Change> = {}) =>
    change({ state: "running", approvals: [approval(people.bob), approval(people.carol)], ...over });

  it("starting a step records its evidence; another step is refused", () => {
    const r = ok(transition(running({ currentStep: 1 }), { type: "step_started", at: at(4), index: 1 }));
    expect(r.change.steps).toEqual([
      {
        index: 1,
        kind: "regenerate_standby",
        startedAt: at(4),
        rollback: standardPlan.steps[1]!.rollback,
        actor: "keyturn",
      },
    ]);
    expect(r.effects).toEqual([{ type: "render" }]);
    expect(
      refused(transition(running({ currentStep: 1 }), { type: "step_started", at: at(4), index: 2 })),
    ).toEqual({ code: "invalid_state", message: "CHG-1 is at step 2, not 3." });
  });

  it("evidence stays in step order whatever order it was recorded in", () => {
    const r = ok(
      transition(running({ currentStep: 1, steps: [evidence(2), evidence(0)] }), {
        type: "step_started",
        at: at(4),
        index: 1,
      }),
    );
    expect(r.change.steps.map((s) => s.index)).toEqual([0, 1, 2]);
  });

  it("a step's action is accepted for the current step only, and only for a step the plan has", () => {
    expect(
      refused(
        transition(running({ currentStep: 1 }), {
          type: "step_acted",
          at: at(5),
          index: 2,
          evidence: evidence(2),
        }),
      ),
    ).toEqual({ code: "invalid_state", message: "CHG-1 is not running step 3." });
    expect(
      refused(
        transition(running({ currentStep: 8 }), {
          type: "step_acted",
          at: at(5),
          index: 8,
          evidence: evidence(0),
        }),
      ).code,
    ).toBe("invalid_state");
    const r = ok(
      transition(running({ currentStep: 1 }), {
        type: "step_acted",
        at: at(5),
        index: 1,
        evidence: evidence(1),
      }),
    );
    expect(r.change.steps).toEqual([{ ...evidence(1), actedAt: at(5) }]);
    expect(r.effects).toEqual([
      { type: "render" },
      { type: "set_timer", kind: "step_wait", at: at(5), index: 1 },
    ]);
  });

  it("a success is accepted for the current step only", () => {
    expect(
      refused(
        transition(running({ currentStep: 1 }), {
          type: "step_succeeded",
          at: at(5),
          index: 0,
          evidence: evidence(0),
        }),
      ),
    ).toEqual({ code: "invalid_state", message: "CHG-1 is not running step 1." });
  });

  it("a success records the outcome, replacing the step's earlier evidence, and keeps steps in order", () => {
    const c = running({
      currentStep: 1,
      steps: [
        { ...evidence(1), actedAt: at(4) },
        { ...evidence(0), outcome: "succeeded" },
      ],
    });
    const r = ok(transition(c, { type: "step_succeeded", at: at(5), index: 1, evidence: evidence(1) }));
    expect(r.change.steps).toEqual([
      { ...evidence(0), outcome: "succeeded" },
      { ...evidence(1), finishedAt: at(5), outcome: "succeeded" },
    ]);
    expect(r.change.currentStep).toBe(2);
    expect(r.effects).toEqual([
      { type: "step_reply", index: 1 },
      { type: "render" },
      { type: "run_step", index: 2, phase: "act" },
    ]);
  });

  it("the last step completes the change and names the key consumers now use", () => {
    const last = (plan = standardPlan) =>
      ok(
        transition(running({ currentStep: 7, plan, pause: { code: "x", message: "x", stepIndex: 7 } }), {
          type: "step_succeeded",
          at: at(9),
          index: 7,
          evidence: evidence(7),
        }),
      );
    const r = last();
    expect(r.change).toMatchObject({ state: "completed", completedAt: at(9), pause: null });
    expect(r.effects).toEqual([
      { type: "step_reply", index: 7 },
      { type: "render" },
      {
        type: "notice",
        text: "CHG-1 completed: contoso-translator rotated; consumers use key2.",
        tone: "success",
      },
    ]);
    const text = (plan: typeof standardPlan) =>
      (last(plan).effects.find((e) => e.type === "notice") as { text: string }).text;
    expect(text({ ...standardPlan, variant: "exposure-standby" })).toContain("consumers use key1.");
    expect(text({ ...standardPlan, variant: "exposure-active-kill-now" })).toContain("consumers use key1.");
    expect(
      text({ ...standardPlan, variant: "exposure-standby", activeSlot: "key2", standbySlot: "key2" }),
    ).toContain("consumers use key2.");
  });

  it("a failure pauses at that step, says which, and marks a failed gate as such", () => {
    const fail = (code: string) =>
      ok(
        transition(running({ currentStep: 4 }), {
          type: "step_failed",
          at: at(6),
          index: 4,
          evidence: evidence(4),
          code,
          message: "a consumer still uses key1: fix it, then resume.",
        }),
      );
    const gate = fail("gate_failed");
    expect(gate.change.state).toBe("paused");
    expect(gate.change.pause).toEqual({
      code: "gate_failed",
      message: "a consumer still uses key1: fix it, then resume.",
      stepIndex: 4,
    });
    expect(gate.change.steps).toEqual([{ ...evidence(4), finishedAt: at(6), outcome: "gate_failed" }]);
    expect(gate.effects).toEqual([
      { type: "step_reply", index: 4 },
      { type: "render" },
      {
        type: "notice",
        text: "CHG-1 paused at step 5 (verify_cutover): a consumer still uses key1: fix it, then resume.",
        tone: "danger",
      },
    ]);
    expect(fail("azure_throttled").change.steps[0]!.outcome).toBe("failed");
  });

  it("the same plan re-checked starts at step 1 with the fresh inventory; a changed plan asks again", () => {
    const fresh = { ...inventory, takenAt: at(3) };
    const approvedChange = change({ state: "approved", currentStep: 4, pause: null });
    const same = ok(
      transition(approvedChange, {
        type: "plan_revalidated",
        at: at(3),
        plan: standardPlan,
        inventory: fresh,
      }),
    );
    expect(same.change).toMatchObject({ state: "running", currentStep: 0, inventory: fresh, pause: null });
    expect(same.effects).toEqual([{ type: "render" }, { type: "run_step", index: 0, phase: "act" }]);

    const newPlan = { ...standardPlan, hash: "c".repeat(64) };
    const changed = ok(
      transition(approvedChange, { type: "plan_revalidated", at: at(3), plan: newPlan, inventory: fresh }),
    );
    expect(changed.change).toMatchObject({ state: "awaiting_approval", plan: newPlan, inventory: fresh });
    expect(changed.effects).toEqual([
      { type: "render" },
      {
        type: "notice",
        text: `Approvals of CHG-1 reset: the plan or the consumer inventory changed since they were given (plan ${"a".repeat(12)} → ${"c".repeat(12)}). Review the card and approve again.`,
        tone: "warning",
      },
      { type: "notify_approvers", afterTheFact: false },
    ]);
    // while awaiting approval, the same plan only refreshes the inventory
    const waiting = ok(
      transition(awaiting(), { type: "plan_revalidated", at: at(3), plan: standardPlan, inventory: fresh }),
    );
    expect(waiting.change).toMatchObject({ state: "awaiting_approval", inventory: fresh });
    expect(waiting.effects).toEqual([]);
  });

  it("resume restarts the paused step (or the current one when the pause names none); a step the plan lacks is refused", () => {
    const r = ok(transition(paused(), { type: "resumed", at: at(6), by: people.alice }));
    expect(r.change).toMatchObject({ state: "running", currentStep: 2, pause: null });
    expect(r.effects).toEqual([
      { type: "notice", text: "Alice Ng resumed CHG-1 at step 3.", tone: "info" },
      { type: "render" },
      { type: "run_step", index: 2, phase: "act" },
    ]);
    const noReason = ok(
      transition(paused({ pause: null, currentStep: 5 }), { type: "resumed", at: at(6), by: people.alice }),
    );
    expect(noReason.change.currentStep).toBe(5);
    expect(
      refused(
        transition(paused({ pause: { code: "x", message: "x", stepIndex: 8 } }), {
          type: "resumed",
          at: at(6),
          by: people.alice,
        }),
      ),
    ).toEqual({ code: "invalid_state", message: "CHG-1 has no step 9." });
  });

  it("resume before the first step re-checks the plan and says so", () => {
    const c = paused({
      pause: { code: "azure_permission", message: "m", stepIndex: BEFORE_FIRST_STEP },
      steps: [],
    });
    const r = ok(transition(c, { type: "resumed", at: at(6), by: people.bob }));
    expect(r.effects).toEqual([
      { type: "render" },
      { type: "notice", text: "Bob Okafor resumed CHG-1: re-checking the plan.", tone: "info" },
      { type: "revalidate_plan" },
    ]);
  });

  it("resuming an approved change re-checks the plan first", () => {
    const r = ok(transition(change({ state: "approved" }), { type: "resumed", at: at(6), by: people.alice }));
    expect(r.change.state).toBe("approved");
    expect(r.effects).toEqual([{ type: "revalidate_plan" }]);
  });
});

describe("a plan that cannot be re-checked", () => {
  it("pauses before the first step and says why, with what to do", () => {
    const r = ok(
      transition(change({ state: "approved" }), {
        type: "revalidation_failed",
        at: at(2),
        code: "azure_permission",
        message: "keyturn's identity lacks listKeys: grant it, then resume.",
      }),
    );
    expect(r.effects).toEqual([
      { type: "render" },
      {
        type: "notice",
        text: "CHG-1 paused before its first step: keyturn could not re-check the plan. keyturn's identity lacks listKeys: grant it, then resume.",
        tone: "danger",
      },
    ]);
  });
});

describe("rolling back", () => {
  it("before the point of no return: asks for the rollback and says who asked", () => {
    const r = ok(transition(paused(), { type: "rollback_requested", at: at(6), by: people.alice }));
    expect(r.change.state).toBe("paused");
    expect(r.effects).toEqual([
      { type: "notice", text: "Alice Ng asked to roll back CHG-1.", tone: "warning" },
      { type: "rollback" },
    ]);
  });

  it("once the point-of-no-return step has started, never", () => {
    const started = paused({
      currentStep: 5,
      pause: { code: "x", message: "x", stepIndex: 5 },
      steps: [...paused().steps, { ...evidence(5) }],
    });
    expect(pastPointOfNoReturn(started)).toBe(true);
    expect(pastPointOfNoReturn(paused())).toBe(false);
    // evidence of something that is not a plan step (e.g. a rollback) is no step of the plan
    expect(pastPointOfNoReturn(paused({ steps: [{ ...evidence(0), index: 99 }] }))).toBe(false);
    expect(refused(transition(started, { type: "rollback_requested", at: at(6), by: people.alice }))).toEqual(
      {
        code: "invalid_state",
        message:
          "CHG-1 is past the point of no return: the old key is dead, there is nothing to roll back to. Resume or cancel it.",
      },
    );
  });

  it("before the first step there is nothing to roll back", () => {
    const c = paused({ pause: { code: "x", message: "x", stepIndex: BEFORE_FIRST_STEP }, steps: [] });
    expect(refused(transition(c, { type: "rollback_requested", at: at(6), by: people.alice }))).toEqual({
      code: "invalid_state",
      message: "CHG-1 has not changed anything yet: there is nothing to roll back. Resume it, or cancel it.",
    });
  });

  it("rolled back closes the change with the rollback's evidence", () => {
    const rb = { ...evidence(2), kind: "publish" as const, rollback: "secrets point back" };
    const r = ok(transition(paused(), { type: "rolled_back", at: at(7), evidence: rb }));
    expect(r.change).toMatchObject({ state: "rolled_back", pause: null, completedAt: at(7) });
    expect(r.change.steps).toEqual([...paused().steps, rb]);
    expect(r.effects).toEqual([
      { type: "clear_timer", kind: "break_glass_deadline" },
      { type: "render" },
      {
        type: "notice",
        text: "CHG-1 rolled back: consumers' secrets point at the previous key again.",
        tone: "warning",
      },
    ]);
  });
});

describe("refusals of events a state does not take say what the state allows", () => {
  const refusal = (state: Change["state"], event: WorkflowEvent) =>
    refused(transition(change({ state, approvalDeadline: DEADLINE }), event));
  const approve: WorkflowEvent = { type: "approved", at: at(1), by: people.bob, planHash: hash };

  it.each([
    [
      "requested",
      { type: "resumed", at: at(1), by: people.alice },
      "CHG-1 is requested: it cannot be resumed.",
    ],
    [
      "awaiting_approval",
      { type: "rollback_requested", at: at(1), by: people.alice },
      "CHG-1 is awaiting approval: it cannot be rolled back.",
    ],
    [
      "running",
      { type: "rejected", at: at(1), by: people.bob, reason: "r" },
      "CHG-1 is running: it cannot be rejected. Wait for it to finish or pause.",
    ],
    [
      "paused",
      { type: "submitted", at: at(1) },
      'CHG-1 is paused: it cannot be given "submitted". Use resume, rollback or cancel.',
    ],
    [
      "completed",
      { type: "cancelled", at: at(1), by: people.alice },
      "CHG-1 is completed (closed): it cannot be cancelled. Start a new change with rotate if needed.",
    ],
    [
      "rolled_back",
      {
        type: "consumer_waived",
        at: at(1),
        by: people.bob,
        consumerId: "kv:contoso-kv/translator-key",
        reason: "r",
      },
      "CHG-1 is rolled back (closed): it cannot be given a waiver. Start a new change with rotate if needed.",
    ],
    ["expired", approve, "CHG-1 is expired (closed): it cannot be approved. Request the rotation again."],
    [
      "completed",
      { type: "consumer_included", at: at(1), by: people.bob, consumerId: "kv:v/p", reason: "r" },
      "CHG-1 is completed (closed): it cannot be given an included holder. Start a new change with rotate if needed.",
    ],
  ] as [Change["state"], WorkflowEvent, string][])("%s", (state, event, message) => {
    const r = refusal(state, event);
    expect(r.message).toBe(message);
    expect(r.code).toBe(state === "expired" ? "approval_expired" : "invalid_state");
  });

  it("an approval of a change that is closed another way is an invalid state, not an expiry", () => {
    expect(refusal("rejected", approve).code).toBe("invalid_state");
    expect(refusal("cancelled", { type: "expired", at: at(300) }).code).toBe("invalid_state");
  });
});
