/**
 * The simulator's request handlers: ARM, Monitor, Log Analytics, data planes and admin on the main
 * listener; Key Vault on one listener per vault (the SDK reads /secrets/… from the start of the path).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { armRefusal, metadataEndpoints, subscriptionsRoute } from "./arm-checks.js";
import { routeArm } from "./arm-routes.js";
import { callDataPlane, DENIED_MESSAGE, KEY_AUTH_DISABLED } from "./dataplane.js";
import { withFaults, type Faults } from "./faults.js";
import {
  armError,
  audienceFits,
  AUDIENCES,
  callerOf,
  pathOf,
  readBody,
  send,
  type Caller,
  type Operation,
  type Reply,
} from "./http.js";
import { randomUUID } from "node:crypto";
import { routeVault } from "./keyvault.js";
import { logsQuery } from "./log-analytics.js";
import type { Tenant } from "./tenant.js";
import type { TokenBuckets } from "./throttle.js";

export interface ServerDeps {
  tenant: Tenant;
  faults: Faults;
  buckets: TokenBuckets;
  armEndpoint: () => string;
  pageSize: number;
  activityPageSize: number;
  armLatencyMs: number;
  throttle: boolean;
  admin: (method: string, path: string, body: string) => Reply;
  /** Requests held open by a timeout fault; destroyed on close. */
  held: Set<ServerResponse>;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

async function answer(
  d: ServerDeps,
  res: ServerResponse,
  method: string,
  path: string,
  operation: Operation,
  caller: Caller | undefined,
  run: () => Reply,
  extraHeaders: Record<string, string> = {},
): Promise<void> {
  const r = await withFaults(
    d.faults.take(method, path, operation),
    { path, operation, ...(caller ? { caller } : {}) },
    run,
  );
  if (r === "hold") {
    d.held.add(res);
    res.on("close", () => d.held.delete(res));
    return;
  }
  send(res, { ...r, headers: { ...extraHeaders, ...r.headers } });
}

export function mainHandler(d: ServerDeps): Handler {
  return async (req, res) => {
    const { path, query } = pathOf(req.url);
    const method = (req.method ?? "GET").toUpperCase();
    const body = await readBody(req).catch(() => "");
    if (path === "/_admin" || path.startsWith("/_admin/"))
      return send(res, d.admin(method, path.slice(7), body));
    const dp = /^\/dataplane\/([^/]+)\/([^/]+)(\/.*)?$/.exec(path);
    if (dp) {
      const account = d.tenant.accounts.find((a) => a.subscriptionId === dp[1] && a.name === dp[2]);
      if (!account)
        return send(res, { status: 404, body: { error: { code: "404", message: "Resource not found" } } });
      const route = dp[3] ?? "/";
      // Translator's language list needs no authentication ("Authentication isn't required to get
      // language resources", Translator v3 Languages reference): any key, or none, gets 200
      if (method === "GET" && account.kind === "TextTranslation" && /^\/languages\/?$/i.test(route))
        return answer(d, res, method, path, "dataPlane", undefined, () => ({
          status: 200,
          body: { translation: { de: { name: "German", nativeName: "Deutsch", dir: "ltr" } } },
        }));
      // nothing is served at the bare endpoint: answered without looking at the key
      if (route === "/")
        return send(res, { status: 404, body: { error: { code: "404", message: "Resource not found" } } });
      // a data-plane request may carry an Entra token instead of a key: one issued for another service is refused
      const bearer = callerOf(req);
      if (bearer && !audienceFits(bearer, "cognitiveServices"))
        return send(res, wrongAudience("cognitiveServices", bearer.aud!, d.tenant.scenario.tenantId));
      const key = String(req.headers["ocp-apim-subscription-key"] ?? req.headers["api-key"] ?? "");
      const operation = route.split("/").filter(Boolean).slice(0, 2).join("/") || "Root";
      const issueToken = /^\/sts\/v1\.0\/issuetoken$/i.test(route);
      if (issueToken && method !== "POST")
        return send(res, { status: 405, body: { error: { code: "405", message: "Method not allowed" } } });
      return answer(d, res, method, path, "dataPlane", undefined, () => {
        const status = callDataPlane(d.tenant, account.id, bearer ? "" : key, {
          apiName: account.kind,
          operation,
          callerIp: req.socket.remoteAddress ?? "127.0.0.1",
          // a token of the right audience authenticates the call with Microsoft Entra ID, keys off or on
          ...(bearer ? { objectId: bearer.objectId } : {}),
        });
        // the token exchange answers an access token as text (a sandbox token, valid nowhere else)
        if (status === 200 && issueToken)
          return {
            status: 200,
            body: `sandbox.${Buffer.from(JSON.stringify({ account: account.name, exp: Math.floor(Date.now() / 1000) + 600 })).toString("base64url")}`,
            headers: { "content-type": "application/jwt; charset=us-ascii" },
          };
        if (status === 403) return { status: 403, body: { error: KEY_AUTH_DISABLED } };
        return status === 200
          ? { status: 200, body: { status: "ok", sandbox: true, account: account.name } }
          : { status: 401, body: { error: { code: "401", message: DENIED_MESSAGE } } };
      });
    }
    // ARM's cloud metadata is anonymous: clients such as `az cloud register` read it before signing in
    if (/^\/metadata\/endpoints$/i.test(path) && method === "GET")
      return send(res, metadataEndpoints(d.armEndpoint()));
    const caller = callerOf(req);
    if (!caller) {
      return send(
        res,
        armError(
          401,
          "AuthenticationFailed",
          "Authentication failed. The 'Authorization' header is missing or invalid.",
          {
            "www-authenticate": `Bearer authorization_uri="https://login.microsoftonline.com/${d.tenant.scenario.tenantId}", error="invalid_token", error_description="The authentication failed because of missing 'Authorization' header."`,
          },
        ),
      );
    }
    const logs = /^\/loganalytics\//i.test(path);
    if (!audienceFits(caller, logs ? "logAnalytics" : "arm"))
      return send(res, wrongAudience(logs ? "logAnalytics" : "arm", caller.aud!, d.tenant.scenario.tenantId));
    if (/^\/loganalytics\/v1\/workspaces\/[^/]+\/query$/i.test(path) && method === "POST") {
      return answer(d, res, method, path, "logs", caller, () => logsQuery(d.tenant, body, path));
    }
    if (!query.get("api-version"))
      return send(
        res,
        armError(
          400,
          "MissingApiVersionParameter",
          "The api-version query parameter (?api-version=) is required for all requests.",
        ),
      );
    const refusal = armRefusal(d.tenant, path, query.get("api-version")!);
    if (refusal) return send(res, refusal);
    const subs = method === "GET" ? subscriptionsRoute(d.tenant, path) : null;
    if (subs) return send(res, subs);
    const route = routeArm(
      d.tenant,
      {
        armEndpoint: d.armEndpoint,
        pageSize: d.pageSize,
        activityPageSize: d.activityPageSize,
        deniedActions: () => d.faults.deniedActions(),
      },
      method,
      path,
      query,
    );
    if (!route)
      return send(
        res,
        armError(404, "InvalidResourceType", `The resource type could not be found for ${method} ${path}.`),
      );
    if (d.armLatencyMs > 0) await new Promise((r) => setTimeout(r, d.armLatencyMs));
    if (d.throttle && route.subscription) {
      const wait = d.buckets.take(route.subscription, route.write);
      if (wait >= 0) {
        return send(
          res,
          armError(
            429,
            "SubscriptionRequestsThrottled",
            `Number of '${route.write ? "write" : "read"}' requests for subscription '${route.subscription}' actor '${caller.objectId}' exceeded. Please try again after '${wait}' seconds after the first request.`,
            { "retry-after": String(wait) },
          ),
        );
      }
    }
    const header = route.write
      ? "x-ms-ratelimit-remaining-subscription-writes"
      : "x-ms-ratelimit-remaining-subscription-reads";
    const remaining = route.subscription
      ? String(d.buckets.remaining(route.subscription, route.write))
      : "11999";
    return answer(d, res, method, path, route.operation, caller, () => route.handle(body, caller), {
      [header]: remaining,
    });
  };
}

