/**
 * Injected faults: throttling with or without Retry-After, a 5xx after the operation really ran
 * (what makes the SDK re-send a regenerateKey), latency, 403, 404 and a socket that never answers.
 */
import type { Caller, Operation, Reply } from "./http.js";
import { armError } from "./http.js";

export interface Fault {
  match: { method?: string; pathIncludes?: string; operation?: Operation };
  effect:
    | { type: "throttle"; retryAfterSeconds?: number }
    | { type: "fail-after-success"; status: 500 | 502 | 503 }
    | { type: "hold-after-success"; ms: number }
    | { type: "latency"; ms: number }
    | { type: "forbidden" }
    | { type: "not-found" }
    | { type: "timeout" };
  /** How many requests it hits; default 1, -1 until cleared. */
  times?: number;
}

export class Faults {
  #list: (Fault & { left: number })[] = [];

  add(f: Fault): void {
    if (!f || typeof f !== "object" || !f.match || !f.effect || typeof f.effect.type !== "string")
      throw new Error("a fault needs { match, effect: { type } }");
    this.#list.push({ ...f, left: f.times ?? 1 });
  }

  clear(): void {
    this.#list = [];
  }

  list(): Fault[] {
    return this.#list.map(({ left, ...f }) => ({ ...f, times: left }));
  }

  /** Actions denied by a standing forbidden fault: the permissions API reports them as notActions. */
  deniedActions(): string[] {
    return this.#list
      .filter((f) => f.effect.type === "forbidden" && f.match.operation && f.left !== 0)
      .map((f) => actionOf(f.match.operation!));
  }

  take(method: string, path: string, operation: Operation): Fault["effect"][] {
    const hit: Fault["effect"][] = [];
    for (const f of this.#list) {
      if (f.left === 0) continue;
      if (f.match.method && f.match.method.toUpperCase() !== method) continue;
      if (f.match.pathIncludes && !path.toLowerCase().includes(f.match.pathIncludes.toLowerCase())) continue;
      if (f.match.operation && f.match.operation !== operation) continue;
      if (f.left > 0) f.left--;
      hit.push(f.effect);
    }
    this.#list = this.#list.filter((f) => f.left !== 0);
    return hit;
  }
}

/** What a fault does to one request: a reply instead of the operation, "hold" (never answer), or run it (maybe then fail). */
export async function withFaults(
  effects: Fault["effect"][],
  ctx: { caller?: Caller; path: string; operation: Operation },
  run: () => Reply,
): Promise<Reply | "hold"> {
  let failAfter: number | null = null;
  let holdAfter = 0;
  for (const e of effects) {
    if (e.type === "latency") await new Promise((r) => setTimeout(r, e.ms));
    else if (e.type === "timeout") return "hold";
    else if (e.type === "throttle") {
      return armError(
        429,
        "SubscriptionRequestsThrottled",
        "Number of 'read' requests for subscription actor exceeded. Please try again after some time.",
        e.retryAfterSeconds !== undefined ? { "retry-after": String(e.retryAfterSeconds) } : {},
      );
    } else if (e.type === "forbidden") {
      const oid = ctx.caller?.objectId ?? "00000000-0000-0000-0000-000000000000";
      return armError(
        403,
        "AuthorizationFailed",
        `The client '${oid}' with object id '${oid}' does not have authorization to perform action '${actionOf(ctx.operation)}' over scope '${ctx.path}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
      );
    } else if (e.type === "not-found") {
      return armError(
        404,
        "ResourceNotFound",
        `The Resource '${ctx.path}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
      );
    } else if (e.type === "hold-after-success") holdAfter = e.ms;
    else failAfter = e.status;
  }
  const reply = run();
  // the operation is done; the answer is late (a caller that dies meanwhile never learns it)
  if (holdAfter) await new Promise((r) => setTimeout(r, holdAfter));
  if (failAfter !== null && reply.status < 400)
    return armError(failAfter, "InternalServerError", "Encountered internal server error. Please try again.");
  return reply;
}

export function actionOf(op: Operation): string {
  switch (op) {
    case "listKeys":
      return "Microsoft.CognitiveServices/accounts/listKeys/action";
    case "regenerateKey":
      return "Microsoft.CognitiveServices/accounts/regenerateKey/action";
    case "getAccount":
    case "listAccounts":
      return "Microsoft.CognitiveServices/accounts/read";
    case "updateAccount":
      return "Microsoft.CognitiveServices/accounts/write";
    case "metrics":
      return "Microsoft.Insights/metrics/read";
    case "activityLog":
      return "Microsoft.Insights/eventtypes/values/read";
    case "appSettings":
      return "Microsoft.Web/sites/config/list/action";
    case "setSecret":
      return "Microsoft.KeyVault/vaults/secrets/setSecret/action";
    case "getSecret":
    case "listSecrets":
      return "Microsoft.KeyVault/vaults/secrets/getSecret/action";
    case "permissions":
      return "Microsoft.Authorization/permissions/read";
    case "logs":
      return "Microsoft.OperationalInsights/workspaces/query/read";
    case "dataPlane":
      return "Microsoft.CognitiveServices/accounts/*/action";
  }
}
