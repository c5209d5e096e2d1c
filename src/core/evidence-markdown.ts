/**
 * The evidence pack in Markdown, for people: the change's five runbook answers first, then
 * approvals with eligibility, waivers and inclusions with who and why, the blast radius (each
 * figure with its time window), every step's five answers, the decisions and interruptions, and
 * the event chain. User text is kept on one line so it cannot start a heading or break a table.
 */
import type { Change } from "./domain.js";
import { changeAction } from "./domain.js";
import type { EvidencePack } from "./evidence.js";
import { stepFindings } from "./evidence-state.js";
import type { ExpectedCheck, RunbookAnswer } from "./evidence-runbook.js";
import { NOT_RECORDED } from "./evidence-runbook.js";
import { holderMark } from "./known-holders.js";
import type { StoredEvent, VerifyResult } from "./ports.js";

/** "TAMPERED: event 4 — …", without repeating the event when the store's problem already names it. */
export function tamperText(r: Extract<VerifyResult, { ok: false }>): string {
  const named = r.problem.toLowerCase().startsWith(`event ${r.firstBadSeq}`);
  return named ? `TAMPERED: ${r.problem}` : `TAMPERED: event ${r.firstBadSeq} — ${r.problem}`;
}

/** What each traffic figure counts, over which window: one figure, one label. */
export const TRAFFIC_WINDOWS = {
  services: "TotalCalls by ApiName in the 24 h before the inventory was taken (inventory.takenAt)",
  baselineCalls: "TotalCalls in the 15 min before preflight",
  baselineClientErrors: "ClientErrors in the 15 min before preflight",
  calls: "TotalCalls since the old key died (soak)",
  clientErrors: "ClientErrors since the old key died (soak)",
} as const;

const label = (k: string): string =>
  k in TRAFFIC_WINDOWS ? `${k} (${TRAFFIC_WINDOWS[k as keyof typeof TRAFFIC_WINDOWS]})` : k;

const verdict = (c: ExpectedCheck): string =>
  c.met === true ? "yes" : c.met === false ? "**NO**" : c.actual === null ? "not recorded" : "read beside";

function checksTable(md: string[], checks: readonly ExpectedCheck[]): void {
  if (!checks.length) return;
  md.push("", "| item | expected after | actual after | as expected |", "|---|---|---|---|");
  for (const c of checks)
    md.push(`| ${cell(c.item)} | ${cell(c.expected)} | ${cell(c.actual ?? NOT_RECORDED)} | ${verdict(c)} |`);
  md.push("");
}

function fiveAnswers(md: string[], r: RunbookAnswer): void {
  md.push("**1. Before**", "");
  const before = Object.entries(r.before);
  if (!before.length) md.push(`- ${NOT_RECORDED}`);
  for (const [k, v] of before) md.push(`- ${label(k)}: ${oneLine(v)}`);
  md.push("", "**2. Expected after, beside the actual after**");
  checksTable(md, r.expectedAfter);
  for (const [k, v] of Object.entries(r.actualAfter)) md.push(`- Actual ${label(k)}: ${oneLine(v)}`);
  md.push("", "**3. Validation (query → result)**", "");
  if (!r.validation.length) md.push(`- ${NOT_RECORDED}: no validation ran`);
  for (const v of r.validation)
    md.push(`- ${oneLine(v.query)} → ${v.passed ? "passed" : "NOT passed"}: ${oneLine(v.result)}`);
  md.push("", `**4. Owner**: ${oneLine(r.owner)}`, "", `**5. Rollback**: ${oneLine(r.rollback)}`, "");
}