export function vaultHandler(d: ServerDeps, vault: string): Handler {
  return async (req, res) => {
    const url = new URL(req.url ?? "/", "https://sandbox.invalid");
    const method = (req.method ?? "GET").toUpperCase();
    const body = await readBody(req).catch(() => "");
    const caller = callerOf(req);
    // Key Vault's challenge: a client's first request comes without a token and without a body
    if (!caller) {
      return send(res, {
        status: 401,
        body: {
          error: { code: "Unauthorized", message: "AKV10000: Request is missing a Bearer or PoP token." },
        },
        headers: {
          "www-authenticate": `Bearer authorization="https://login.microsoftonline.com/${d.tenant.scenario.tenantId}", resource="https://vault.azure.net"`,
        },
      });
    }
    if (!audienceFits(caller, "keyVault"))
      return send(res, wrongAudience("keyVault", caller.aud!, d.tenant.scenario.tenantId));
    const path = decodeURIComponent(url.pathname);
    const route = routeVault(d.tenant, vault, d.tenant.vaultUrl(vault), method, path, url.searchParams, body);
    if (!route)
      return send(res, {
        status: 400,
        body: { error: { code: "BadParameter", message: `Unsupported ${method} ${url.pathname}` } },
      });
    return answer(d, res, method, path, route.operation, caller, route.reply);
  };
}

/** Each service's refusal of a token issued for another audience, in that service's own words and shape. */
export function wrongAudience(service: keyof typeof AUDIENCES, found: string, tenantId: string): Reply {
  const expected = AUDIENCES[service][0];
  switch (service) {
    case "arm":
      return armError(
        401,
        "InvalidAuthenticationTokenAudience",
        `The access token has been obtained for wrong audience or resource '${found}'. It should exactly match with one of the allowed audiences 'https://management.core.windows.net/','https://management.core.windows.net','https://management.azure.com/','https://management.azure.com'.`,
        {
          "www-authenticate": `Bearer authorization_uri="https://login.microsoftonline.com/${tenantId}", error="invalid_token", error_description="The access token has been obtained from wrong audience or resource."`,
        },
      );
    case "keyVault":
      return {
        status: 401,
        body: {
          error: {
            code: "Unauthorized",
            message: `AKV10022: Invalid audience. Expected ${expected}, found: ${found}.`,
          },
        },
        headers: {
          "www-authenticate": `Bearer authorization="https://login.microsoftonline.com/${tenantId}", resource="${expected}"`,
        },
      };
    case "logAnalytics":
      return {
        status: 401,
        body: {
          error: {
            message: "The provided authentication is not valid for this resource",
            code: "InvalidTokenError",
            correlationId: randomUUID(),
            innererror: {
              code: "AudienceValidationFailed",
              message: `The token audience '${found}' is not valid for this resource; expected '${expected}'.`,
            },
          },
        },
        headers: {
          "www-authenticate": `Bearer authorization_uri="https://login.microsoftonline.com/${tenantId}", error="invalid_token"`,
        },
      };
    case "cognitiveServices":
      return {
        status: 401,
        body: {
          error: {
            code: "401",
            message: `Access denied: the access token was issued for '${found}', but this resource accepts tokens for '${expected}' only.`,
          },
        },
      };
  }
}
