/**
 * The change state machine: `transition(change, event) → { change, effects }` from an explicit
 * table. Pure: no I/O, no clock (times come in events), no randomness. Every (state, event) pair
 * is either handled or rejected with a typed KeyturnError.
 */
import type {
  Approval,
  Change,
  ChangeState,
  PauseReason,
  Plan,
  Principal,
  StepEvidence,
  Waiver,
} from "./domain.js";
import { isCompleted, isDisableLocalAuth, isOpen, samePerson, toRef } from "./domain.js";
import { KeyturnError } from "./errors.js";
import { countedApprovals, eligibility, isApprover, isOperator, isRequester } from "./policy.js";

export type WorkflowEvent =
  | { readonly type: "submitted"; readonly at: string }
  | { readonly type: "approved"; readonly at: string; readonly by: Principal; readonly planHash: string }
  | { readonly type: "rejected"; readonly at: string; readonly by: Principal; readonly reason: string }
  | { readonly type: "cancelled"; readonly at: string; readonly by: Principal; readonly reason?: string }
  | { readonly type: "expired"; readonly at: string }
  | {
      readonly type: "plan_revalidated";
      readonly at: string;
      readonly plan: Plan;
      readonly inventory: Change["inventory"];
    }
  | { readonly type: "step_started"; readonly at: string; readonly index: number }
  | {
      readonly type: "step_acted";
      readonly at: string;
      readonly index: number;
      readonly evidence: StepEvidence;
    }
  | { readonly type: "wait_elapsed"; readonly at: string; readonly index: number }
  | {
      readonly type: "step_succeeded";
      readonly at: string;
      readonly index: number;
      readonly evidence: StepEvidence;
    }
  | {
      readonly type: "step_failed";
      readonly at: string;
      readonly index: number;
      readonly evidence: StepEvidence;
      readonly code: string;
      readonly message: string;
    }
  | {
      /** The plan could not be re-checked before the first step, for a reason a retry will not fix. */
      readonly type: "revalidation_failed";
      readonly at: string;
      readonly code: string;
      readonly message: string;
    }
  | { readonly type: "resumed"; readonly at: string; readonly by: Principal }
  | { readonly type: "rollback_requested"; readonly at: string; readonly by: Principal }
  | { readonly type: "rolled_back"; readonly at: string; readonly evidence: StepEvidence }
  | {
      readonly type: "consumer_waived";
      readonly at: string;
      readonly by: Principal;
      readonly consumerId: string;
      readonly reason: string;
    }
  | {
      /** An approver includes a NEW holder the plan excludes: publish delivers the new key to it too. */
      readonly type: "consumer_included";
      readonly at: string;
      readonly by: Principal;
      readonly consumerId: string;
      readonly reason: string;
    }
  | { readonly type: "break_glass_deadline"; readonly at: string };

export type WorkflowEventType = WorkflowEvent["type"];

export type Effect =
  | { readonly type: "render" } // update the evidence thread's parent
  | { readonly type: "notify_approvers"; readonly afterTheFact: boolean }
  | {
      readonly type: "notice";
      readonly text: string;
      readonly tone: "info" | "success" | "warning" | "danger";
    }
  | { readonly type: "step_reply"; readonly index: number } // one thread reply per finished step
  | { readonly type: "revalidate_plan" } // re-take the inventory; same hash → start, else approvals reset
  | { readonly type: "run_step"; readonly index: number; readonly phase: "act" | "check" }
  | { readonly type: "set_timer"; readonly kind: TimerKind; readonly at: string; readonly index?: number }
  | { readonly type: "clear_timer"; readonly kind: TimerKind }
  | { readonly type: "rollback" }; // point secrets back to the versions before publish

export type TimerKind = "approval_expiry" | "step_wait" | "break_glass_deadline";

export type TransitionResult =
  | { readonly ok: true; readonly change: Change; readonly effects: readonly Effect[] }
  | { readonly ok: false; readonly error: KeyturnError };

type Handler<E extends WorkflowEvent> = (c: Change, e: E) => TransitionResult;
type Handlers = { readonly [T in WorkflowEventType]?: Handler<Extract<WorkflowEvent, { type: T }>> };

