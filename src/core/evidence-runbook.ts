/**
 * The runbook's five questions, for the change and for each step: the state before, the state
 * expected after (derived from the plan and the state before), the state actually recorded after,
 * the validation query and its result, the owner, and the rollback note. Expected and actual sit
 * side by side as checks, so a reader sees at once where they differ. Fingerprints only.
 */
import type { Change, KeySlot, PlanStep } from "./domain.js";

import { expectedFor } from "./evidence-expected.js";
import { keyFreeRunbook } from "./evidence-key-free.js";
import { isDisableLocalAuth } from "./domain.js";
import {
  activeAfter,
  excluded,
  fingerprintAt,
  fingerprintsBefore,
  fpOf,
  NOT_RECORDED,
  planned,
  plannedSecrets,
  short,
  stepAt,
} from "./evidence-state.js";

export { NOT_RECORDED } from "./evidence-state.js";

/** One expectation: what the plan says the state should be after, what was recorded, and whether they agree. */
export interface ExpectedCheck {
  readonly item: string;
  readonly expected: string;
  readonly actual: string | null; // null = not recorded
  readonly met: boolean | null; // null = not machine-checkable (or not run): read expected beside actual
}

export interface Validation {
  readonly query: string;
  readonly result: string;
  readonly passed: boolean;
}

export interface RunbookAnswer {
  readonly before: Readonly<Record<string, string>>;
  readonly expectedAfter: readonly ExpectedCheck[];
  readonly actualAfter: Readonly<Record<string, string>>;
  readonly validation: readonly Validation[];
  readonly owner: string;
  readonly rollback: string;
}

export interface StepRunbook extends RunbookAnswer {
  readonly index: number;
  readonly kind: PlanStep["kind"];
  readonly title: string;
  readonly status: string; // succeeded | failed | gate_failed | running | not run
  readonly performedBy: string | null;
}

/** The account owner as `ownerFor` resolves it: from the account's owner tag, else from the policy. */
export interface OwnerInfo {
  readonly owner: string;
  readonly source: string; // "tag" | "policy"
}

export const ownerText = (o: OwnerInfo | null | undefined): string =>
  o ? `${o.owner} (${o.source === "tag" ? "the account's owner tag" : `the ${o.source}`})` : NOT_RECORDED;

/** The owner of a step: the account owner, and for moving consumers the owners of those a person must move. */
function stepOwner(change: Change, p: PlanStep, owner: string): string {
  if (p.kind !== "move_consumers") return owner;
  const theirs = planned(change)
    .filter((c) => c.owner && c.reload !== "versionless" && c.reload !== "refreshable")
    .map((c) => `${c.name}: ${c.owner}`);
  return theirs.length ? `${owner}; consumer owners ${theirs.join(", ")}` : owner;
}

/** The runbook answers for each planned step. */
export function stepRunbooks(change: Change, owner: string): StepRunbook[] {
  return change.plan.steps.map((p) => {
    const s = stepAt(change, p.index);
    return {
      index: p.index,
      kind: p.kind,
      title: p.title,
      status: s ? (s.outcome ?? (s.actedAt ? "acted, window running" : "running")) : "not run",
      performedBy: s?.actor ?? null,
      before: s?.before ?? beforeOf(change, p),
      expectedAfter: expectedFor(change, p, s),
      actualAfter: s?.after ?? {},
      validation: s?.validation ? [s.validation] : [],
      owner: stepOwner(change, p, owner),
      rollback: s?.rollback ?? p.rollback,
    };
  });
}

/** A step's "before" when the step recorded none: the fingerprints as earlier steps left them. */
function beforeOf(change: Change, p: PlanStep): Record<string, string> {
  const out: Record<string, string> = {};
  for (const slot of ["key1", "key2"] as const) {
    const v = fingerprintAt(change, slot, p.index);
    if (v) out[slot] = v;
  }
  return out;
}

