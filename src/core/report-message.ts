/** The fleet posture report in chat: the summary a person reads, with the riskiest accounts named; the full report goes as files. */
import type { Message } from "./messages.js";
import type { ReportDocument } from "./report-format.js";
import { nextDueInWords, summaryLines } from "./report-format.js";

const TOP = 10;

export function renderReportSummary(doc: ReportDocument, files: readonly string[]): Message {
  const s = doc.summary;
  const now = new Date(doc.generatedAt);
  const risky = doc.rows.filter((r) => r.risk.level === "critical" || r.risk.level === "high");
  const text = `Fleet posture: ${s.accounts} account(s), ${s.overdue} overdue, ${s.exposed} exposed, ${s.newHolders} NEW key holder(s), ${s.keyFreeReady} ready to go key-free.`;
  const lines = risky
    .slice(0, TOP)
    .map(
      (r) =>
        `${r.account.shortName} — ${r.risk.level}: ${r.risk.reasons.join(", ")}${r.nextDue ? ` — due ${nextDueInWords(now, r)}` : ""}`,
    );
  if (risky.length > TOP) lines.push(`… and ${risky.length - TOP} more in the report.`);
  return {
    text,
    title: "Fleet posture report",
    tone: s.exposed > 0 ? "danger" : s.overdue > 0 || s.newHolders > 0 ? "warning" : "success",
    fields: summaryLines(s).map(([label, value]) => ({ label, value })),
    sections: [
      { lines: [text] },
      { heading: "Needs attention first", lines: lines.length ? lines : ["Nothing critical or high."] },
      {
        lines: [
          `The full report (every account: where its key is stored, last rotation and its source, known and NEW holders, listKeys callers, key-free readiness) is attached: ${files.join(", ")}.`,
          "In a pipeline: `keyturn report --format md|csv|json [--fail-on overdue|new-holders|local-auth|exposed]`.",
        ],
      },
    ],
    context: [doc.label, `generated ${doc.generatedAt.replace("T", " ").slice(0, 16)} UTC`].filter(
      (x): x is string => !!x,
    ),
  };
}
