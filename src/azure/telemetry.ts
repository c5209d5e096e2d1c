/** Azure Monitor: per-resource metrics and the Activity Log (@azure/arm-monitor), 401s by caller (@azure/monitor-query-logs). */
import { MonitorClient } from "@azure/arm-monitor";
import type { TokenCredential } from "@azure/core-auth";
import { LogsQueryClient } from "@azure/monitor-query-logs";
import type { ActivityEvent, CallerErrors, Logger, MetricSeries, TelemetryPort } from "../core/ports.js";
import { ActivityCache, ACTIVITY_CACHE_MS } from "./activity-cache.js";
import { classifyAzureError } from "./errors.js";
import type { ClientSettings } from "./pipeline.js";
import { clientOptions, onAccountWrite } from "./pipeline.js";

/**
 * How late Azure Monitor's data may be, by default. Platform metrics are pre-aggregated per minute and
 * land one to three minutes after the calls (a minute's point is final only once its late
 * aggregations are in); Log Analytics rows take "between 20 seconds and 3 minutes" on average and
 * more under load: https://learn.microsoft.com/azure/azure-monitor/logs/data-ingestion-time
 * (`ingestion_time()` and `_TimeReceived` show when a row arrived). Override with
 * KEYTURN_METRICS_LATENCY_SECONDS / KEYTURN_LOGS_LATENCY_SECONDS.
 */
export const DEFAULT_METRICS_LATENCY_SECONDS = 180;
export const DEFAULT_LOGS_LATENCY_SECONDS = 300;

export class Monitor implements TelemetryPort {
  readonly #clients = new Map<string, MonitorClient>();
  readonly #logs: LogsQueryClient | null;
  readonly unauthorizedCallers?: TelemetryPort["unauthorizedCallers"];
  readonly ingestionLatency: { readonly metricsMs: number; readonly logsMs: number };
  /**
   * Reads of each account's Activity Log, shared by the questions asked within a few seconds and
   * dropped when keyturn writes to the account through a client built with the same settings.
   */
  readonly #activity: ActivityCache;

  constructor(
    private readonly credential: TokenCredential,
    private readonly settings: ClientSettings,
    private readonly logger: Logger,
    logAnalytics?: { endpoint?: string | undefined; workspaceId: string; scope?: string | undefined },
    latency?: { metricsSeconds?: number | undefined; logsSeconds?: number | undefined },
    activityCacheMs = ACTIVITY_CACHE_MS,
  ) {
    this.#activity = new ActivityCache((id, window) => this.#readActivity(id, window), activityCacheMs);
    const activity = this.#activity;
    onAccountWrite(settings, (accountId) => activity.invalidate(accountId));
    this.ingestionLatency = {
      metricsMs: (latency?.metricsSeconds ?? DEFAULT_METRICS_LATENCY_SECONDS) * 1000,
      logsMs: (latency?.logsSeconds ?? DEFAULT_LOGS_LATENCY_SECONDS) * 1000,
    };
    this.#logs = logAnalytics
      ? new LogsQueryClient(credential, {
          ...(logAnalytics.endpoint ? { endpoint: logAnalytics.endpoint } : {}),
          credentials: { scopes: [logAnalytics.scope ?? "https://api.loganalytics.io/.default"] },
          ...(settings.caPem ? { tlsOptions: { ca: settings.caPem } } : {}),
        })
      : null;
    if (this.#logs && logAnalytics) {
      const logs = this.#logs;
      this.unauthorizedCallers = async (accountId, q) => {
        const query = `AzureDiagnostics | where ResourceId =~ "${accountId.replace(/"/g, "")}" and Category == "RequestResponse" and ResultSignature == "401" | summarize count() by CallerIPAddress, OperationName`;
        try {
          const r = await logs.queryWorkspace(logAnalytics.workspaceId, query, {
            startTime: q.from,
            endTime: q.to,
          });
          const table = "tables" in r ? r.tables[0] : undefined;
          return (table?.rows ?? []).map((row): CallerErrors => ({
            callerIp: String(row[0] as string),
            operation: String(row[1] as string),
            count: Number(row[2]),
          }));
        } catch (e) {
          throw classifyAzureError(e, { action: "Log Analytics query", scope: logAnalytics.workspaceId });
        }
      };
    }
  }