const ok = (change: Change, ...effects: Effect[]): TransitionResult => ({ ok: true, change, effects });
const no = (code: KeyturnError["code"], message: string): TransitionResult => ({
  ok: false,
  error: new KeyturnError(code, message),
});

const addSeconds = (iso: string, seconds: number): string =>
  new Date(Date.parse(iso) + seconds * 1000).toISOString();

/** Whether the point-of-no-return step has started: rollback is no longer possible. */
export const pastPointOfNoReturn = (c: Change): boolean =>
  c.steps.some((s) => c.plan.steps[s.index]?.pointOfNoReturn);

/** The approvers in words, for refusals: names where the policy gave them. */
const approverList = (c: Change): string => c.policy.approverNames ?? c.policy.approvers.join(", ");

function operateRefusal(c: Change, doing: string): string {
  const who = c.policy.operatorNames
    ? c.policy.operatorNames.replace("the change's requester", `its requester (${c.requester.displayName})`)
    : c.policy.operators
      ? [
          ...(c.policy.operators.includes("requester") ? [`its requester (${c.requester.displayName})`] : []),
          ...c.policy.operators.filter((o) => o !== "requester"),
        ].join(", ")
      : `its requester (${c.requester.displayName}) or an approver (${approverList(c)})`;
  return `${doing} ${c.id} needs the operate role, which you do not hold. It is held by: ${who || "nobody"}.`;
}

// ---------------------------------------------------------------- handlers shared by several states

const approve: Handler<Extract<WorkflowEvent, { type: "approved" }>> = (c, e) => {
  if (c.state !== "awaiting_approval" && !c.breakGlass) {
    return no("invalid_state", refusal(c, "approved"));
  }
  if (c.approvalDeadline && e.at >= c.approvalDeadline && !c.breakGlass) {
    return no(
      "approval_expired",
      `${c.id}'s approval window closed at ${c.approvalDeadline}. Request the rotation again.`,
    );
  }
  if (isRequester(c, e.by)) {
    return no(
      "self_approval",
      `You requested ${c.id}; someone else among its approvers must approve it (on any platform, you count as one person).`,
    );
  }
  if (!isApprover(c.policy, e.by)) {
    return no(
      "not_authorised",
      `You are not an approver for ${c.id}: approving needs the approve role (policy "${c.policy.name}"). Approvers: ${approverList(c)}.`,
    );
  }
  if (e.planHash !== c.plan.hash) {
    return no(
      "plan_changed",
      `The plan of ${c.id} changed since that approval button was shown. Review the updated card and approve again.`,
    );
  }
  if (c.approvals.some((a) => samePerson(a.by, e.by) && a.planHash === c.plan.hash)) {
    return no(
      "already_approved",
      `You already approved ${c.id}; it needs ${c.policy.approvalsRequired} approval(s).`,
    );
  }
  const eligibleAs = eligibility(c.policy, e.by);
  const approval: Approval = {
    by: toRef(e.by),
    at: e.at,
    planHash: e.planHash,
    afterTheFact: c.state === "running" || c.state === "paused" || isCompleted(c.state),
    ...(eligibleAs ? { eligibleAs } : {}),
  };
  const next: Change = { ...c, approvals: [...c.approvals, approval] };
  const enough = countedApprovals(next) >= c.policy.approvalsRequired;
  if (c.state === "awaiting_approval" && enough) {
    return ok(
      { ...next, state: "approved" },
      { type: "clear_timer", kind: "approval_expiry" },
      { type: "render" },
      { type: "revalidate_plan" },
    );
  }
  if (c.breakGlass && enough) {
    return ok(
      next,
      { type: "clear_timer", kind: "break_glass_deadline" },
      { type: "render" },
      {
        type: "notice",
        text: `Break-glass change ${c.id} approved after the fact by ${e.by.displayName}.`,
        tone: "success",
      },
    );
  }
  return ok(next, { type: "render" });
};

