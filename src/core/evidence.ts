/**
 * The evidence pack of a change: Markdown for people, JSON (`keyturn.evidence/v1`) for tools.
 * Every step with fingerprints, validation and rollback notes; every approval; the whole event
 * chain with hashes and the verification result. Fingerprints only, never key values.
 */
import type { Change } from "./domain.js";
import { holderMark } from "./known-holders.js";
import type { StoredEvent, VerifyResult } from "./ports.js";

/** "TAMPERED: event 4 — …", without repeating the event when the store's problem already names it. */
export function tamperText(r: Extract<VerifyResult, { ok: false }>): string {
  const named = r.problem.toLowerCase().startsWith(`event ${r.firstBadSeq}`);
  return named ? `TAMPERED: ${r.problem}` : `TAMPERED: event ${r.firstBadSeq} — ${r.problem}`;
}

/** Events that interrupt or redirect a change: a reviewer reads them as the pause/resume history. */
const HISTORY_TYPES = new Set([
  "step_failed",
  "revalidation_failed",
  "resumed",
  "consumer_waived",
  "consumer_included",
  "rollback_requested",
  "rolled_back",
  "cancelled",
  "rejected",
  "expired",
  "plan_revalidated",
  "break_glass_deadline",
]);

export interface HistoryEntry {
  readonly seq: number;
  readonly at: string;
  readonly type: string;
  readonly actor: string | null;
  readonly detail: string;
}

/** The pause/resume history of a change, from its events. */
export function pauseHistory(events: readonly StoredEvent[]): HistoryEntry[] {
  return events
    .filter((e) => HISTORY_TYPES.has(e.type))
    .map((e) => {
      const p = (e.payload ?? {}) as Record<string, unknown>;
      const str = (k: string): string | undefined => {
        const v = p[k];
        return typeof v === "string" ? v : undefined;
      };
      const step = typeof p.index === "number" ? `step ${p.index + 1}` : undefined;
      const detail =
        e.type === "step_failed"
          ? `paused at ${step ?? "a step"} (${str("code") ?? "failed"}): ${str("message") ?? ""}`
          : e.type === "revalidation_failed"
            ? `paused before the first step (${str("code") ?? "failed"}): ${str("message") ?? ""}`
            : e.type === "consumer_included"
              ? `included NEW holder ${str("consumerId") ?? "a consumer"}${str("reason") ? `: ${str("reason")}` : ""}`
              : e.type === "consumer_waived"
                ? `waived ${str("consumerId") ?? str("consumer") ?? "a consumer"}${str("reason") ? `: ${str("reason")}` : ""}`
                : [e.type.replace(/_/g, " "), step, str("reason")].filter(Boolean).join(" — ");
      return { seq: e.seq, at: e.at, type: e.type, actor: e.actor, detail: detail.trim() };
    });
}

