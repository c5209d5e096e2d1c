/** The query of `GET /api/v1/report`: format, sort and the conditions a pipeline fails on, as the CLI takes them. */
import { FAIL_ON, REPORT_SORTS, type FailOn, type ReportSort } from "../../src/core/report.js";
import { REPORT_FORMATS, type ReportFormat } from "../../src/core/report-format.js";

export function parseReportQuery(
  query: Record<string, unknown>,
): { format: ReportFormat; sort: ReportSort; failOn: FailOn[] } | { error: string } {
  const one = (name: string): string | undefined => {
    const v = query[name];
    return typeof v === "string"
      ? v
      : Array.isArray(v)
        ? v.filter((x) => typeof x === "string").join(",")
        : undefined;
  };
  const format = one("format") ?? "json";
  if (!(REPORT_FORMATS as readonly string[]).includes(format))
    return { error: `format must be ${REPORT_FORMATS.join(", ")}, not "${format}".` };
  const sort = one("sort") ?? "risk";
  if (!(REPORT_SORTS as readonly string[]).includes(sort))
    return { error: `sort must be ${REPORT_SORTS.join(", ")}, not "${sort}".` };
  const failOn = (one("failOn") ?? one("fail-on") ?? "")
    .split(",")
    .map((x) => x.trim())
    .filter(Boolean);
  const unknown = failOn.filter((f) => !(FAIL_ON as readonly string[]).includes(f));
  if (unknown.length)
    return { error: `failOn takes ${FAIL_ON.join(", ")} (comma-separated), not "${unknown.join(", ")}".` };
  return { format: format as ReportFormat, sort: sort as ReportSort, failOn: failOn as FailOn[] };
}
