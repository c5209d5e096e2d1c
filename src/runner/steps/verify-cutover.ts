import type { Consumer } from "../../core/domain.js";
import type { CallerErrors } from "../../core/ports.js";
import { KeyturnError } from "../../core/errors.js";
import { waiversOf } from "../../core/workflow.js";
import type { StepContext, StepExecutor, StepResult } from "./context.js";
import {
  callTotals,
  ownProbeCount,
  planConsumers,
  secretKey,
  stepOf,
  unauthorizedCallers,
} from "./context.js";
import { waitForData } from "./data-complete.js";
import { publishedVersion } from "./publish.js";

/**
 * The gate before the point of no return: every consumer must read the new key (proof per consumer),
 * and callers must not be failing more than before. Fails → the change pauses; the old key still works.
 */
export const verifyCutover: StepExecutor = {
  async act(ctx) {
    return gate(ctx);
  },
};

async function gate(ctx: StepContext): Promise<StepResult> {
  const { change, account, azure } = ctx;
  const published = stepOf(change, "publish");
  const targetSlot = change.plan.steps.find((s) => s.kind === "publish")?.slot ?? change.plan.standbySlot;
  const keys = await azure.accounts.listKeys(account.id);
  const target = keys[targetSlot].fingerprint;
  const after: Record<string, string> = {};
  const blockers: string[] = [];
  const notes: string[] = [];
  let literalView: Map<string, Consumer> | null = null;
  const waivers = waiversOf(change);
  const waived: string[] = [];
  let checked = 0;

  for (const c of planConsumers(change)) {
    const waiver = waivers.find((w) => w.consumerId === c.id);
    if (waiver) {
      // not checked and not moved: it stays on the old key, which dies at the next step
      after[c.id] =
        `WAIVED by ${waiver.by.displayName} (${waiver.at.replace("T", " ").slice(0, 16)} UTC): ${waiver.reason} — not checked; it keeps ${change.plan.activeSlot} and fails once ${change.plan.activeSlot} is regenerated`;
      waived.push(`${c.name} (waived by ${waiver.by.displayName}: ${waiver.reason})`);
      notes.push(
        `${c.name} was waived by ${waiver.by.displayName} (${waiver.reason}): it was not checked and keeps ${change.plan.activeSlot}, so it fails with 401 once ${change.plan.activeSlot} is regenerated`,
      );
      continue;
    }
    checked++;
    const want = c.secret
      ? publishedVersion(published?.after, secretKey(c.secret.vaultUrl, c.secret.name))
      : undefined;
    if (c.siteId && c.secret) {
      let active = await azure.consumers.activeVersion(c);
      if (want && active !== want.version && c.reload === "refreshable") {
        // the refresh of the move step may have failed (or been throttled): ask again, it is idempotent
        const again = await azure.consumers.refresh(c).catch(() => false);
        if (again) active = await azure.consumers.activeVersion(c);
        if (active !== want.version)
          notes.push(
            `${c.name}: refresh requested again; it reads the new version once App Service applies it`,
          );
      }
      after[c.id] = `uses version ${active ?? "unknown"}`;
      if (!want || active !== want.version) {
        blockers.push(
          c.reload === "pinned"
            ? `${c.name} pins version ${active ?? c.secret.version ?? "?"} of ${c.secret.name}: re-pin it to ${want?.version ?? "the new version"} or have an approver waive it`
            : `${c.name} still uses version ${active ?? "unknown"} of ${c.secret.name}, not ${want?.version ?? "the new one"} (its refresh was requested: resume in a minute)`,
        );
      }
    } else if (c.secret) {
      const { value, info } = await azure.secrets.getSecret({
        vaultUrl: c.secret.vaultUrl,
        name: c.secret.name,
      });
      after[c.id] = `${info.locator.version} ${value.fingerprint}`;
      if (value.fingerprint !== target)
        blockers.push(`${c.secret.name} does not hold ${targetSlot} (${value.fingerprint})`);
    } else if (c.source === "app-setting-literal") {
      literalView ??= new Map((await azure.inventory.take(account)).consumers.map((x) => [x.id, x]));
      const now = literalView.get(c.id);
      after[c.id] = now ? `holds ${now.slot}` : "no longer found";
      if (now && now.slot !== targetSlot)
        blockers.push(
          `${c.name} still holds a literal copy of ${now.slot}: its owner must update it, or an approver waives it`,
        );
    } else {
      after[c.id] = "cannot be verified";
      notes.push(`${c.name} (${c.source}) cannot be verified by keyturn; the soak window watches for 401s`);
    }
  }

  const spike = await errorSpike(ctx, published?.finishedAt ?? published?.startedAt);
  if (spike.blocker) blockers.push(spike.blocker);
  if (spike.note) notes.push(spike.note);
  if (spike.data) notes.push(spike.data);
  const waivedText = waived.length ? `; NOT checked, waived: ${waived.join(", ")}` : "";
  const summary =
    blockers.length === 0
      ? `${checked === 0 ? "no consumer checked" : `all ${checked} checked consumer(s) read ${targetSlot} (${target})`}${waivedText}; no error spike`
      : blockers.join("; ") + waivedText;
  for (const id of change.plan.excludedConsumerIds ?? []) {
    if (change.includedConsumerIds?.includes(id)) continue;
    const c = change.inventory.consumers.find((x) => x.id === id);
    after[id] = "NEW holder excluded: not delivered to, not checked";
    notes.push(
      `${c?.name ?? id} is a NEW holder this change excluded: it keeps the old key, and that copy stops working once the old key is regenerated`,
    );
  }

  const result: StepResult = {
    after,
    validation: {
      query:
        "per consumer: App Service configreferences activeVersion / Key Vault current version / app setting fingerprint; metrics ClientErrors since publish",
      result: summary,
      passed: blockers.length === 0,
    },
    notes,
  };
  if (blockers.length > 0)
    throw new GateFailed(
      `Cutover check failed: ${summary}. Fix it, then resume ${change.id}; or roll back (the old key still works).`,
      result,
    );
  return result;
}

