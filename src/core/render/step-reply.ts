/** A step's reply in the evidence thread, as people in the channel read it. */
import type { Change, StepEvidence } from "../domain.js";
import type { Field, Message, Section } from "../messages.js";
import { pnrSuffix } from "./change.js";
import { evidenceKeyInWords } from "./consumers.js";
import { labelValues, userTextOf } from "./plain.js";
import { timeReader } from "./times.js";

/** Evidence keys the steps record, in words (consumer ids and secrets are named from the inventory). */
const EVIDENCE_WORDS: Readonly<Record<string, string>> = {
  activeSlot: "Active key",
  nextDue: "Next rotation due",
  soakStartedAt: "Soak started",
  baselineCalls: "Calls in the 15 min before",
  baselineClientErrors: "Client errors in the 15 min before",
  calls: "Calls",
  clientErrors: "Client errors",
  waivedOnDeadKey: "Waived, still on the dead key",
  "data complete at": "Data complete at",
};

/**
 * A step's reply in the thread: what it did, before and after, its check, its rollback. Consumers are
 * named as people know them (from the change's inventory), times read as clock times with the date once;
 * the evidence pack keeps the recorded ids and ISO times.
 */
export function renderStepReply(c: Change, s: StepEvidence): Message {
  const planned = c.plan.steps[s.index];
  const outcome =
    s.outcome === "succeeded"
      ? "done"
      : s.outcome === "succeeded_with_findings"
        ? "done WITH FINDINGS"
        : s.outcome === "gate_failed"
          ? "GATE FAILED"
          : s.outcome === "failed"
            ? "FAILED"
            : "running";
  const time = timeReader();
  const fields: Field[] = [
    { label: "Actor", value: s.actor },
    { label: "Started", value: time.at(s.startedAt) },
    { label: "Finished", value: s.finishedAt ? time.at(s.finishedAt) : "—" },
  ];
  const words = (t: string) => labelValues(time.inText(t));
  const key = (k: string) => evidenceKeyInWords(c.inventory, k) ?? EVIDENCE_WORDS[k] ?? k;
  const lines = (m: Readonly<Record<string, string>> | undefined) =>
    Object.entries(m ?? {}).map(([k, v]) => words(`${key(k)}: ${v}`));
  const sections: Section[] = [];
  if (s.before && Object.keys(s.before).length) sections.push({ heading: "Before", lines: lines(s.before) });
  if (s.after && Object.keys(s.after).length) sections.push({ heading: "After", lines: lines(s.after) });
  if (s.validation)
    sections.push({
      heading: `Validation — ${s.validation.passed ? "passed" : "NOT passed"}`,
      lines: [`Query: ${s.validation.query}`, `Result: ${s.validation.result}`].map(words),
    });
  if (s.findings?.length)
    sections.push({
      heading: "Findings — what to do",
      lines: s.findings.flatMap((f) => [f.what, `What to do: ${f.next}`]).map(words),
    });
  if (s.notes?.length) sections.push({ heading: "Notes", lines: s.notes.map(words) });
  sections.push({ heading: "Rollback", lines: [words(s.rollback)] });
  return {
    text: `${c.id} step ${s.index + 1} ${outcome}: ${planned?.title ?? s.kind}`,
    title: `Step ${s.index + 1}/${c.plan.steps.length} ${outcome}: ${planned?.title ?? s.kind}${planned ? pnrSuffix(planned) : ""}`,
    tone:
      s.outcome === "succeeded"
        ? "success"
        : s.outcome === "succeeded_with_findings"
          ? "warning"
          : s.outcome
            ? "danger"
            : "info",
    fields,
    sections,
    context: [c.id],
    userText: userTextOf(c),
  };
}
