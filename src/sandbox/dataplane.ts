/**
 * The accounts' data plane: a key is accepted if it is one of the account's two current keys, or a
 * regenerated one still inside its invalidation delay (never with local auth disabled). Every call,
 * from HTTP or from a simulated consumer, lands in the per-minute metrics and in the diagnostic log
 * that Log Analytics queries — each only after its ingestion delay, as in Azure Monitor.
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

/** Azure OpenAI / AI Services' answer to a key once local auth is disabled (403, whatever the key). */
export const KEY_AUTH_DISABLED = {
  code: "AuthenticationTypeDisabled",
  message: "Key based authentication is disabled for this resource.",
};

/**
 * One data-plane call: with a key, or (`call.objectId`) with a Microsoft Entra token of the right
 * audience, which works whether or not local auth is disabled. A key is refused with 403 once local
 * auth is disabled, with 401 when it is not one of the account's keys.
 */
export function callDataPlane(
  t: Tenant,
  accountId: string,
  key: string,
  call: { apiName: string; operation: string; callerIp: string; objectId?: string },
): number {
  const a = t.account(accountId);
  if (!a) return 404;
  const token = call.objectId !== undefined;
  const retiring = (t.retiring.get(key) ?? 0) > Date.now() && t.keyOwner.get(key) === a.id;
  const keyOk = key !== "" && !a.disableLocalAuth && (a.keys.key1 === key || a.keys.key2 === key || retiring);
  const ok = token || keyOk;
  if (keyOk) t.keyOwner.set(key, a.id);
  const status = ok ? 200 : !token && key !== "" && a.disableLocalAuth ? 403 : 401;
  const latency = ok ? 40 + (key.charCodeAt(0) % 20) : 3;
  const now = Date.now();
  const minute = Math.floor(now / 60_000) * 60_000;
  const id = a.id.toLowerCase();
  const perAccount = t.metrics[id] ?? (t.metrics[id] = {});
  // a point is filed under its minute and the moment it becomes visible ("<minute>@<ms>", in 100 ms
  // steps): a read sees only what was ingested by then (no delay: the bare minute, visible at once)
  const visible = t.ingestAt("metrics", now);
  const slot = visible <= now ? String(minute) : `${minute}@${Math.ceil(visible / 100) * 100}`;
  if (!perAccount[slot]) {
    for (const k of Object.keys(perAccount)) {
      const [m, v] = k.split("@");
      // Azure keeps platform metrics 93 days; the simulator keeps 31 so long runs stay small
      if (Number(m) < minute - RETAIN_MS) delete perAccount[k];
      else if (v !== undefined && Number(v) <= now) {
        // ingested: folded into its minute, so pending slots stay few
        mergeBucket((perAccount[m!] ??= { ...empty(), byApi: {}, byOperation: {} }), perAccount[k]!);
        delete perAccount[k];
      }
    }
  }
  const b = (perAccount[slot] ??= { ...empty(), byApi: {}, byOperation: {} });
  for (const c of [b, (b.byApi[call.apiName] ??= empty()), (b.byOperation[call.operation] ??= empty())]) {
    c.calls++;
    c.latencyMs += latency;
    c.byStatus[String(status)] = (c.byStatus[String(status)] ?? 0) + 1;
    if (ok) c.ok++;
    else c.clientErrors++;
  }
  const row = {
    accountId: a.id,
    at: now,
    ingestedAt: t.ingestAt("logs", now),
    callerIp: call.callerIp,
    operation: call.operation,
    apiName: call.apiName,
    durationMs: latency,
    status,
    // the caller's Entra object id on token calls; empty on key calls
    objectId: call.objectId ?? "",
  };
  if (!ok) {
    t.unauthorized.push(row);
    if (t.unauthorized.length > 50_000) t.unauthorized.splice(0, 10_000);
  } else {
    // accepted calls are logged too (in memory only: a wrong filter must return them, not the 401s)
    t.accepted.push(row);
    if (t.accepted.length > 20_000) t.accepted.splice(0, 5_000);
  }
  return status;
}

const addCounts = (into: Counts, c: Counts): void => {
  into.calls += c.calls;
  into.ok += c.ok;
  into.clientErrors += c.clientErrors;
  into.latencyMs += c.latencyMs;
  for (const [k, v] of Object.entries(c.byStatus)) into.byStatus[k] = (into.byStatus[k] ?? 0) + v;
};

/** The minutes between two times as a read at `now` sees them: only points ingested by then. */
export function metricBuckets(
  t: Tenant,
  accountId: string,
  from: number,
  to: number,
  now = Date.now(),
): [number, Bucket][] {
  const m = t.metrics[accountId.toLowerCase()];
  if (!m) return [];
  const byMinute = new Map<number, Bucket[]>();
  for (const [k, v] of Object.entries(m)) {
    const [minuteText, visibleText] = k.split("@");
    const at = Number(minuteText);
    if (!(at + 60_000 > from && at <= to)) continue;
    if (visibleText !== undefined && Number(visibleText) > now) continue;
    byMinute.set(at, [...(byMinute.get(at) ?? []), v]);
  }
  return [...byMinute.entries()]
    .map(([at, parts]): [number, Bucket] => {
      if (parts.length === 1) return [at, parts[0]!];
      // several ingestion slots of one minute: merged into a copy, never into a stored bucket
      const merged: Bucket = { ...empty(), byApi: {}, byOperation: {} };
      for (const p of parts) mergeBucket(merged, p);
      return [at, merged];
    })
    .sort((x, y) => x[0] - y[0]);
}

function mergeBucket(into: Bucket, b: Bucket): void {
  addCounts(into, b);
  for (const [k, c] of Object.entries(b.byApi)) addCounts((into.byApi[k] ??= empty()), c);
  for (const [k, c] of Object.entries(b.byOperation)) addCounts((into.byOperation[k] ??= empty()), c);
}
