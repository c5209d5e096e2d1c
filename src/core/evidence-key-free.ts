/**
 * The evidence of a `disable-local-auth` change: not a rotation, so no slot moves and no fingerprint
 * changes. What each step is expected to leave (no key holder; ARM reads disableLocalAuth=true; a
 * keyed data-plane call refused) and the change's five runbook answers.
 */
import type { Change, PlanStep, StepEvidence } from "./domain.js";
import type { ExpectedCheck, RunbookAnswer, Validation } from "./evidence-runbook.js";
import { NOT_RECORDED, stepAt } from "./evidence-state.js";

export function keyFreeExpected(change: Change, p: PlanStep, s: StepEvidence | undefined): ExpectedCheck[] {
  const ran = !!s?.finishedAt || !!s?.actedAt;
  const checks: ExpectedCheck[] = [];
  const check = (item: string, expected: string, actual: string | null | undefined, met: boolean | null) =>
    checks.push({ item, expected, actual: actual ?? null, met: actual == null || !ran ? null : met });
  switch (p.kind) {
    case "key_free_preflight": {
      check("key holders", "none remains", s?.after?.keyHolders, s?.after?.keyHolders === "0");
      for (const slot of ["key1", "key2"] as const) {
        const want = change.inventory.fingerprints?.[slot];
        const got = s?.after?.[slot];
        check(slot, want ? `unchanged since planning: ${want}` : "read", got, want ? got === want : true);
      }
      break;
    }
    case "disable_local_auth":
      check(
        "disableLocalAuth",
        "true, as ARM reads it back",
        s?.after?.disableLocalAuth,
        s?.after?.disableLocalAuth === "true",
      );
      break;
    case "prove_keys_refused":
      check(
        "data-plane call with a key",
        "refused (403 AuthenticationTypeDisabled, or 401)",
        s?.validation?.result,
        s?.validation?.passed ?? null,
      );
      break;
    case "key_free_complete":
      check(
        "disableLocalAuth",
        "true: the account is key-free",
        s?.after?.disableLocalAuth,
        s?.after?.disableLocalAuth === "true",
      );
      break;
    default:
      break;
  }
  return checks;
}

export function keyFreeRunbook(change: Change, owner: string): RunbookAnswer {
  const last = change.plan.steps.length;
  const pre = change.steps.find((s) => s.kind === "key_free_preflight");
  const done = change.steps.find((s) => s.kind === "key_free_complete");
  const rolled = change.steps.find((s) => s.index >= last);
  const before: Record<string, string> = {
    disableLocalAuth: "false (keys allowed)",
    "key holders": String(change.inventory.consumers.filter((c) => c.source !== "listkeys-caller").length),
  };
  for (const slot of ["key1", "key2"] as const) {
    const fp = pre?.after?.[slot] ?? change.inventory.fingerprints?.[slot];
    if (fp) before[slot] = fp;
  }
  if (pre?.after?.keyCalls !== undefined)
    before["key-authenticated calls (24 h)"] =
      `${pre.after.keyCalls} by key, ${pre.after.tokenCalls ?? "?"} by Entra token`;
  const expectedAfter: ExpectedCheck[] = [
    {
      item: "disableLocalAuth",
      expected: "true: keys refused, Microsoft Entra ID only",
      actual: done?.after?.disableLocalAuth ?? null,
      met: done?.after?.disableLocalAuth ? done.after.disableLocalAuth === "true" : null,
    },
  ];
  if (rolled)
    expectedAfter.push({
      item: "after rollback: disableLocalAuth",
      expected: "false: keys work again",
      actual: rolled.after?.disableLocalAuth ?? null,
      met: rolled.after?.disableLocalAuth ? rolled.after.disableLocalAuth === "false" : null,
    });
  const validation: Validation[] = [];
  for (const p of change.plan.steps) {
    const s = stepAt(change, p.index);
    if (s?.validation)
      validation.push({ ...s.validation, query: `step ${p.index + 1}: ${s.validation.query}` });
  }
  if (rolled?.validation)
    validation.push({ ...rolled.validation, query: `rollback: ${rolled.validation.query}` });
  const actualAfter: Record<string, string> = { state: change.state };
  for (const [k, v] of Object.entries(done?.after ?? {})) actualAfter[k] = v;
  for (const [k, v] of Object.entries(rolled?.after ?? {})) actualAfter[`after rollback ${k}`] = v;
  const ranAny = change.steps.some((s) => s.index > 0 && s.index < last);
  return {
    before,
    expectedAfter,
    actualAfter,
    validation,
    owner,
    rollback:
      change.state === "rolled_back"
        ? "rolled back: local auth enabled again (disableLocalAuth=false), keys work"
        : ranAny
          ? `\`rollback ${change.id}\` re-enables local auth (disableLocalAuth=false): keys work again`
          : change.steps.length
            ? "nothing changed yet: nothing to roll back"
            : NOT_RECORDED,
  };
}