const cancel: Handler<Extract<WorkflowEvent, { type: "cancelled" }>> = (c, e) => {
  if (!isOperator(c, e.by)) return no("not_authorised", operateRefusal(c, "Cancelling"));
  const warning =
    c.state === "paused" && pastPointOfNoReturn(c)
      ? " The old key was already regenerated; consumers on the new key are unaffected."
      : c.state === "paused" && c.steps.length > 1
        ? " Steps already done stay done: check the secrets point where you want them (or use rollback before cancelling)."
        : "";
  return ok(
    { ...c, state: "cancelled", pause: null },
    { type: "clear_timer", kind: "approval_expiry" },
    { type: "clear_timer", kind: "step_wait" },
    { type: "clear_timer", kind: "break_glass_deadline" },
    { type: "render" },
    {
      type: "notice",
      text: `${c.id} cancelled by ${e.by.displayName}${e.reason ? `: ${e.reason}` : ""}.${warning}`,
      tone: "warning",
    },
  );
};

const waive: Handler<Extract<WorkflowEvent, { type: "consumer_waived" }>> = (c, e) => {
  if (!isApprover(c.policy, e.by) || isRequester(c, e.by)) {
    return no(
      "not_authorised",
      `Waiving a consumer of ${c.id} needs the approve role, held by an approver other than its requester. Approvers: ${approverList(c)}.`,
    );
  }
  if (
    !c.plan.pinnedConsumerIds.includes(e.consumerId) &&
    !c.plan.consumerIds.includes(e.consumerId) &&
    !(c.includedConsumerIds ?? []).includes(e.consumerId)
  ) {
    return no(
      "invalid_state",
      `${e.consumerId} is not a consumer in ${c.id}'s plan. Consumers: ${c.plan.consumerIds.join(", ") || "none"}.`,
    );
  }
  if (c.waivedConsumerIds.includes(e.consumerId)) return ok(c);
  const waiver: Waiver = {
    consumerId: e.consumerId,
    consumerName: c.inventory.consumers.find((x) => x.id === e.consumerId)?.name ?? e.consumerId,
    by: toRef(e.by),
    reason: e.reason,
    at: e.at,
  };
  return ok(
    {
      ...c,
      waivedConsumerIds: [...c.waivedConsumerIds, e.consumerId],
      waivers: [...(c.waivers ?? []), waiver],
    },
    { type: "render" },
    {
      type: "notice",
      text: `${e.by.displayName} waived ${e.consumerId} for the cutover check: ${e.reason}`,
      tone: "warning",
    },
  );
};

const include: Handler<Extract<WorkflowEvent, { type: "consumer_included" }>> = (c, e) => {
  if (!isApprover(c.policy, e.by) || isRequester(c, e.by)) {
    return no(
      "not_authorised",
      `Including a NEW holder in ${c.id} needs the approve role, held by an approver other than its requester. Approvers: ${approverList(c)}.`,
    );
  }
  const excluded = c.plan.excludedConsumerIds ?? [];
  if (!excluded.includes(e.consumerId)) {
    return no(
      "invalid_state",
      `${e.consumerId} is not a holder ${c.id} excludes, so there is nothing to include. Excluded: ${excluded.join(", ") || "none"}.`,
    );
  }
  const publish = c.plan.steps.find((s) => s.kind === "publish");
  if (!publish || c.steps.some((s) => s.index === publish.index && s.outcome === "succeeded")) {
    return no(
      "invalid_state",
      `${c.id} has already published the new key, so ${e.consumerId} can no longer receive it in this change. Rotate again once this change is closed.`,
    );
  }
  if ((c.includedConsumerIds ?? []).includes(e.consumerId)) return ok(c);
  return ok(
    { ...c, includedConsumerIds: [...(c.includedConsumerIds ?? []), e.consumerId] },
    { type: "render" },
    {
      type: "notice",
      text: `${e.by.displayName} included NEW holder ${e.consumerId}: it receives the new key. Reason: ${e.reason}`,
      tone: "warning",
    },
  );
};

/** A pause's step index when the change stopped before running anything (the plan re-check). */
export const BEFORE_FIRST_STEP = -1;

const runAt = (c: Change, index: number): TransitionResult => {
  if (!c.plan.steps[index]) return no("invalid_state", `${c.id} has no step ${index + 1}.`);
  return ok(
    { ...c, state: "running", currentStep: index, pause: null },
    { type: "render" },
    { type: "run_step", index, phase: "act" },
  );
};

// ---------------------------------------------------------------- the table

