/**
 * The accounts' data plane: a key is accepted if it is one of the account's two current keys (never
 * with local auth disabled). Every call, from HTTP or from a simulated consumer, lands in the
 * per-minute metrics and, when refused, in the diagnostic log that Log Analytics queries.
 */
import type { Tenant } from "./tenant.js";

export interface Counts {
  calls: number;
  ok: number;
  clientErrors: number;
  latencyMs: number;
  byStatus: Record<string, number>;
}

/** One minute of an account's traffic, by ApiName and OperationName. */
export interface Bucket extends Counts {
  byApi: Record<string, Counts>;
  byOperation: Record<string, Counts>;
}

const RETAIN_MS = 31 * 86_400_000;
const empty = (): Counts => ({ calls: 0, ok: 0, clientErrors: 0, latencyMs: 0, byStatus: {} });

export const DENIED_MESSAGE =
  "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.";

export function callDataPlane(
  t: Tenant,
  accountId: string,
  key: string,
  call: { apiName: string; operation: string; callerIp: string },
): number {
  const a = t.account(accountId);
  if (!a) return 404;
  const retiring = (t.retiring.get(key) ?? 0) > Date.now() && t.keyOwner.get(key) === a.id;
  const ok = key !== "" && !a.disableLocalAuth && (a.keys.key1 === key || a.keys.key2 === key || retiring);
  if (ok) t.keyOwner.set(key, a.id);
  const status = ok ? 200 : 401;
  const latency = ok ? 40 + (key.charCodeAt(0) % 20) : 3;
  const minute = Math.floor(Date.now() / 60_000) * 60_000;
  const id = a.id.toLowerCase();
  const perAccount = t.metrics[id] ?? (t.metrics[id] = {});
  if (!perAccount[minute]) {
    // Azure keeps platform metrics 93 days; the simulator keeps 31 so long runs stay small
    for (const k of Object.keys(perAccount)) if (Number(k) < minute - RETAIN_MS) delete perAccount[k];
  }
  const b = (perAccount[minute] ??= { ...empty(), byApi: {}, byOperation: {} });
  for (const c of [b, (b.byApi[call.apiName] ??= empty()), (b.byOperation[call.operation] ??= empty())]) {
    c.calls++;
    c.latencyMs += latency;
    c.byStatus[String(status)] = (c.byStatus[String(status)] ?? 0) + 1;
    if (ok) c.ok++;
    else c.clientErrors++;
  }
  if (!ok) {
    t.unauthorized.push({
      accountId: a.id,
      at: Date.now(),
      callerIp: call.callerIp,
      operation: call.operation,
    });
    if (t.unauthorized.length > 50_000) t.unauthorized.splice(0, 10_000);
  }
  return status;
}

export function metricBuckets(t: Tenant, accountId: string, from: number, to: number): [number, Bucket][] {
  const m = t.metrics[accountId.toLowerCase()];
  if (!m) return [];
  return Object.entries(m)
    .map(([k, v]) => [Number(k), v] as [number, Bucket])
    .filter(([at]) => at + 60_000 > from && at <= to)
    .sort((x, y) => x[0] - y[0]);
}
