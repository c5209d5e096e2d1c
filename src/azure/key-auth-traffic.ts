/**
 * Which calls to an account used a key and which a Microsoft Entra token. Platform metrics
 * (TotalCalls, ClientErrors, AzureOpenAIRequests …) have no authentication dimension, so the only
 * record is the diagnostic log: `AzureDiagnostics`, Category `RequestResponse`, sent to a Log
 * Analytics workspace by the account's diagnostic setting. Azure OpenAI / AI Services rows carry the
 * caller's Entra object id in `properties_s` (`objectId`, empty when the call used a key); the rows
 * of other kinds name no caller identity, so for them it cannot be known.
 */
import type { TokenCredential } from "@azure/core-auth";
import { LogsQueryClient } from "@azure/monitor-query-logs";
import type { Account, KeyAuthTraffic } from "../core/domain.js";
import { classifyAzureError } from "./errors.js";
import type { ClientSettings } from "./pipeline.js";

/** Kinds whose RequestResponse rows tell a key call from a token call. */
export const IDENTITY_LOGGING_KINDS: readonly string[] = ["OpenAI", "AIServices"];

const KEY_CALL = `properties_s contains '"objectId":""'`;

export type KeyAuthTrafficReader = (account: Account, q: { from: Date; to: Date }) => Promise<KeyAuthTraffic>;

export function keyAuthTrafficReader(
  credential: TokenCredential,
  settings: Pick<ClientSettings, "caPem">,
  logAnalytics?: { endpoint?: string | undefined; workspaceId: string; scope?: string | undefined },
): KeyAuthTrafficReader {
  const logs = logAnalytics
    ? new LogsQueryClient(credential, {
        ...(logAnalytics.endpoint ? { endpoint: logAnalytics.endpoint } : {}),
        credentials: { scopes: [logAnalytics.scope ?? "https://api.loganalytics.io/.default"] },
        ...(settings.caPem ? { tlsOptions: { ca: settings.caPem } } : {}),
      })
    : null;
  return async (account, q) => {
    if (!IDENTITY_LOGGING_KINDS.includes(account.kind))
      return {
        known: false,
        why: `the RequestResponse logs of kind ${account.kind} name no caller identity and Azure Monitor's metrics have no authentication dimension; only the key holders keyturn can see tell what still uses keys`,
      };
    if (!logs || !logAnalytics)
      return {
        known: false,
        why: "no Log Analytics workspace is configured (AZURE_LOG_ANALYTICS_WORKSPACE_ID): the diagnostic logs are Azure's only record of key versus token calls",
      };
    const id = account.id.replace(/"/g, "");
    const base = `AzureDiagnostics | where ResourceId =~ "${id}" and Category == "RequestResponse"`;
    const run = async (query: string) => {
      try {
        const r = await logs.queryWorkspace(logAnalytics.workspaceId, query, {
          startTime: q.from,
          endTime: q.to,
        });
        return ("tables" in r ? r.tables[0]?.rows : undefined) ?? [];
      } catch (e) {
        throw classifyAzureError(e, { action: "Log Analytics query", scope: logAnalytics.workspaceId });
      }
    };
    const [byKey, byToken] = await Promise.all([
      run(
        `${base} and ${KEY_CALL} | summarize count(), max(TimeGenerated) by CallerIPAddress, OperationName`,
      ),
      run(`${base} and not(${KEY_CALL}) | summarize count()`),
    ]);
    const keyCallers = byKey
      .map((row) => ({
        callerIp: String(row[0] as string),
        operation: String(row[1] as string),
        calls: Number(row[2]),
      }))
      // most calls first; equal counts in a stable order, so the same traffic reads the same every time
      .sort(
        (a, b) =>
          b.calls - a.calls || a.callerIp.localeCompare(b.callerIp) || a.operation.localeCompare(b.operation),
      );
    const last = byKey
      .map((row) =>
        row[3] instanceof Date ? row[3].toISOString() : String((row[3] as string | undefined) ?? ""),
      )
      .filter(Boolean)
      .sort()
      .at(-1);
    return {
      known: true,
      from: q.from.toISOString(),
      to: q.to.toISOString(),
      keyCalls: keyCallers.reduce((n, c) => n + c.calls, 0),
      tokenCalls: Number(byToken[0]?.[0] ?? 0),
      lastKeyCall: last ?? null,
      keyCallers,
      source:
        "Log Analytics AzureDiagnostics RequestResponse rows (properties_s objectId empty = a key call); rows arrive minutes late and only where the account's diagnostic setting sends them",
    };
  };
}