export function buildEvidence(
  change: Change,
  events: readonly StoredEvent[],
  verify: VerifyResult,
  opts: { label?: string | undefined; generatedAt: string },
): { markdown: string; json: string; filenameBase: string } {
  const json = JSON.stringify(
    {
      schema: "keyturn.evidence/v1",
      generatedAt: opts.generatedAt,
      label: opts.label ?? null,
      change: {
        id: change.id,
        account: { id: change.accountId, name: change.accountName, kind: change.accountKind },
        state: change.state,
        reason: change.reason,
        exposure: change.exposure,
        leakedSlot: change.leakedSlot,
        breakGlass: change.breakGlass,
        requester: change.requester,
        createdAt: change.createdAt,
        completedAt: change.completedAt,
        policy: change.policy,
      },
      plan: change.plan,
      inventory: change.inventory,
      approvals: change.approvals,
      waivers: change.waivedConsumerIds,
      newHolders: newHolders(change),
      steps: change.steps,
      history: pauseHistory(events),
      events: events.map((e) => ({
        seq: e.seq,
        type: e.type,
        at: e.at,
        actor: e.actor,
        prevHash: e.prevHash,
        hash: e.hash,
        payload: e.payload,
      })),
      chain: verify,
    },
    null,
    2,
  );
  const md: string[] = [];
  md.push(
    `# Evidence — ${change.id}: rotate ${change.accountName}${opts.label ? ` (${opts.label})` : ""}`,
    "",
  );
  md.push(
    `Generated ${opts.generatedAt}. Key values never appear here: keys are identified by fingerprint (sha256 prefix).`,
    "",
  );
  md.push("## Change", "");
  md.push(`| | |`, `|---|---|`);
  for (const [k, v] of [
    ["Account", `${change.accountName} (${change.accountKind})`],
    ["Resource id", change.accountId],
    ["State", change.state],
    ["Reason", change.reason],
    ["Exposure", change.exposure ? `yes, leaked key: ${change.leakedSlot ?? "unknown"}` : "no"],
    ["Break-glass", change.breakGlass ? "YES" : "no"],
    ["Requested by", `${change.requester.displayName} (${change.requester.id}) at ${change.createdAt}`],
    ["Completed", change.completedAt ?? "—"],
    [
      "Policy",
      `${change.policy.name}: ${change.policy.approvalsRequired} approval(s) from ${change.policy.approvers.join(", ")}`,
    ],
    ["Plan", `${change.plan.variant}, hash ${change.plan.hash}`],
  ])
    md.push(`| ${k} | ${cell(String(v))} |`);
  md.push("", "## Approvals", "");
  if (!change.approvals.length) md.push("None.");
  for (const a of change.approvals)
    md.push(
      `- ${a.by.displayName} (${a.by.id}) at ${a.at}, plan ${a.planHash.slice(0, 12)}${a.planHash !== change.plan.hash ? " — for an earlier plan, not counted" : ""}${a.afterTheFact ? " — after the fact" : ""}`,
    );
  if (change.waivedConsumerIds.length)
    md.push("", `Waived consumers: ${change.waivedConsumerIds.join(", ")}`);
  md.push("", "## Blast radius", "");
  for (const c of change.inventory.consumers) {
    const mark = holderMark(change, c);
    md.push(
      `- ${c.name} — ${c.source}, uses ${c.slot}, ${c.reload}: ${c.evidence}${mark ? ` — ${mark}` : ""}`,
    );
  }
  if (!change.inventory.consumers.length) md.push("- no consumer found");
  const pinned = change.plan.pinnedConsumerIds;
  if (pinned.length)
    md.push(`- pinned (block the cutover check until re-pinned or waived): ${pinned.join(", ")}`);
  if (change.inventory.services.length)
    md.push(
      `- services by ApiName: ${change.inventory.services.map((s) => `${s.apiName} (${s.calls} calls)`).join(", ")}`,
    );
  for (const u of change.inventory.unseen) md.push(`- could not see: ${u}`);
  const fresh = newHolders(change);
  if (fresh.length) {
    md.push("", "## NEW holders (found for the first time)", "");
    for (const h of fresh)
      md.push(
        `- ${h.name} (${h.id}): ${h.delivered ? (h.included ? "included by an approver, delivered to" : "delivered to (standard rotation)") : "EXCLUDED: received nothing"}; created ${h.createdAt ?? "—"} by ${h.createdBy ?? "unknown creator"}`,
      );
  }
  md.push("", "## Steps", "");
  for (const p of change.plan.steps) {
    const s = change.steps.find((x) => x.index === p.index);
    md.push(`### ${p.index + 1}. ${p.title}${p.pointOfNoReturn ? " — point of no return" : ""}`, "");
    if (!s) {
      md.push("Not run.", "");
      continue;
    }
    md.push(
      `- Outcome: ${s.outcome ?? "not finished"}; actor ${s.actor}; started ${s.startedAt}; finished ${s.finishedAt ?? "—"}`,
    );
    for (const [k, v] of Object.entries(s.before ?? {})) md.push(`- Before ${k}: ${v}`);
    for (const [k, v] of Object.entries(s.after ?? {})) md.push(`- After ${k}: ${v}`);
    if (s.validation)
      md.push(
        `- Validation query: ${s.validation.query}`,
        `- Validation result (${s.validation.passed ? "passed" : "NOT passed"}): ${s.validation.result}`,
      );
    for (const n of s.notes ?? []) md.push(`- Note: ${n}`);
    md.push(`- Rollback: ${s.rollback}`, "");
  }
  md.push("## Pauses, resumptions and rollbacks", "");
  const history = pauseHistory(events);
  if (!history.length) md.push("None: the change was never paused.");
  for (const h of history)
    md.push(`- ${h.at} (event ${h.seq}) ${h.actor ?? "keyturn"}: ${oneLine(h.detail)}`);
  md.push("");
  md.push("## Event chain", "");
  md.push(
    verify.ok ? `Verified: ${verify.events} events in the log, head ${verify.head}.` : tamperText(verify),
    "",
  );
  md.push("| seq | time | type | actor | prev hash | hash |", "|---|---|---|---|---|---|");
  for (const e of events)
    md.push(
      `| ${e.seq} | ${e.at} | ${cell(e.type)} | ${cell(e.actor ?? "")} | ${e.prevHash.slice(0, 16)} | ${e.hash.slice(0, 16)} |`,
    );
  return { markdown: md.join("\n") + "\n", json, filenameBase: `keyturn-evidence-${change.id}` };
}

/** NEW holders of a change's key: who they are, where their copy came from, whether they received the new key. */
function newHolders(change: Change) {
  return change.inventory.consumers
    .filter((c) => c.known === false)
    .map((c) => {
      const excluded = !!change.plan.excludedConsumerIds?.includes(c.id);
      const included = excluded && !!change.includedConsumerIds?.includes(c.id);
      return {
        id: c.id,
        name: c.name,
        ...(c.secret ? { secret: `${c.secret.vaultUrl}/secrets/${c.secret.name}` } : {}),
        createdAt: c.firstSeen?.createdAt ?? null,
        createdBy: c.firstSeen?.createdBy ?? null,
        excluded,
        included,
        delivered: !excluded || included,
      };
    });
}

/** User text (reasons, names) kept on one line so it cannot start a heading or break a table. */
const oneLine = (t: string) => t.replace(/\s*[\r\n]+\s*/g, " ");
const cell = (t: string) => oneLine(t).replace(/\|/g, "\\|");
