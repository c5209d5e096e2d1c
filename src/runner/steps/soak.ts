import type { Change, Consumer, Finding } from "../../core/domain.js";
import type { CallerErrors } from "../../core/ports.js";
import { waiversOf } from "../../core/workflow.js";
import type { StepContext, StepExecutor, StepResult } from "./context.js";
import { callTotals, ownProbeCount, stepOf, unauthorizedCallers } from "./context.js";
import { waitForData } from "./data-complete.js";

/**
 * After the old key died: watch for 401s and say whose they are. A holder the change chose to
 * leave on the old key (a waived consumer, an excluded NEW holder) fails as expected and is named;
 * callers already failing before this change began are another rotation's doing; anyone else is a
 * finding — an unknown consumer, or an attacker, still holds the old key — and the change ends
 * `completed_with_findings` with what to do. Nothing to roll back: it informs.
 */
export const soak: StepExecutor = {
  async act({ clock }) {
    return { after: { soakStartedAt: clock.now().toISOString() } };
  },
  async check(ctx, acted) {
    const { change, account, azure, clock } = ctx;
    const killed = stepOf(change, "regenerate_old") ?? stepOf(change, "kill_leaked");
    // the window opens a second after the kill: keyturn's own dead-key probe (made just before) must not
    // count as a caller, even where a query's start is rounded down to the second
    const from = new Date(Date.parse(killed?.finishedAt ?? acted.startedAt) + 1000);
    const to = clock.now();
    // judge the window only once Azure Monitor has its data: a 401 in the last minutes lands late
    const data = await waitForData(
      ctx,
      to,
      ctx.azure.telemetry.unauthorizedCallers ? ["metrics", "logs"] : ["metrics"],
    );
    let errors = 0;
    let calls = 0;
    let metricsRead = true;
    try {
      ({ clientErrors: errors, calls } = await callTotals({ azure, account }, from, to));
    } catch {
      metricsRead = false;
    }
    const logs = await callersSince(ctx, from, to);
    const expected = expectedHolders(change);
    const attributed = new Map<string, CallerErrors[]>(); // holder name → its 401s
    const unexplained: CallerErrors[] = [];
    const earlier: CallerErrors[] = [];
    for (const c of logs?.since ?? []) {
      const holder = expected.find((h) => h.ips.includes(c.callerIp));
      if (holder) attributed.set(holder.label, [...(attributed.get(holder.label) ?? []), c]);
      else if (logs?.before.has(c.callerIp)) earlier.push(c);
      else unexplained.push(c);
    }
    const explainedCount = [...attributed.values(), earlier].flat().reduce((n, c) => n + c.count, 0);
    const ownProbes = ownProbeCount(change);
    const pre = stepOf(change, "preflight");
    const minutes = Math.max(1, (to.getTime() - from.getTime()) / 60_000);
    const allowed =
      ownProbes + explainedCount + 2 * (Number(pre?.after?.baselineClientErrors ?? "0") / 15) * minutes;
    const list = (l: readonly CallerErrors[]) =>
      l.map((c) => `${c.callerIp} (${c.operation}) × ${c.count}`).join(", ");
    const dead = change.plan.variant === "exposure-active-kill-now" ? "the old value of" : "the dead";
    const explained = [
      ...[...attributed.entries()].map(
        ([label, l]) =>
          `${list(l)} from ${label}, which still holds ${dead} ${change.plan.activeSlot}: expected`,
      ),
      ...(earlier.length
        ? [`${list(earlier)} already failing before this change began: not this rotation's doing`]
        : []),
    ];
    const unnamedErrors = metricsRead && logs !== null ? 0 : Math.max(0, errors - allowed);
    // Monitor counts in one-minute buckets, so the window's first bucket holds errors from before the
    // cut; where the logs name every 401 caller of the window itself, they decide
    const bucketNote =
      metricsRead && logs !== null && unexplained.length === 0 && errors > allowed
        ? `ClientErrors in the window's one-minute buckets (${errors}) exceed the 401s the logs name since the cut (${explainedCount}): the first bucket holds errors from before it, and the logs name no other caller`
        : null;
    const findings: Finding[] = [];
    const at = { stepIndex: ctx.index, kind: "soak" as const };
    if (unexplained.length > 0) {
      findings.push({
        ...at,
        what: `401s since the old key died from callers no consumer explains: ${list(unexplained)}. An unknown consumer, or an attacker, still holds the old key${unplaced(change)}.`,
        next: `Find who calls from ${unexplained.map((c) => c.callerIp).join(", ")} (network owner, AzureDiagnostics); the old key stays dead. Give them the new key only through an approved consumer, and if the new key may be in the same unknown hands, rotate again with --exposure.`,
      });
    } else if (metricsRead && errors > allowed && logs === null) {
      findings.push({
        ...at,
        what: `${errors} client errors since the old key died (${Math.round(allowed)} explained); the callers are not named (Log Analytics is not configured or could not be read).`,
        next: `Look up the callers failing with 401 on ${change.accountName} (AzureDiagnostics, CallerIPAddress); if anyone outside the known consumers holds the key, rotate again with --exposure.`,
      });
    } else if (!metricsRead && logs === null) {
      findings.push({
        ...at,
        what: "the soak could not read the account's metrics or its logs: nobody checked for callers still holding the old key.",
        next: `Check ${change.accountName}'s ClientErrors in Azure Monitor for the soak window; if anyone still calls with the old key, find them and rotate again if the new key may be in their hands too.`,
      });
    }
    const summary = !metricsRead
      ? `metrics could not be read${logs ? `; 401 callers in the logs: ${list(logs.since) || "none"}` : ""}`
      : `${calls} calls, ${errors} client error(s) since the old key died (${ownProbes} from keyturn's own dead-key probes)`;
    const result = [
      summary,
      ...(data.note ? [data.note] : []),
      ...explained,
      ...(bucketNote ? [bucketNote] : []),
      ...(unexplained.length ? [`401 callers no consumer explains: ${list(unexplained)}`] : []),
      ...(findings.length === 0 && unnamedErrors === 0 && explained.length === 0
        ? ["no one else is using the old key"]
        : []),
    ].join("; ");
    const after: Record<string, string> = { clientErrors: String(errors), calls: String(calls) };
    if (data.note) after["data complete at"] = data.completeAt.toISOString();
    for (const [label, l] of attributed) after[`401 from ${label}`] = list(l);
    if (earlier.length) after["401 from callers failing before this change"] = list(earlier);
    if (unexplained.length) after["401 from unexplained callers"] = list(unexplained);
    const out: StepResult = {
      after,
      validation: {
        query:
          "metrics ClientErrors, TotalCalls since the old key died; AzureDiagnostics 401s by CallerIPAddress, matched to waived and excluded holders' outbound addresses",
        result,
        passed: findings.length === 0,
      },
      ...(data.complete ? {} : { notes: [data.note] }),
      ...(findings.length
        ? {
            findings,
            alert: `Soak of ${change.id}: ${findings.map((f) => `${f.what} What to do: ${f.next}`).join(" ")}`,
          }
        : {}),
    };
    return out;
  },
};

