/**
 * Azure Monitor over ARM: per-account metrics (api-version 2018-01-01) counted from the data plane's
 * real calls in one-minute buckets, and the Activity Log (2015-04-01) of key operations.
 */
import { metricBuckets, type Bucket, type Counts } from "./dataplane.js";
import { armError, type Reply } from "./http.js";
import type { Tenant } from "./tenant.js";

const METRICS: Record<string, { label: string; unit: string; openAiOnly?: boolean }> = {
  TotalCalls: { label: "Total Calls", unit: "Count" },
  SuccessfulCalls: { label: "Successful Calls", unit: "Count" },
  TotalErrors: { label: "Total Errors", unit: "Count" },
  ClientErrors: { label: "Client Errors", unit: "Count" },
  ServerErrors: { label: "Server Errors", unit: "Count" },
  BlockedCalls: { label: "Blocked Calls", unit: "Count" },
  Latency: { label: "Latency", unit: "MilliSeconds" },
  AzureOpenAIRequests: { label: "Azure OpenAI Requests", unit: "Count", openAiOnly: true },
  ModelRequests: { label: "Model Requests", unit: "Count", openAiOnly: true },
};

const DIMENSIONS = ["ApiName", "OperationName", "StatusCode", "Region"] as const;

function pick(metric: string, c: Counts): { total: number; average?: number; count: number } {
  switch (metric) {
    case "TotalCalls":
    case "AzureOpenAIRequests":
    case "ModelRequests":
      return { total: c.calls, count: c.calls };
    case "SuccessfulCalls":
      return { total: c.ok, count: c.ok };
    case "TotalErrors":
    case "ClientErrors":
      return { total: c.clientErrors, count: c.clientErrors };
    case "Latency":
      return { total: c.latencyMs, count: c.calls, ...(c.calls ? { average: c.latencyMs / c.calls } : {}) };
    default:
      return { total: 0, count: 0 };
  }
}

function parseTimespan(ts: string | null): [number, number] {
  if (ts?.includes("/")) {
    const [a, b] = ts.split("/");
    const from = Date.parse(a!);
    const to = Date.parse(b!);
    if (!Number.isNaN(from) && !Number.isNaN(to)) return [from, to];
  }
  return [Date.now() - 3600_000, Date.now()];
}

function intervalMs(iso: string | null): number {
  const m = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$/i.exec(iso ?? "PT1M");
  if (!m) return 60_000;
  const ms = (Number(m[1] ?? 0) * 1440 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0)) * 60_000;
  return ms > 0 ? ms : 60_000;
}

function add(into: Counts, c: Counts): void {
  into.calls += c.calls;
  into.ok += c.ok;
  into.clientErrors += c.clientErrors;
  into.latencyMs += c.latencyMs;
  for (const [k, v] of Object.entries(c.byStatus)) into.byStatus[k] = (into.byStatus[k] ?? 0) + v;
}

/** One-minute buckets merged into the requested interval. */
function rebin(buckets: [number, Bucket][], interval: number): [number, Bucket][] {
  if (interval <= 60_000) return buckets;
  const out = new Map<number, Bucket>();
  const zero = (): Counts => ({ calls: 0, ok: 0, clientErrors: 0, latencyMs: 0, byStatus: {} });
  for (const [at, b] of buckets) {
    const start = Math.floor(at / interval) * interval;
    const into = out.get(start) ?? { ...zero(), byApi: {}, byOperation: {} };
    out.set(start, into);
    add(into, b);
    for (const [k, c] of Object.entries(b.byApi)) add((into.byApi[k] ??= zero()), c);
    for (const [k, c] of Object.entries(b.byOperation)) add((into.byOperation[k] ??= zero()), c);
  }
  return [...out.entries()].sort((x, y) => x[0] - y[0]);
}