export function renderEvidenceMarkdown(
  change: Change,
  pack: EvidencePack,
  events: readonly StoredEvent[],
): string {
  const md: string[] = [];
  const version = pack.keyturn.version ?? NOT_RECORDED;
  md.push(`# Evidence — ${change.id}: ${changeAction(change)}${pack.label ? ` (${pack.label})` : ""}`, "");
  md.push(
    `Generated ${pack.generatedAt} by keyturn ${version}. Key values never appear here: keys are identified by fingerprint (sha256 prefix).`,
    "",
  );
  if (!pack.chain.ok)
    md.push(
      `> **${tamperText(pack.chain)}.** The audit log does not verify: what this pack says from that event on cannot be trusted. Keep the database file as it is and tell your security team.`,
      "",
    );
  md.push("## Change", "", "| | |", "|---|---|");
  const rows: [string, string][] = [
    ["Account", `${change.accountName} (${change.accountKind})`],
    ["Resource id", change.accountId],
    ["Owner", pack.runbook.change.owner],
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
    ["Policy hash", pack.policy.hash ?? `${NOT_RECORDED} (the change predates policy hashes)`],
    ["keyturn version", version],
    ["Plan", `${change.plan.variant}, hash ${change.plan.hash}`],
  ];
  for (const [k, v] of rows) md.push(`| ${k} | ${cell(v)} |`);
  if (change.pause)
    md.push(
      "",
      `Paused at step ${change.pause.stepIndex + 1} (${change.pause.code}): ${oneLine(change.pause.message)}`,
    );

  md.push("", "## The change: the runbook's five questions", "");
  fiveAnswers(md, pack.runbook.change);

  if (pack.findings.length) {
    md.push("## Findings", "");
    for (const f of pack.findings)
      md.push(
        `- step ${f.stepIndex + 1} (${f.kind.replace(/_/g, " ")}): ${oneLine(f.what)} — next: ${oneLine(f.next)}`,
      );
    md.push("");
  }
  md.push("## Approvals", "");
  if (!pack.approvals.length) md.push("None.");
  for (const a of pack.approvals)
    md.push(
      `- ${a.by.displayName} (${a.by.id}) at ${a.at}, plan ${a.planHash.slice(0, 12)}; eligible as ${a.eligibleAsRecorded ?? NOT_RECORDED}` +
        `${a.forCurrentPlan ? "" : " — for an earlier plan, not counted"}${a.afterTheFact ? " — after the fact" : ""}` +
        `${a.eventSeq === null ? " — NO approved event in the log records it" : ` (event ${a.eventSeq})`}`,
    );
  md.push("", "## Waivers and inclusions", "");
  if (!pack.waivers.length && !pack.inclusions.length) md.push("None.");
  for (const w of pack.waivers)
    md.push(
      `- waived ${oneLine(w.consumer)} (${w.consumerId}) by ${oneLine(w.by)} at ${w.at} (event ${w.eventSeq}): ${oneLine(w.reason ?? "no reason recorded")}`,
    );
  for (const w of pack.inclusions)
    md.push(
      `- included NEW holder ${oneLine(w.consumer)} (${w.consumerId}) by ${oneLine(w.by)} at ${w.at} (event ${w.eventSeq}): ${oneLine(w.reason ?? "no reason recorded")}`,
    );
  const unlogged = change.waivedConsumerIds.filter((id) => !pack.waivers.some((w) => w.consumerId === id));
  if (unlogged.length) md.push(`- waived without a waiver event in the log: ${unlogged.join(", ")}`);

  md.push("", "## Blast radius", "", `Inventory taken ${change.inventory.takenAt}.`, "");
  for (const c of change.inventory.consumers) {
    const mark = holderMark(change, c);
    md.push(
      `- ${c.name} — ${c.source}, uses ${c.slot}, ${c.reload}${c.owner ? `, owner ${c.owner}` : ""}: ${c.evidence}${mark ? ` — ${mark}` : ""}`,
    );
  }
  if (!change.inventory.consumers.length) md.push("- no consumer found");
  const pinned = change.plan.pinnedConsumerIds;
  if (pinned.length)
    md.push(`- pinned (block the cutover check until re-pinned or waived): ${pinned.join(", ")}`);
  if (change.inventory.services.length)
    md.push(
      `- services by ApiName, ${TRAFFIC_WINDOWS.services}: ${change.inventory.services.map((s) => `${s.apiName} (${s.calls} calls)`).join(", ")}`,
    );
  for (const u of change.inventory.unseen) md.push(`- could not see: ${u}`);
  if (pack.newHolders.length) {
    md.push("", "## NEW holders (found for the first time)", "");
    for (const h of pack.newHolders)
      md.push(
        `- ${h.name} (${h.id}): ${h.delivered ? (h.included ? "included by an approver, delivered to" : "delivered to (standard rotation)") : "EXCLUDED: received nothing"}; created ${h.createdAt ?? "—"} by ${h.createdBy ?? "unknown creator"}`,
      );
  }

  md.push("", "## Steps", "");
  for (const r of pack.runbook.steps) {
    const p = change.plan.steps[r.index]!;
    const s = change.steps.find((x) => x.index === r.index);
    const cut = p.pointOfNoReturn && !/point of no return/i.test(p.title) ? " — point of no return" : "";
    md.push(`### ${r.index + 1}. ${p.title}${cut}`, "");
    if (!s) md.push("Not run.", "");
    else
      md.push(
        `- Outcome: ${s.outcome ?? "not finished"}; actor ${s.actor}; started ${s.startedAt}; finished ${s.finishedAt ?? "—"}`,
      );
    for (const [k, v] of Object.entries(r.before)) md.push(`- Before ${label(k)}: ${oneLine(v)}`);
    checksTable(md, r.expectedAfter);
    for (const [k, v] of Object.entries(r.actualAfter)) md.push(`- After ${label(k)}: ${oneLine(v)}`);
    for (const v of r.validation)
      md.push(
        `- Validation query: ${oneLine(v.query)}`,
        `- Validation result (${v.passed ? "passed" : "NOT passed"}): ${oneLine(v.result)}`,
      );
    if (p.kind === "verify_cutover")
      for (const w of pack.waivers)
        md.push(
          `- Waived: ${oneLine(w.consumer)} by ${oneLine(w.by)} (event ${w.eventSeq}): ${oneLine(w.reason ?? "no reason recorded")}`,
        );
    for (const f of stepFindings(s)) md.push(`- Finding: ${oneLine(f.what)} — next: ${oneLine(f.next)}`);
    for (const n of s?.notes ?? []) md.push(`- Note: ${oneLine(n)}`);
    md.push(`- Owner: ${oneLine(r.owner)}`, `- Rollback: ${oneLine(r.rollback)}`, "");
  }
  const rolled = change.steps.filter((s) => s.index >= change.plan.steps.length);
  for (const s of rolled) {
    md.push(
      "### Rollback",
      "",
      `- Outcome: ${s.outcome ?? "not finished"}; started ${s.startedAt}; finished ${s.finishedAt ?? "—"}`,
    );
    for (const [k, v] of Object.entries(s.before ?? {})) md.push(`- Before ${k}: ${v}`);
    for (const [k, v] of Object.entries(s.after ?? {})) md.push(`- After ${k}: ${v}`);
    if (s.validation)
      md.push(
        `- Validation query: ${oneLine(s.validation.query)}`,
        `- Validation result (${s.validation.passed ? "passed" : "NOT passed"}): ${oneLine(s.validation.result)}`,
      );
    md.push("");
  }

  md.push("## Decisions and interruptions", "");
  if (!pack.history.length)
    md.push(
      "None: the change was never paused, and nothing resumed, waived, included, rolled back, cancelled or restarted it.",
    );
  for (const h of pack.history) md.push(`- ${h.at} (event ${h.seq}) ${oneLine(h.by)}: ${oneLine(h.detail)}`);
  md.push("", "## Event chain", "");
  const verify = pack.chain;
  md.push(
    verify.ok ? `Verified: ${verify.events} events in the log, head ${verify.head}.` : tamperText(verify),
    "",
  );
  md.push("| seq | time | type | actor | prev hash | hash |", "|---|---|---|---|---|---|");
  for (const e of events)
    md.push(
      `| ${e.seq} | ${e.at} | ${cell(e.type)} | ${cell(e.actor ?? "")} | ${e.prevHash.slice(0, 16)} | ${e.hash.slice(0, 16)} |`,
    );
  return md.join("\n") + "\n";
}

/** User text (reasons, names) kept on one line so it cannot start a heading or break a table. */
const oneLine = (t: string) => t.replace(/\s*[\r\n]+\s*/g, " ");
const cell = (t: string) => oneLine(t).replace(/\|/g, "\\|");
