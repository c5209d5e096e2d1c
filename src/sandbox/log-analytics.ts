/**
 * Log Analytics (`POST /loganalytics/v1/workspaces/{id}/query`): not a KQL engine. It answers the
 * one question keyturn asks of `AzureDiagnostics`: refused (401) calls to one account, counted by
 * `CallerIPAddress` and `OperationName`. The account is found by its resource id or quoted name in
 * the query text; any other query returns an empty PrimaryResult with the same columns.
 */
import { safeJson, type Reply } from "./http.js";
import type { Tenant } from "./tenant.js";

const COLUMNS = [
  { name: "CallerIPAddress", type: "string" },
  { name: "OperationName", type: "string" },
  { name: "count_", type: "long" },
];

function durationMs(iso: string): number | undefined {
  const m = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/i.exec(iso);
  if (!m) return undefined;
  return (
    ((Number(m[1] ?? 0) * 24 + Number(m[2] ?? 0)) * 60 + Number(m[3] ?? 0)) * 60_000 +
    Number(m[4] ?? 0) * 1000
  );
}

/** `start/end`, `start/duration`, `duration` (ending now) or nothing (the last day). */
function window(timespan: string | undefined): [number, number] {
  const now = Date.now();
  if (!timespan) return [now - 86_400_000, now];
  const [a, b] = timespan.split("/");
  if (b === undefined) return [now - (durationMs(a!) ?? 86_400_000), now];
  const from = Date.parse(a!);
  const to = Number.isNaN(Date.parse(b)) ? from + (durationMs(b) ?? 0) : Date.parse(b);
  return [Number.isNaN(from) ? 0 : from, to];
}

export function logsQuery(t: Tenant, body: string): Reply {
  const q = (safeJson(body) as { query?: string; timespan?: string } | null) ?? {};
  if (typeof q.query !== "string" || q.query.trim() === "")
    return {
      status: 400,
      body: {
        error: {
          code: "BadArgumentError",
          message: "The request had some invalid properties",
          details: [{ code: "QueryValidationError", message: "'query' is required" }],
        },
      },
    };
  const text = q.query;
  const lower = text.toLowerCase();
  const account =
    t.accounts.find((a) => lower.includes(a.id.toLowerCase())) ??
    t.accounts.find((a) =>
      new RegExp(`["']${a.name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}["']`, "i").test(text),
    );
  if (!account || !/AzureDiagnostics/i.test(text))
    return { status: 200, body: { tables: [{ name: "PrimaryResult", columns: COLUMNS, rows: [] }] } };
  const [from, to] = window(q.timespan);
  const counts = new Map<string, number>();
  for (const u of t.unauthorized) {
    if (u.accountId !== account.id || u.at < from || u.at > to) continue;
    const k = `${u.callerIp}\u0000${u.operation}`;
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  const rows = [...counts.entries()].map(([k, n]) => [...k.split("\u0000"), n]);
  return { status: 200, body: { tables: [{ name: "PrimaryResult", columns: COLUMNS, rows }] } };
}