const TABLE: { readonly [S in ChangeState]: Handlers } = {
  requested: {
    submitted: (c, e) => {
      if (c.breakGlass) {
        const deadline = addSeconds(e.at, c.policy.breakGlassApprovalSeconds);
        return ok(
          { ...c, state: "running", currentStep: 0, approvalDeadline: deadline },
          { type: "render" },
          {
            type: "notice",
            text: `BREAK-GLASS: ${c.requester.displayName} started ${c.id} without prior approval. An approval is needed after the fact by ${deadline}.`,
            tone: "danger",
          },
          { type: "notify_approvers", afterTheFact: true },
          { type: "set_timer", kind: "break_glass_deadline", at: deadline },
          { type: "run_step", index: 0, phase: "act" },
        );
      }
      // the policy's `schedule: auto` rule is the approval: never for exposure, never with a person asked for
      if (c.scheduled?.mode === "auto" && !c.exposure && !c.scheduled.asksPerson?.length) {
        return ok(
          { ...c, state: "approved" },
          { type: "render" },
          {
            type: "notice",
            text: `${c.id} started by schedule (policy ${c.scheduled.policy}: auto): the policy allows scheduled rotation of ${c.accountName} without approval; the staged rotation starts.`,
            tone: "info",
          },
          { type: "revalidate_plan" },
        );
      }
      const deadline = addSeconds(e.at, c.policy.approvalExpirySeconds);
      return ok(
        { ...c, state: "awaiting_approval", approvalDeadline: deadline },
        { type: "render" },
        { type: "notify_approvers", afterTheFact: false },
        { type: "set_timer", kind: "approval_expiry", at: deadline },
      );
    },
    cancelled: cancel,
  },
  awaiting_approval: {
    approved: approve,
    rejected: (c, e) => {
      if (!isApprover(c.policy, e.by) && !isRequester(c, e.by)) {
        return no(
          "not_authorised",
          `Rejecting ${c.id} needs the approve role (or being its requester), which you do not hold. Approvers: ${approverList(c)}.`,
        );
      }
      return ok(
        { ...c, state: "rejected" },
        { type: "clear_timer", kind: "approval_expiry" },
        { type: "render" },
        { type: "notice", text: `${c.id} rejected by ${e.by.displayName}: ${e.reason}`, tone: "warning" },
      );
    },
    cancelled: cancel,
    expired: (c, e) => {
      if (!c.approvalDeadline || e.at < c.approvalDeadline) return ok(c);
      return ok(
        { ...c, state: "expired" },
        { type: "render" },
        {
          type: "notice",
          text: `${c.id} expired: it did not get ${c.policy.approvalsRequired} approval(s) by ${c.approvalDeadline}. Request the rotation again if it is still needed.`,
          tone: "warning",
        },
      );
    },
    plan_revalidated: (c, e) => replan(c, e),
    consumer_waived: waive,
    consumer_included: include,
  },
  approved: {
    resumed: (c, e) => {
      if (!isOperator(c, e.by)) return no("not_authorised", operateRefusal(c, "Resuming"));
      return ok(c, { type: "revalidate_plan" });
    },
    plan_revalidated: (c, e) => {
      if (e.plan.hash === c.plan.hash) return runAt({ ...c, inventory: e.inventory }, 0);
      return replan(c, e);
    },
    revalidation_failed: (c, e) =>
      ok(
        { ...c, state: "paused", pause: { code: e.code, message: e.message, stepIndex: BEFORE_FIRST_STEP } },
        { type: "render" },
        {
          type: "notice",
          text: `${c.id} paused before its first step: keyturn could not re-check the plan. ${e.message}`,
          tone: "danger",
        },
      ),
    cancelled: cancel,
    consumer_waived: waive,
    consumer_included: include,
  },
  running: {
    step_started: (c, e) => {
      if (e.index !== c.currentStep)
        return no("invalid_state", `${c.id} is at step ${c.currentStep + 1}, not ${e.index + 1}.`);
      const step = c.plan.steps[e.index];
      const evidence: StepEvidence = {
        index: e.index,
        kind: step!.kind,
        startedAt: e.at,
        rollback: step!.rollback,
        actor: "keyturn",
      };
      return ok({ ...c, steps: upsertStep(c.steps, evidence) }, { type: "render" });
    },
    step_acted: (c, e) => {
      const step = c.plan.steps[e.index];
      if (!step || e.index !== c.currentStep)
        return no("invalid_state", `${c.id} is not running step ${e.index + 1}.`);
      const waitUntil = addSeconds(e.at, step.waitSeconds);
      return ok(
        { ...c, steps: upsertStep(c.steps, { ...e.evidence, actedAt: e.at }) },
        { type: "render" },
        {
          type: "set_timer",
          kind: "step_wait",
          at: waitUntil,
          index: e.index,
        },
      );
    },
    wait_elapsed: (c, e) => {
      if (e.index !== c.currentStep) return ok(c); // a stale timer: the step moved on
      return ok(c, { type: "run_step", index: e.index, phase: "check" });
    },
    step_succeeded: (c, e) => {
      if (e.index !== c.currentStep)
        return no("invalid_state", `${c.id} is not running step ${e.index + 1}.`);
      const seen = e.evidence.findings ?? [];
      const steps = upsertStep(c.steps, {
        ...e.evidence,
        finishedAt: e.at,
        outcome: seen.length ? "succeeded_with_findings" : "succeeded",
      });
      // a step run again (resume after a crash) replaces its own findings, never adds to them twice
      const findings = [...(c.findings ?? []).filter((f) => f.stepIndex !== e.index), ...seen];
      const next: Change = { ...c, steps, ...(findings.length || c.findings ? { findings } : {}) };
      const nextIndex = e.index + 1;
      if (nextIndex >= c.plan.steps.length) {
        const done: Change = {
          ...next,
          state: findings.length ? "completed_with_findings" : "completed",
          completedAt: e.at,
          pause: null,
        };
        return ok(
          done,
          { type: "step_reply", index: e.index },
          { type: "render" },
          { type: "notice", text: outcomeText(done), tone: findings.length ? "warning" : "success" },
        );
      }
      return ok(
        { ...next, currentStep: nextIndex },
        { type: "step_reply", index: e.index },
        { type: "render" },
        { type: "run_step", index: nextIndex, phase: "act" },
      );
    },
    step_failed: (c, e) => {
      // a late report from another step must not pause the change there (resume would re-run it)
      if (e.index !== c.currentStep)
        return no("invalid_state", `${c.id} is not running step ${e.index + 1}.`);
      const pause: PauseReason = { code: e.code, message: e.message, stepIndex: e.index };
      const steps = upsertStep(c.steps, {
        ...e.evidence,
        finishedAt: e.at,
        outcome: e.code === "gate_failed" ? "gate_failed" : "failed",
      });
      return ok(
        { ...c, state: "paused", pause, steps },
        { type: "step_reply", index: e.index },
        { type: "render" },
        {
          type: "notice",
          text: `${c.id} paused at step ${e.index + 1} (${c.plan.steps[e.index]?.title ?? "?"}): ${e.message}`,
          tone: "danger",
        },
      );
    },
    approved: approve, // break-glass: the approval after the fact
    break_glass_deadline: (c, e) => deadlinePassed(c, e.at),
    consumer_waived: waive,
    consumer_included: include,
  },
  paused: {
    resumed: (c, e) => {
      if (!isOperator(c, e.by)) return no("not_authorised", operateRefusal(c, "Resuming"));
      if (c.pause?.stepIndex === BEFORE_FIRST_STEP) {
        // nothing has run: the plan is re-checked again before the first step
        return ok(
          { ...c, state: "approved", pause: null },
          { type: "render" },
          {
            type: "notice",
            text: `${e.by.displayName} resumed ${c.id}: re-checking the plan.`,
            tone: "info",
          },
          { type: "revalidate_plan" },
        );
      }
      const index = c.pause?.stepIndex ?? c.currentStep;
      const r = runAt(c, index);
      if (!r.ok) return r;
      return ok(
        r.change,
        { type: "notice", text: `${e.by.displayName} resumed ${c.id} at step ${index + 1}.`, tone: "info" },
        ...r.effects,
      );
    },
    rollback_requested: (c, e) => {
      if (!isOperator(c, e.by)) return no("not_authorised", operateRefusal(c, "Rolling back"));
      if (c.pause?.stepIndex === BEFORE_FIRST_STEP) {
        return no(
          "invalid_state",
          `${c.id} has not changed anything yet: there is nothing to roll back. Resume it, or cancel it.`,
        );
      }
      if (pastPointOfNoReturn(c)) {
        return no(
          "invalid_state",
          `${c.id} is past the point of no return: the old key is dead, there is nothing to roll back to. Resume or cancel it.`,
        );
      }
      return ok(
        c,
        { type: "notice", text: `${e.by.displayName} asked to roll back ${c.id}.`, tone: "warning" },
        { type: "rollback" },
      );
    },
    rolled_back: rolledBack,
    cancelled: cancel,
    approved: approve,
    break_glass_deadline: (c, e) => deadlinePassed(c, e.at),
    consumer_waived: waive,
    consumer_included: include,
  },
  completed: {
    approved: approve,
    break_glass_deadline: (c, e) => deadlinePassed(c, e.at),
    // a disable-local-auth change stays reversible after it completed: keys can be turned back on
    rollback_requested: (c, e) => {
      if (!isDisableLocalAuth(c)) return no("invalid_state", refusal(c, "rollback_requested"));
      if (!isOperator(c, e.by)) return no("not_authorised", operateRefusal(c, "Rolling back"));
      return ok(
        c,
        {
          type: "notice",
          text: `${e.by.displayName} asked to roll back ${c.id}: local auth of ${c.accountName} is re-enabled (disableLocalAuth=false).`,
          tone: "warning",
        },
        { type: "rollback" },
      );
    },
    rolled_back: (c, e) =>
      isDisableLocalAuth(c) ? rolledBack(c, e) : no("invalid_state", refusal(c, "rolled_back")),
  },
  completed_with_findings: {
    approved: approve,
    break_glass_deadline: (c, e) => deadlinePassed(c, e.at),
  },
  rejected: {},
  expired: {},
  cancelled: {},
  rolled_back: {},
};