  #client(subscriptionId: string): MonitorClient {
    let c = this.#clients.get(subscriptionId);
    if (!c) {
      c = new MonitorClient(this.credential, subscriptionId, clientOptions(this.settings));
      this.#clients.set(subscriptionId, c);
    }
    return c;
  }

  async metrics(
    accountId: string,
    q: { from: Date; to: Date; names: readonly string[]; splitBy?: string; intervalMinutes?: number },
  ): Promise<MetricSeries[]> {
    const sub = accountId.split("/")[2] ?? "";
    try {
      const r = await this.#client(sub).metrics.list(accountId.replace(/^\//, ""), {
        timespan: `${q.from.toISOString()}/${q.to.toISOString()}`,
        interval: `PT${q.intervalMinutes ?? 1}M`,
        metricnames: q.names.join(","),
        aggregation: "Total",
        ...(q.splitBy ? { filter: `${q.splitBy} eq '*'` } : {}),
      });
      return (r.value ?? []).flatMap((m) =>
        (m.timeseries ?? []).map((ts) => ({
          name: m.name.value ?? "",
          ...(ts.metadatavalues?.length
            ? {
                dimension: Object.fromEntries(
                  ts.metadatavalues.map((d) => [
                    d.name?.localizedValue ?? d.name?.value ?? "",
                    d.value ?? "",
                  ]),
                ),
              }
            : {}),
          points: (ts.data ?? []).map((p) => ({ at: p.timeStamp.toISOString(), total: p.total ?? 0 })),
        })),
      );
    } catch (e) {
      const err = classifyAzureError(e, { action: "Microsoft.Insights/metrics/read", scope: accountId });
      this.logger.warn({ azure: "metrics", scope: accountId, code: err.code }, "metrics read failed");
      throw err;
    }
  }

  async activityLog(
    accountId: string,
    q: { from: Date; to: Date; operations?: readonly string[] },
  ): Promise<ActivityEvent[]> {
    const events = await this.#activity.events(accountId, q);
    if (!q.operations) return events;
    const wanted = new Set(q.operations.map((o) => o.toLowerCase()));
    return events.filter((e) => wanted.has(e.operation.toLowerCase()));
  }

  /**
   * Every operation on the account in the window, one event per operation (its final state). The
   * $filter admits only time, resource, resource group, provider or correlation id (no operation
   * name), so the operations are chosen here, after the read; the cache lets one read answer both.
   */
  async #readActivity(accountId: string, q: { from: Date; to: Date }): Promise<ActivityEvent[]> {
    const sub = accountId.split("/")[2] ?? "";
    const filter = `eventTimestamp ge '${q.from.toISOString()}' and eventTimestamp le '${q.to.toISOString()}' and resourceUri eq '${accountId}'`;
    try {
      // Azure writes a Started and a Succeeded/Failed event per operation (same correlationId) and pages
      // with nextLink (the SDK's iterator follows it): one operation is one event here, its final state
      const byOperation = new Map<string, ActivityEvent & { final: boolean }>();
      let n = 0;
      for await (const e of this.#client(sub).activityLogs.list(filter)) {
        const operation = e.operationName?.value ?? "";
        const status = e.status?.value ?? "";
        const final = !/^(Started|Accepted)$/i.test(status);
        const key = `${e.correlationId ?? e.eventDataId ?? `#${n++}`}|${operation.toLowerCase()}`;
        const seen = byOperation.get(key);
        if (seen && (seen.final || !final)) continue;
        const at = (e.eventTimestamp ?? new Date(0)).toISOString();
        const ip = e.claims?.ipaddr ?? e.httpRequest?.clientIpAddress;
        byOperation.set(key, {
          at,
          operation,
          caller: e.caller ?? "unknown",
          ...(ip ? { callerIp: ip } : {}),
          status,
          final,
        });
      }
      return [...byOperation.values()].map(({ final: _final, ...event }) => event);
    } catch (e) {
      throw classifyAzureError(e, {
        action: "Microsoft.Insights/eventtypes/values/read",
        scope: `/subscriptions/${sub}`,
      });
    }
  }
}