/** 401 callers since the cut, and the addresses already failing before the change touched a key (null: no logs). */
function callersSince(ctx: StepContext, from: Date, to: Date) {
  // the first step that changed anything (after the preflight): before it, no failure was this change's doing
  const began = ctx.change.steps.find((s) => s.index === 1)?.startedAt;
  return unauthorizedCallers(ctx, { from, to }, began ? new Date(began) : from);
}

/** Holders the change left on the old key on purpose, with the addresses their calls come from. */
function expectedHolders(change: Change): { label: string; ips: readonly string[] }[] {
  const byId = (id: string): Consumer | undefined => change.inventory.consumers.find((c) => c.id === id);
  const waived = waiversOf(change).map((w) => ({
    label: `waived ${w.consumerName} (by ${w.by.displayName}: ${w.reason})`,
    ips: byId(w.consumerId)?.callerIps ?? [],
  }));
  const excluded = (change.plan.excludedConsumerIds ?? [])
    .filter((id) => !change.includedConsumerIds?.includes(id))
    .map((id) => ({ label: `excluded NEW holder ${byId(id)?.name ?? id}`, ips: byId(id)?.callerIps ?? [] }));
  return [...waived, ...excluded].filter((h) => h.ips.length > 0);
}

/** Waived holders whose addresses keyturn does not know: their 401s cannot be told from anyone else's. */
function unplaced(change: Change): string {
  const names = waiversOf(change)
    .filter((w) => !change.inventory.consumers.find((c) => c.id === w.consumerId)?.callerIps?.length)
    .map((w) => w.consumerName);
  return names.length
    ? ` (or waived ${names.join(", ")}, whose addresses keyturn does not know, so its 401s cannot be told apart)`
    : "";
}