function rolledBack(c: Change, e: Extract<WorkflowEvent, { type: "rolled_back" }>): TransitionResult {
  return ok(
    { ...c, state: "rolled_back", pause: null, steps: [...c.steps, e.evidence], completedAt: e.at },
    { type: "clear_timer", kind: "break_glass_deadline" },
    { type: "render" },
    {
      type: "notice",
      text: isDisableLocalAuth(c)
        ? `${c.id} rolled back: local auth of ${c.accountName} is enabled again (disableLocalAuth=false)${e.evidence.validation ? `; ${e.evidence.validation.result}` : ""}.`
        : `${c.id} rolled back: consumers' secrets point at the previous key again.`,
      tone: "warning",
    },
  );
}

function replan(c: Change, e: Extract<WorkflowEvent, { type: "plan_revalidated" }>): TransitionResult {
  if (e.plan.hash === c.plan.hash) return ok({ ...c, inventory: e.inventory });
  return ok(
    { ...c, state: "awaiting_approval", plan: e.plan, inventory: e.inventory },
    { type: "render" },
    {
      type: "notice",
      text: `Approvals of ${c.id} reset: the plan or the consumer inventory changed since they were given (plan ${c.plan.hash.slice(0, 12)} → ${e.plan.hash.slice(0, 12)}). Review the card and approve again.`,
      tone: "warning",
    },
    { type: "notify_approvers", afterTheFact: false },
  );
}

