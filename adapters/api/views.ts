/**
 * What the API answers, as JSON: the same facts chat shows (`status`, a change's card), with ids and
 * ISO times instead of words. No key values exist here to leak: only fingerprints ever reach a change.
 */
import type { AccountStatus, Change } from "../../src/core/domain.js";
import { countedApprovals } from "../../src/core/policy.js";

export function statusView(s: AccountStatus, label?: string): Record<string, unknown> {
  const a = s.account;
  return {
    account: {
      id: a.id,
      name: a.name,
      kind: a.kind,
      subscriptionId: a.subscriptionId,
      resourceGroup: a.resourceGroup,
      location: a.location,
    },
    ...(label ? { label } : {}),
    owner: s.owner,
    ownerSource: s.ownerSource,
    environment: s.environment,
    localAuthAllowed: s.localAuthAllowed,
    activeSlot: s.activeSlot,
    storedIn: s.storedIn.map((x) => `${x.vaultUrl.replace(/\/+$/, "")}/secrets/${x.name}`),
    lastRotation: s.lastRotation,
    ...(s.regeneratedOutside ? { regeneratedOutside: s.regeneratedOutside } : {}),
    nextDue: s.nextDue,
    overdue: s.overdue,
    cadenceDays: s.cadenceDays,
    openChangeId: s.openChangeId,
    couldDisableLocalAuth: s.couldDisableLocalAuth,
    // as `status` shows them; secret versions, sites and caller addresses stay with `inventory` (audit role)
    consumers: s.consumers.map((c) => ({
      name: c.name,
      source: c.source,
      slot: c.slot,
      reload: c.reload,
      ...(c.owner ? { owner: c.owner } : {}),
      ...(c.known === false ? { new: true } : {}),
    })),
  };
}

/** A row of the account list (`list` in chat). */
export function briefView(s: AccountStatus): Record<string, unknown> {
  return {
    account: s.account.name,
    id: s.account.id,
    kind: s.account.kind,
    environment: s.environment,
    owner: s.owner,
    localAuthAllowed: s.localAuthAllowed,
    lastRotation: s.lastRotation,
    nextDue: s.nextDue,
    overdue: s.overdue,
    openChangeId: s.openChangeId,
  };
}

export function changeView(c: Change, urls: { self: string; thread?: string }): Record<string, unknown> {
  const steps = new Map(c.steps.map((s) => [s.index, s]));
  return {
    id: c.id,
    url: urls.self,
    ...(urls.thread ? { threadUrl: urls.thread } : {}),
    account: { id: c.accountId, name: c.accountName, kind: c.accountKind },
    state: c.state,
    ...(c.sandbox ? { label: "SANDBOX" } : {}),
    reason: c.reason,
    exposure: c.exposure ? { leakedSlot: c.leakedSlot, killNow: c.killNow } : null,
    breakGlass: c.breakGlass,
    requester: { id: c.requester.id, name: c.requester.displayName },
    createdAt: c.createdAt,
    approvalDeadline: c.approvalDeadline,
    completedAt: c.completedAt,
    plan: { variant: c.plan.variant, hash: c.plan.hash, activeSlot: c.plan.activeSlot },
    approvals: {
      required: c.policy.approvalsRequired,
      counted: countedApprovals(c),
      from: c.policy.approverNames ?? c.policy.approvers.join(", "),
      given: c.approvals.map((a) => ({
        by: { id: a.by.id, name: a.by.displayName },
        at: a.at,
        // an approval counts for the plan it was given on, never the requester's own
        forCurrentPlan: a.planHash === c.plan.hash,
        afterTheFact: a.afterTheFact,
      })),
    },
    steps: c.plan.steps.map((p) => {
      const e = steps.get(p.index);
      return {
        index: p.index,
        kind: p.kind,
        title: p.title,
        pointOfNoReturn: p.pointOfNoReturn,
        state: e?.finishedAt ? (e.outcome ?? "finished") : e ? "running" : "pending",
        ...(e?.startedAt ? { startedAt: e.startedAt } : {}),
        ...(e?.finishedAt ? { finishedAt: e.finishedAt } : {}),
        ...(e?.findings?.length ? { findings: e.findings.map((f) => ({ what: f.what, next: f.next })) } : {}),
      };
    }),
    pause: c.pause ? { code: c.pause.code, message: c.pause.message, step: c.pause.stepIndex } : null,
    waivers: (c.waivers ?? []).map((w) => ({
      consumer: w.consumerName,
      by: w.by.displayName,
      reason: w.reason,
      at: w.at,
    })),
  };
}
