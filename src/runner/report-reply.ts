/**
 * `report` in chat: the accounts the asker may audit, gathered as the command line gathers them,
 * answered with the summary and the full report as files (Markdown for people, CSV for
 * spreadsheets). Each platform delivers the files its own way: Slack uploads them, Teams attaches
 * them, the console writes them under the data directory and prints where.
 */
import type { Principal } from "../core/domain.js";
import type { Reply } from "../core/messages.js";
import type { PolicyBook } from "../core/policy.js";
import type { Clock, Logger, TelemetryPort } from "../core/ports.js";
import { reportKeyAuthTraffic } from "./report-key-traffic.js";
import { renderReport, reportFilename, type ReportFormat } from "../core/report-format.js";
import { renderReportSummary } from "../core/report-message.js";
import type { ReportSort } from "../core/report.js";
import type { AccountDirectory } from "./account-directory.js";
import type { Queries } from "./queries.js";
import { gatherReport } from "./report.js";

export interface ReportReplyDeps {
  readonly directory: AccountDirectory;
  readonly queries: Queries;
  readonly policy: PolicyBook;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly label?: string | undefined;
  readonly version?: string | undefined;
  /** Where key vs Entra token traffic is read (the telemetry port's keyAuthTraffic); absent: not measured. */
  readonly azure?: { readonly telemetry: TelemetryPort };
}

const FILES: readonly { format: ReportFormat; contentType: string }[] = [
  { format: "md", contentType: "text/markdown" },
  { format: "csv", contentType: "text/csv" },
];

export async function reportReply(
  d: ReportReplyDeps,
  who: Principal,
  cmd: { readonly sort: ReportSort },
): Promise<Reply> {
  // a fleet map of where keys live and who holds them unmanaged is audit material, like inventory
  const all = await d.directory.list(true);
  const auditable = all.filter((a) => d.policy.can("audit", who, a));
  if (auditable.length === 0 && all.length > 0)
    d.policy.authorize("audit", who, null, "`report` (where every key is stored, its holders and callers)");
  const ids = new Set(auditable.map((a) => a.id));
  const doc = await gatherReport(
    {
      directory: d.directory,
      queries: d.queries,
      clock: d.clock,
      logger: d.logger,
      ...withTraffic(reportKeyAuthTraffic(d.azure?.telemetry, d.clock)),
    },
    { include: (a) => ids.has(a.id), sort: cmd.sort, label: d.label, version: d.version },
  );
  const attachments = FILES.map((f) => ({
    filename: reportFilename(doc, f.format),
    contentType: f.contentType,
    content: renderReport(doc, f.format),
  }));
  return {
    visibility: "ephemeral",
    message: renderReportSummary(
      doc,
      attachments.map((a) => a.filename),
    ),
    attachments,
  };
}

const withTraffic = <T>(keyAuthTraffic: T | undefined) => (keyAuthTraffic ? { keyAuthTraffic } : {});