export function metrics(t: Tenant, resourceId: string, q: URLSearchParams): Reply {
  const a = t.account(resourceId);
  if (!a)
    return armError(
      404,
      "ResourceNotFound",
      `The Resource '${resourceId}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
    );
  const [from, to] = parseTimespan(q.get("timespan"));
  const names = (q.get("metricnames") ?? "TotalCalls")
    .split(",")
    .map((n) => n.trim())
    .filter(Boolean);
  const isOpenAi = a.kind === "OpenAI" || a.kind === "AIServices";
  const unknown = names.find((n) => !METRICS[n] || (METRICS[n].openAiOnly && !isOpenAi));
  if (unknown)
    return armError(
      400,
      "BadRequest",
      `Failed to find metric configuration for provider: Microsoft.CognitiveServices, resource Type: accounts, metric: ${unknown}, Valid metrics: ${Object.keys(
        METRICS,
      )
        .filter((n) => isOpenAi || !METRICS[n]!.openAiOnly)
        .join(",")}`,
    );
  const filter = q.get("$filter") ?? q.get("filter") ?? "";
  const split = DIMENSIONS.find((d) => new RegExp(`${d}\\s+eq\\s+'\\*'`, "i").test(filter));
  if (split === "StatusCode" && !names.every((n) => METRICS[n]!.openAiOnly))
    return armError(
      400,
      "BadRequest",
      "Metric dimension StatusCode is not defined for the requested metrics; it exists on AzureOpenAIRequests and ModelRequests.",
    );
  const buckets = rebin(metricBuckets(t, a.id, from, to), intervalMs(q.get("interval")));
  const aggregation = (q.get("aggregation") ?? "Total").split(",").map((x) => x.trim().toLowerCase());
  const point = (at: number, c: Counts | undefined, metric: string) => {
    const p = c ? pick(metric, c) : { total: 0, count: 0 };
    return {
      timeStamp: new Date(at).toISOString(),
      ...(aggregation.includes("total") ? { total: p.total } : {}),
      ...(aggregation.includes("count") ? { count: p.count } : {}),
      ...(aggregation.includes("average") && "average" in p ? { average: p.average } : {}),
    };
  };
  const series = (
    name: string,
    label: string,
    values: string[],
    part: (b: Bucket, v: string) => Counts | undefined,
    metric: string,
  ) =>
    values.map((v) => ({
      metadatavalues: [{ name: { value: name, localizedValue: label }, value: v }],
      data: buckets.map(([at, b]) => point(at, part(b, v), metric)),
    }));
  const value = names.map((n) => {
    let timeseries: unknown[];
    if (split === "ApiName")
      timeseries = series(
        "apiname",
        "ApiName",
        [...new Set(buckets.flatMap(([, b]) => Object.keys(b.byApi)))],
        (b, v) => b.byApi[v],
        n,
      );
    else if (split === "OperationName")
      timeseries = series(
        "operationname",
        "OperationName",
        [...new Set(buckets.flatMap(([, b]) => Object.keys(b.byOperation)))],
        (b, v) => b.byOperation[v],
        n,
      );
    else if (split === "Region") timeseries = series("region", "Region", [a.location], (b) => b, n);
    else if (split === "StatusCode") {
      const codes = [...new Set(buckets.flatMap(([, b]) => Object.keys(b.byStatus)))];
      timeseries = series(
        "statuscode",
        "StatusCode",
        codes,
        (b, code) => ({ calls: b.byStatus[code] ?? 0, ok: 0, clientErrors: 0, latencyMs: 0, byStatus: {} }),
        n,
      );
    } else timeseries = [{ metadatavalues: [], data: buckets.map(([at, b]) => point(at, b, n)) }];
    const meta = METRICS[n]!;
    return {
      id: `${a.id}/providers/Microsoft.Insights/metrics/${n}`,
      type: "Microsoft.Insights/metrics",
      name: { value: n, localizedValue: meta.label },
      displayDescription: `${meta.label} (SANDBOX: counted from simulated calls)`,
      unit: meta.unit,
      timeseries,
      errorCode: "Success",
    };
  });
  return {
    status: 200,
    body: {
      cost: 0,
      timespan: `${new Date(from).toISOString()}/${new Date(to).toISOString()}`,
      interval: q.get("interval") ?? "PT1M",
      value,
      namespace: "Microsoft.CognitiveServices/accounts",
      resourceregion: a.location,
    },
  };
}

/**
 * Administrative events as Azure writes them: each operation is a `Started` (BeginRequest) and a
 * `Succeeded`/`Failed` (EndRequest) event sharing a correlationId, newest first, `pageSize` a page,
 * with an absolute nextLink carrying `$skiptoken`.
 */
export function activityLog(
  t: Tenant,
  sub: string,
  query: URLSearchParams,
  page: { armEndpoint: string; path: string; pageSize: number },
): Reply {
  const filter = query.get("$filter") ?? "";
  const ge = /eventTimestamp\s+ge\s+'([^']+)'/i.exec(filter)?.[1];
  const le = /eventTimestamp\s+le\s+'([^']+)'/i.exec(filter)?.[1];
  const res = /resource(?:Uri|Id)\s+eq\s+'([^']+)'/i.exec(filter)?.[1];
  const rg = /resourceGroupName\s+eq\s+'([^']+)'/i.exec(filter)?.[1];
  if (!ge) return armError(400, "BadRequest", "The $filter must contain eventTimestamp ge '<time>'.");
  const from = Date.parse(ge);
  const to = le ? Date.parse(le) : Date.now();
  if (Number.isNaN(from) || Number.isNaN(to))
    return armError(400, "BadRequest", "The eventTimestamp values of $filter must be ISO 8601 times.");
  if (from < Date.now() - 90 * 86_400_000 - 3600_000)
    return armError(400, "BadRequest", "The start time of the query cannot be more than 90 days ago.");
  const lower = (s: string) => s.toLowerCase();
  const ls = (v: string) => ({ value: v, localizedValue: v });
  const events = t.activity
    .filter(
      (e) =>
        lower(e.subscriptionId) === lower(sub) &&
        (!res || lower(e.resourceId) === lower(res)) &&
        (!rg || lower(e.resourceId.split("/")[4] ?? "") === lower(rg)),
    )
    .flatMap((e) => {
      const end = Date.parse(e.at);
      const common = {
        authorization: { action: e.operation, scope: e.resourceId },
        caller: e.caller,
        channels: "Operation",
        claims: {
          ipaddr: e.callerIp,
          name: e.caller,
          "http://schemas.microsoft.com/identity/claims/tenantid": t.scenario.tenantId,
        },
        correlationId: e.id,
        description: "",
        category: ls("Administrative"),
        httpRequest: { clientRequestId: e.id, clientIpAddress: e.callerIp, method: "POST" },
        level: "Informational",
        operationId: e.id,
        operationName: ls(e.operation),
        resourceGroupName: e.resourceId.split("/")[4],
        resourceProviderName: ls("Microsoft.CognitiveServices"),
        resourceType: ls("Microsoft.CognitiveServices/accounts"),
        resourceId: e.resourceId,
        subscriptionId: e.subscriptionId,
        tenantId: t.scenario.tenantId,
      };
      const event = (at: number, phase: "Started" | "Succeeded" | "Failed", n: number) => ({
        ...common,
        eventDataId: `${e.id.slice(0, -1)}${n}`,
        eventName:
          phase === "Started"
            ? { value: "BeginRequest", localizedValue: "Begin request" }
            : { value: "EndRequest", localizedValue: "End request" },
        eventTimestamp: new Date(at).toISOString(),
        id: `${e.resourceId}/events/${e.id.slice(0, -1)}${n}/ticks/${at}`,
        status: ls(phase),
        subStatus: ls(phase === "Started" ? "" : phase === "Succeeded" ? "OK" : "BadRequest"),
        submissionTimestamp: new Date(at + 2000).toISOString(),
      });
      return [event(end, e.status, 1), event(end - 150, "Started", 0)];
    })
    .filter((e) => {
      const at = Date.parse(e.eventTimestamp);
      return at >= from && at <= to;
    })
    .sort((a, b) => b.eventTimestamp.localeCompare(a.eventTimestamp));
  const skip = Math.max(0, Number(query.get("$skiptoken") ?? "0") || 0);
  const size = Math.max(1, page.pageSize);
  const next =
    skip + size < events.length
      ? `${page.armEndpoint}${page.path}?api-version=${query.get("api-version")}&$filter=${encodeURIComponent(filter)}&$skiptoken=${skip + size}`
      : undefined;
  return {
    status: 200,
    body: { value: events.slice(skip, skip + size), ...(next ? { nextLink: next } : {}) },
  };
}