/** The runbook answers for the change as a whole. */
export function changeRunbook(change: Change, owner: string): RunbookAnswer {
  if (isDisableLocalAuth(change)) return keyFreeRunbook(change, owner);
  const before: Record<string, string> = {};
  const fps = fingerprintsBefore(change);
  for (const slot of ["key1", "key2"] as const) if (fps[slot]) before[slot] = fps[slot]!;
  before["active slot"] = change.plan.activeSlot;
  const pub = change.steps.find((s) => s.kind === "publish");
  for (const sec of plannedSecrets(change))
    before[`secret ${sec.name}`] = pub?.before?.[sec.key] ?? NOT_RECORDED;
  before.consumers = `${planned(change).length} planned, ${excluded(change).length} excluded NEW holder(s), ${change.inventory.unseen.length} source(s) not seen`;

  const active = activeAfter(change);
  const last = change.plan.steps.length;
  const expectedAfter: ExpectedCheck[] = [];
  const regenerated = change.plan.steps.filter((p) => p.slot && p.kind !== "publish");
  const complete = change.steps.find((s) => s.kind === "complete");
  // completed, with or without findings: the whole plan ran
  const finished = (["completed", "completed_with_findings"] as string[]).includes(change.state);
  const finalFp = (slot: KeySlot) =>
    complete?.after?.[slot] ?? (finished ? fingerprintAt(change, slot, last) : undefined);
  for (const slot of ["key1", "key2"] as const) {
    const moved = regenerated.some((p) => p.slot === slot);
    const was = fps[slot];
    const got = finalFp(slot);
    expectedAfter.push({
      item: slot,
      expected: moved ? `a new fingerprint (not ${short(was)})` : `unchanged: ${short(was)}`,
      actual: got ?? null,
      met: got ? (moved ? got !== was : got === was) : null,
    });
  }
  const gotActive = complete?.after?.activeSlot;
  expectedAfter.push({
    item: "active slot",
    expected: active,
    actual: gotActive ?? null,
    met: gotActive ? gotActive === active : null,
  });
  const publishStep = change.plan.steps.find((p) => p.kind === "publish");
  if (publishStep) {
    const target = fingerprintAt(change, publishStep.slot ?? active, publishStep.index);
    const pubEv = stepAt(change, publishStep.index);
    for (const sec of plannedSecrets(change)) {
      const got = pubEv?.after?.[sec.key];
      expectedAfter.push({
        item: `secret ${sec.name}`,
        expected: `holds ${publishStep.slot ?? active} (${short(target)})`,
        actual: got ?? null,
        met: got && target ? fpOf(got) === target : null,
      });
    }
  }
  for (const c of excluded(change))
    expectedAfter.push({
      item: c.name,
      expected: "keeps the old key (NEW holder, excluded): its copy stops working",
      actual: null,
      met: null,
    });
  for (const id of change.waivedConsumerIds) {
    const c = change.inventory.consumers.find((x) => x.id === id);
    expectedAfter.push({
      item: c?.name ?? id,
      expected: "waived: not moved by keyturn; its 401s after the cut are expected",
      actual: null,
      met: null,
    });
  }

  const validation: Validation[] = [];
  for (const p of change.plan.steps) {
    const s = stepAt(change, p.index);
    if (
      s?.validation &&
      ["regenerate_standby", "regenerate_old", "kill_leaked", "verify_cutover", "soak", "complete"].includes(
        p.kind,
      )
    )
      validation.push({ ...s.validation, query: `step ${p.index + 1}: ${s.validation.query}` });
  }
  const rolled = change.steps.find((s) => s.index >= last);
  if (rolled?.validation)
    validation.push({ ...rolled.validation, query: `rollback: ${rolled.validation.query}` });

  return {
    before,
    expectedAfter,
    actualAfter: actualOf(change),
    validation,
    owner,
    rollback: rollbackOf(change),
  };
}

function actualOf(change: Change): Record<string, string> {
  const out: Record<string, string> = { state: change.state };
  const complete = change.steps.find((s) => s.kind === "complete");
  for (const [k, v] of Object.entries(complete?.after ?? {})) out[k] = v;
  if (!complete) {
    for (const slot of ["key1", "key2"] as const) {
      const v = fingerprintAt(change, slot, change.plan.steps.length);
      if (v) out[slot] = `${v} (last recorded)`;
    }
  }
  const rolled = change.steps.find((s) => s.index >= change.plan.steps.length);
  for (const [k, v] of Object.entries(rolled?.after ?? {})) out[`after rollback ${k}`] = v;
  return out;
}

/** What an operator can still do: the rollback note of the furthest step that ran (the point of no return's, once passed). */
function rollbackOf(change: Change): string {
  if (change.state === "rolled_back") return "rolled back: the secrets hold the previous key again";
  const ran = change.steps
    .filter((s) => s.index < change.plan.steps.length)
    .sort((a, b) => b.index - a.index)[0];
  if (!ran) return "nothing changed: nothing to roll back";
  const cut = change.plan.steps.find((x) => x.pointOfNoReturn);
  const cutEv = cut ? stepAt(change, cut.index) : undefined;
  if (cut && (cutEv?.actedAt || cutEv?.outcome === "succeeded")) return cut.rollback;
  return change.plan.steps[ran.index]?.rollback ?? ran.rollback;
}
