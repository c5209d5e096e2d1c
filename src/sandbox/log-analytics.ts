/**
 * Log Analytics (`POST /loganalytics/v1/workspaces/{id}/query`) over the simulated data plane's
 * `AzureDiagnostics` rows (Category RequestResponse, one per call, ResultSignature = HTTP status):
 * the query is evaluated (kql.ts), the body's `timespan` bounds TimeGenerated, and a row is there
 * only once ingested (`ingestion_time()`, `_TimeReceived`). An unknown workspace is 404
 * `WorkspaceNotFoundError`; a query outside the evaluated subset is 400 `BadArgumentError`.
 */
import { randomUUID } from "node:crypto";
import { KqlError, runKql, wireValue, type Column, type Row } from "./kql.js";
import { safeJson, type Reply } from "./http.js";
import type { Tenant, UnauthorizedCall } from "./tenant.js";

const COLUMNS: Column[] = [
  { name: "TenantId", type: "string" },
  { name: "TimeGenerated", type: "datetime" },
  { name: "_TimeReceived", type: "datetime" },
  { name: "ResourceId", type: "string" },
  { name: "SubscriptionId", type: "string" },
  { name: "ResourceGroup", type: "string" },
  { name: "ResourceProvider", type: "string" },
  { name: "Resource", type: "string" },
  { name: "ResourceType", type: "string" },
  { name: "Category", type: "string" },
  { name: "OperationName", type: "string" },
  { name: "ResultSignature", type: "string" },
  { name: "CallerIPAddress", type: "string" },
  { name: "DurationMs", type: "long" },
  { name: "properties_s", type: "string" },
  { name: "Type", type: "string" },
];

function durationMs(iso: string): number | undefined {
  const m = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/i.exec(iso);
  if (!m) return undefined;
  return (
    ((Number(m[1] ?? 0) * 24 + Number(m[2] ?? 0)) * 60 + Number(m[3] ?? 0)) * 60_000 +
    Number(m[4] ?? 0) * 1000
  );
}

/** `start/end`, `start/duration`, `duration` (ending now) or nothing (no bound: the query's own). */
function window(timespan: string | undefined, now: number): [number, number] {
  if (!timespan) return [0, Number.MAX_SAFE_INTEGER];
  const [a, b] = timespan.split("/");
  if (b === undefined) return [now - (durationMs(a!) ?? 86_400_000), now];
  const from = Date.parse(a!);
  const to = Number.isNaN(Date.parse(b)) ? from + (durationMs(b) ?? 0) : Date.parse(b);
  return [Number.isNaN(from) ? 0 : from, to];
}

const badArgument = (code: string, message: string, inner: string): Reply => ({
  status: 400,
  body: {
    error: {
      message: "The request had some invalid properties",
      code: "BadArgumentError",
      correlationId: randomUUID(),
      innererror: {
        code,
        message:
          code === "SyntaxError"
            ? "A recognition error occurred in the query."
            : "A semantic error occurred.",
        innererror: { code: code === "SyntaxError" ? "SYN0002" : "SEM0100", message: inner },
      },
    },
  },
});

function diagnosticRow(t: Tenant, u: UnauthorizedCall, status: string): Row {
  const a = t.account(u.accountId);
  const upper = u.accountId.toUpperCase();
  const ingested = new Date(u.ingestedAt ?? u.at);
  return {
    TenantId: t.scenario.logAnalytics.workspaceId,
    TimeGenerated: new Date(u.at),
    _TimeReceived: ingested,
    __ingested: ingested,
    ResourceId: upper,
    SubscriptionId: a?.subscriptionId ?? upper.split("/")[2] ?? "",
    ResourceGroup: (a?.resourceGroup ?? "").toUpperCase(),
    ResourceProvider: "MICROSOFT.COGNITIVESERVICES",
    Resource: (a?.name ?? "").toUpperCase(),
    ResourceType: "ACCOUNTS",
    Category: "RequestResponse",
    OperationName: u.operation,
    ResultSignature: u.status !== undefined ? String(u.status) : status,
    CallerIPAddress: u.callerIp,
    DurationMs: u.durationMs ?? 0,
    properties_s: propertiesOf(a?.kind, u),
    Type: "AzureDiagnostics",
  };
}

/**
 * The service-specific JSON of a RequestResponse row. Azure OpenAI / AI Services rows carry the
 * caller's Entra `objectId` (empty on a key call); other kinds' rows name no caller identity, so
 * which calls used a key cannot be told from them.
 */
function propertiesOf(kind: string | undefined, u: UnauthorizedCall): string {
  const base = { apiName: u.apiName ?? "", requestTime: new Date(u.at).toISOString() };
  return JSON.stringify(
    kind === "OpenAI" || kind === "AIServices" ? { ...base, objectId: u.objectId ?? "" } : base,
  );
}

export function logsQuery(t: Tenant, body: string, path = "", now = Date.now()): Reply {
  const workspace = /\/workspaces\/([^/]+)\/query$/i.exec(path)?.[1];
  if (
    workspace !== undefined &&
    t.scenario.logAnalytics.workspaceId.toLowerCase() !== workspace.toLowerCase()
  )
    return {
      status: 404,
      body: {
        error: {
          message: `The workspace could not be found`,
          code: "WorkspaceNotFoundError",
          correlationId: randomUUID(),
          innererror: {
            code: "WorkspaceNotFoundError",
            message: `Workspace ${workspace} was not found. Check AZURE_LOG_ANALYTICS_WORKSPACE_ID: it is the workspace's Workspace ID (a GUID), not its name or resource id.`,
          },
        },
      },
    };
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
  const [from, to] = window(q.timespan, now);
  const rows: Row[] = [];
  for (const [list, status] of [
    [t.unauthorized, "401"],
    [t.accepted, "200"],
  ] as const)
    for (const u of list)
      if ((u.ingestedAt ?? u.at) <= now && u.at >= from && u.at <= to) rows.push(diagnosticRow(t, u, status));
  rows.sort((a, b) => (a.TimeGenerated as Date).getTime() - (b.TimeGenerated as Date).getTime());
  try {
    const result = runKql(q.query, { AzureDiagnostics: { columns: COLUMNS, rows } }, now);
    return {
      status: 200,
      body: {
        tables: [
          {
            name: "PrimaryResult",
            columns: result.columns,
            rows: result.rows.map((r) => result.columns.map((c) => wireValue(r[c.name] ?? null))),
          },
        ],
      },
    };
  } catch (e) {
    if (e instanceof KqlError) return badArgument(e.kind, e.message, e.message);
    throw e;
  }
}
