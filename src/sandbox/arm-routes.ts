/** ARM's router: which operation a request is, its subscription (for throttling) and its handler. */
import { routeAccounts } from "./arm-accounts.js";
import { routeSites } from "./appservice.js";
import type { Caller, Operation, Reply } from "./http.js";
import { activityLog, metrics } from "./monitor.js";
import { permissions } from "./permissions.js";
import type { Tenant } from "./tenant.js";

export interface ArmRoute {
  operation: Operation;
  subscription?: string;
  write: boolean;
  handle: (body: string, caller: Caller) => Reply;
}

export interface ArmContext {
  armEndpoint: () => string;
  pageSize: number;
  /** Activity Log events per page (Azure: up to 200). */
  activityPageSize?: number;
  deniedActions: () => string[];
}

const METRICS = /^(\/subscriptions\/.+)\/providers\/microsoft\.insights\/metrics$/i;
const ACTIVITY =
  /^\/subscriptions\/([^/]+)\/providers\/microsoft\.insights\/eventtypes\/management\/values$/i;
const PERMISSIONS =
  /^(\/subscriptions\/[^/]+(?:\/resourcegroups\/[^/]+)?(?:\/providers\/.+)?)\/providers\/microsoft\.authorization\/permissions$/i;

export function routeArm(
  t: Tenant,
  ctx: ArmContext,
  method: string,
  path: string,
  query: URLSearchParams,
): ArmRoute | null {
  let m: RegExpExecArray | null;
  if ((m = METRICS.exec(path)) && method === "GET") {
    const id = m[1]!;
    return {
      operation: "metrics",
      subscription: id.split("/")[2]!,
      write: false,
      handle: () => metrics(t, id, query),
    };
  }
  if ((m = ACTIVITY.exec(path)) && method === "GET") {
    const sub = m[1]!;
    return {
      operation: "activityLog",
      subscription: sub,
      write: false,
      handle: () =>
        activityLog(t, sub, query, {
          armEndpoint: ctx.armEndpoint(),
          path,
          pageSize: ctx.activityPageSize ?? 200,
        }),
    };
  }
  if ((m = PERMISSIONS.exec(path)) && method === "GET") {
    const scope = m[1]!;
    return {
      operation: "permissions",
      subscription: scope.split("/")[2]!,
      write: false,
      handle: () => permissions(t, scope, ctx.deniedActions()),
    };
  }
  return routeAccounts(t, ctx, method, path, query) ?? routeSites(t, method, path);
}