function deadlinePassed(c: Change, at: string): TransitionResult {
  if (countedApprovals(c) >= c.policy.approvalsRequired) return ok(c);
  return ok(
    { ...c, escalated: true },
    { type: "render" },
    {
      type: "notice",
      text: `ESCALATION: break-glass change ${c.id} has no approval after the fact (deadline ${c.approvalDeadline ?? at}). Approvers, review it now.`,
      tone: "danger",
    },
    { type: "notify_approvers", afterTheFact: true },
  );
}

/**
 * What really happened, in one notice: the slot consumers use, each waived consumer left on the dead
 * key by name (who waived it and why), and every finding with what to do about it.
 */
export function outcomeText(c: Change): string {
  if (isDisableLocalAuth(c)) {
    const proof = c.steps.find((s) => s.kind === "prove_keys_refused")?.validation?.result;
    const findings = c.findings ?? [];
    const done = `${c.accountName} is key-free: disableLocalAuth=true${proof ? `, ${proof}` : ""}. \`rollback ${c.id}\` turns keys back on.`;
    return findings.length
      ? `${c.id} completed WITH FINDINGS: ${done} ${findings.map((f) => `Step ${f.stepIndex + 1} (${f.kind}): ${f.what} What to do: ${f.next}`).join(" ")}`
      : `${c.id} completed: ${done}`;
  }
  const slot = c.plan.standbySlot === c.plan.activeSlot ? c.plan.activeSlot : activeAfter(c);
  const dead =
    c.plan.variant === "exposure-active-kill-now" ? `old value of ${c.plan.activeSlot}` : c.plan.activeSlot;
  const waivers = waiversOf(c);
  const except = waivers.length
    ? ` except waived ${waivers.map((w) => `${w.consumerName} (by ${w.by.displayName}: ${w.reason})`).join(", ")}, which ${waivers.length === 1 ? "still holds" : "still hold"} the dead ${dead}`
    : "";
  const rotated = `${c.accountName} rotated; consumers use ${slot}${except}.`;
  const findings = c.findings ?? [];
  if (findings.length === 0) return `${c.id} completed: ${rotated}`;
  return `${c.id} completed WITH FINDINGS: ${rotated} ${findings.map((f) => `Step ${f.stepIndex + 1} (${f.kind}): ${f.what} What to do: ${f.next}`).join(" ")}`;
}