/**
 * Callers failing more since publish than before it. Monitor counts errors in one-minute buckets, so
 * callers that were already failing before publish (an unmanaged copy a previous rotation cut off)
 * land "after" it too; where Log Analytics names the callers, those already failing in the 15 minutes
 * before publish are not this rotation's doing, and only new ones hold the gate.
 */
async function errorSpike(
  ctx: StepContext,
  sinceIso: string | undefined,
): Promise<{ blocker: string | null; note: string | null; data?: string }> {
  const none = { blocker: null, note: null };
  if (!sinceIso) return none;
  const pre = stepOf(ctx.change, "preflight");
  const baselineErrors = Number(pre?.after?.baselineClientErrors ?? "0");
  const from = new Date(sinceIso);
  const to = ctx.clock.now();
  // the metrics of the window's last minutes arrive late: judge it once they are in
  const waited = await waitForData(ctx, to, ["metrics"]);
  let data = waited.note;
  let errors: number;
  try {
    errors = (await callTotals(ctx, from, to)).clientErrors;
  } catch {
    return none; // metrics are evidence, not a gate, when they cannot be read
  }
  const minutes = Math.max(1, (to.getTime() - from.getTime()) / 60_000);
  const allowed =
    Math.max(5, 2 * (baselineErrors / 15) * minutes) + ownProbeCount(ctx.change) + baselineErrors;
  if (errors <= allowed) return { ...none, ...(data ? { data } : {}) };
  const blocker = `${errors} client errors since publish (baseline ${baselineErrors} per 15 min): callers are failing`;
  // the logs excuse callers already failing before publish: a new caller's rows must be in first
  if (ctx.azure.telemetry.unauthorizedCallers) data = (await waitForData(ctx, to, ["logs"])).note;
  const logs = await unauthorizedCallers(ctx, { from, to }, from);
  if (!logs) return { blocker, note: null, ...(data ? { data } : {}) };
  const { since, before: earlier } = logs;
  const fresh = since.filter((c) => !earlier.has(c.callerIp));
  const list = (l: readonly CallerErrors[]) => l.map((c) => `${c.callerIp} × ${c.count}`).join(", ");
  const withData = data ? { data } : {};
  if (since.length > 0 && fresh.length === 0)
    return {
      blocker: null,
      note: `${errors} client errors since publish come from callers already failing before it (${list(since)}): not this rotation's doing; find and fix them`,
      ...withData,
    };
  return {
    blocker: fresh.length ? `${blocker}; new 401 callers: ${list(fresh)}` : blocker,
    note: null,
    ...withData,
  };
}

/** A gate that did not pass: the step's evidence goes with it. */
export class GateFailed extends KeyturnError {
  constructor(
    message: string,
    readonly result: StepResult,
  ) {
    super("gate_failed", message);
  }
}