/** The waivers of a change, with who and why (changes recorded before waivers kept only the ids). */
export function waiversOf(c: Change): readonly Waiver[] {
  const recorded = c.waivers ?? [];
  const bare = c.waivedConsumerIds
    .filter((id) => !recorded.some((w) => w.consumerId === id))
    .map((id): Waiver => ({
      consumerId: id,
      consumerName: c.inventory.consumers.find((x) => x.id === id)?.name ?? id,
      by: { platform: "console", id: "unknown", displayName: "an approver (not recorded)" },
      reason: "reason not recorded",
      at: c.createdAt,
    }));
  return [...recorded, ...bare];
}

function activeAfter(c: Change): string {
  switch (c.plan.variant) {
    case "exposure-standby":
      return c.plan.activeSlot;
    case "exposure-active-kill-now":
      return c.plan.activeSlot;
    default:
      return c.plan.standbySlot;
  }
}

function upsertStep(steps: readonly StepEvidence[], s: StepEvidence): StepEvidence[] {
  const out = steps.filter((x) => x.index !== s.index);
  out.push(s);
  return out.sort((a, b) => a.index - b.index);
}

/** Applies one event. Unknown pairs are rejected with a message that says what the state allows. */
export function transition(change: Change, event: WorkflowEvent): TransitionResult {
  const handler = TABLE[change.state][event.type] as Handler<WorkflowEvent> | undefined;
  if (!handler)
    return no(
      event.type === "approved" && change.state === "expired" ? "approval_expired" : "invalid_state",
      refusal(change, event.type),
    );
  return handler(change, event);
}

/** The events each state accepts (for help texts and tests). */
export const acceptedEvents = (state: ChangeState): WorkflowEventType[] =>
  Object.keys(TABLE[state]) as WorkflowEventType[];

/** Every event type some state takes: the events a change is replayed from (the rest are notes). */
export const WORKFLOW_EVENT_TYPES: ReadonlySet<string> = new Set(
  Object.values(TABLE).flatMap((handlers) => Object.keys(handlers)),
);

const VERBS: Partial<Record<WorkflowEventType, string>> = {
  approved: "approved",
  rejected: "rejected",
  cancelled: "cancelled",
  resumed: "resumed",
  rollback_requested: "rolled back",
  consumer_waived: "given a waiver",
  consumer_included: "given an included holder",
};

function refusal(c: Change, type: WorkflowEventType): string {
  const verb = VERBS[type] ?? `given "${type}"`;
  const what = isOpen(c.state)
    ? `is ${c.state.replaceAll("_", " ")}`
    : `is ${c.state.replaceAll("_", " ")} (closed)`;
  const hint =
    c.state === "expired"
      ? " Request the rotation again."
      : c.state === "paused"
        ? ` Use resume, rollback or cancel.`
        : c.state === "running"
          ? " Wait for it to finish or pause."
          : isOpen(c.state)
            ? ""
            : ` Start a new change with rotate if needed.`;
  return `${c.id} ${what}: it cannot be ${verb}.${hint}`;
}
