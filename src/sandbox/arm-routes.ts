/**
 * ARM as the SDKs call it: Cognitive Services accounts and keys (2025-09-01), App Service sites and
 * their Key Vault references, Azure Monitor metrics and Activity Log, the permissions API, and a
 * Log Analytics query endpoint — shapes as Azure's REST specs publish them.
 */
import type { Caller, Operation, Reply } from "./http.js";
import { armError } from "./http.js";
import type { AccountState, SiteState, Slot, Tenant } from "./tenant.js";

export interface ArmRoute {
  operation: Operation;
  subscription?: string;
  write: boolean;
  handle: (body: string, caller: Caller) => Reply;
}

const ACCOUNTS =
  /^\/subscriptions\/([^/]+)(?:\/resourcegroups\/([^/]+))?\/providers\/microsoft\.cognitiveservices\/accounts$/i;
const ACCOUNT =
  /^\/subscriptions\/([^/]+)\/resourcegroups\/([^/]+)\/providers\/microsoft\.cognitiveservices\/accounts\/([^/]+)(?:\/(listkeys|regeneratekey))?$/i;
const METRICS = /^(\/subscriptions\/.+)\/providers\/microsoft\.insights\/metrics$/i;
const ACTIVITY =
  /^\/subscriptions\/([^/]+)\/providers\/microsoft\.insights\/eventtypes\/management\/values$/i;
const SITES = /^\/subscriptions\/([^/]+)\/providers\/microsoft\.web\/sites$/i;
const SITE =
  /^\/subscriptions\/([^/]+)\/resourcegroups\/([^/]+)\/providers\/microsoft\.web\/sites\/([^/]+)(\/config\/appsettings\/list|\/config\/appsettings|\/config\/configreferences\/appsettings|\/config\/configreferences\/appsettings\/refresh)?$/i;
const PERMISSIONS =
  /^(\/subscriptions\/[^/]+(?:\/resourcegroups\/[^/]+)?(?:\/providers\/.+)?)\/providers\/microsoft\.authorization\/permissions$/i;

const ROLE_ACTIONS = [
  "Microsoft.CognitiveServices/*",
  "Microsoft.KeyVault/vaults/read",
  "Microsoft.Insights/metrics/read",
  "Microsoft.Insights/eventtypes/values/read",
  "Microsoft.Web/sites/read",
  "Microsoft.Web/sites/config/list/action",
  "Microsoft.Web/sites/config/write",
];

export function routeArm(
  t: Tenant,
  opts: { armEndpoint: () => string; pageSize: number; denies: (op: Operation) => boolean },
  method: string,
  path: string,
  query: URLSearchParams,
): ArmRoute | null {
  let m: RegExpExecArray | null;
  if ((m = ACCOUNTS.exec(path)) && method === "GET") {
    const [, sub, rg] = m;
    return {
      operation: "listAccounts",
      subscription: sub!,
      write: false,
      handle: () => {
        const all = t.accounts.filter((a) => eq(a.subscriptionId, sub!) && (!rg || eq(a.resourceGroup, rg)));
        const skip = Number(query.get("$skiptoken") ?? "0") || 0;
        const page = all.slice(skip, skip + opts.pageSize);
        const next =
          skip + opts.pageSize < all.length
            ? `${opts.armEndpoint()}${path}?api-version=${query.get("api-version")}&$skiptoken=${skip + opts.pageSize}`
            : undefined;
        return {
          status: 200,
          body: {
            value: page.map((a) => accountJson(a, opts.armEndpoint())),
            ...(next ? { nextLink: next } : {}),
          },
        };
      },
    };
  }
  if ((m = ACCOUNT.exec(path))) {
    const [, sub, rg, name, action] = m;
    const id = `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.CognitiveServices/accounts/${name}`;
    const find = () => t.account(id);
    const missing = () =>
      armError(
        404,
        "ResourceNotFound",
        `The Resource 'Microsoft.CognitiveServices/accounts/${name}' under resource group '${rg}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
      );
    if (!action && method === "GET") {
      return {
        operation: "getAccount",
        subscription: sub!,
        write: false,
        handle: () => {
          const a = find();
          return a ? { status: 200, body: accountJson(a, opts.armEndpoint()) } : missing();
        },
      };
    }
    if (action?.toLowerCase() === "listkeys" && method === "POST") {
      return {
        operation: "listKeys",
        subscription: sub!,
        write: true,
        handle: (_b, caller) => {
          const a = find();
          if (!a) return missing();
          if (a.disableLocalAuth)
            return armError(400, "BadRequest", "Failed to list key. disableLocalAuth is set to be true");
          t.record(
            a,
            "Microsoft.CognitiveServices/accounts/listKeys/action",
            caller.name,
            caller.ip,
            "Succeeded",
          );
          return { status: 200, body: { key1: a.keys.key1, key2: a.keys.key2 } };
        },
      };
    }
    if (action?.toLowerCase() === "regeneratekey" && method === "POST") {
      return {
        operation: "regenerateKey",
        subscription: sub!,
        write: true,
        handle: (body, caller) => {
          const a = find();
          if (!a) return missing();
          const keyName = (safeJson(body) as { keyName?: string } | null)?.keyName;
          if (keyName !== "Key1" && keyName !== "Key2")
            return armError(
              400,
              "InvalidRequestContent",
              "The request content was invalid: keyName must be Key1 or Key2.",
            );
          if (a.disableLocalAuth)
            return armError(
              400,
              "BadRequest",
              "Failed to regenerate key. disableLocalAuth is set to be true",
            );
          t.regenerate(a, keyName === "Key1" ? "key1" : "key2", caller.name, caller.ip);
          return { status: 200, body: { key1: a.keys.key1, key2: a.keys.key2 } };
        },
      };
    }
  }
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
      handle: () => activity(t, sub, query.get("$filter") ?? ""),
    };
  }
  if ((m = SITES.exec(path)) && method === "GET") {
    const sub = m[1]!;
    return {
      operation: "appSettings",
      subscription: sub,
      write: false,
      handle: () => ({
        status: 200,
        body: { value: t.sites.filter((s) => eq(s.subscriptionId, sub)).map(siteJson) },
      }),
    };
  }
  if ((m = SITE.exec(path))) {
    const [, sub, rg, name, sub2] = m;
    const site = t.sites.find(
      (s) => eq(s.subscriptionId, sub!) && eq(s.resourceGroup, rg!) && eq(s.name, name!),
    );
    const tail = (sub2 ?? "").toLowerCase();
    const write = method !== "GET";
    const handle = (body: string): Reply => {
      if (!site)
        return armError(
          404,
          "ResourceNotFound",
          `The Resource 'Microsoft.Web/sites/${name}' under resource group '${rg}' was not found.`,
        );
      if (tail === "" && method === "GET") return { status: 200, body: siteJson(site) };
      if (tail === "/config/appsettings/list" && method === "POST")
        return {
          status: 200,
          body: {
            id: `${site.id}/config/appsettings`,
            name: "appsettings",
            type: "Microsoft.Web/sites/config",
            properties: settingsJson(t, site),
          },
        };
      if (tail === "/config/appsettings" && method === "PUT") {
        const props = (safeJson(body) as { properties?: Record<string, string> } | null)?.properties ?? {};
        for (const [k, v] of Object.entries(props)) site.settings[k] = parseSetting(t, v);
        t.refreshSite(site);
        t.save();
        return {
          status: 200,
          body: {
            id: `${site.id}/config/appsettings`,
            name: "appsettings",
            properties: settingsJson(t, site),
          },
        };
      }
      if (tail === "/config/configreferences/appsettings" && method === "GET")
        return { status: 200, body: { value: referencesJson(t, site) } };
      if (tail === "/config/configreferences/appsettings/refresh" && method === "POST") {
        t.refreshSite(site);
        return { status: 200, body: { value: referencesJson(t, site) } };
      }
      return armError(405, "MethodNotAllowed", `${method} is not supported on ${path}`);
    };
    return { operation: "appSettings", subscription: sub!, write, handle };
  }
  if ((m = PERMISSIONS.exec(path)) && method === "GET") {
    const scope = m[1]!;
    return {
      operation: "permissions",
      subscription: scope.split("/")[2]!,
      write: false,
      handle: () => {
        const notActions: string[] = [];
        if (opts.denies("regenerateKey"))
          notActions.push("Microsoft.CognitiveServices/accounts/regenerateKey/action");
        if (opts.denies("listKeys")) notActions.push("Microsoft.CognitiveServices/accounts/listKeys/action");
        return {
          status: 200,
          body: {
            value: [
              {
                actions: ROLE_ACTIONS,
                notActions,
                dataActions: ["Microsoft.KeyVault/vaults/secrets/*"],
                notDataActions: [],
              },
            ],
          },
        };
      },
    };
  }
  return null;
}

const eq = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

export function accountJson(a: AccountState, armEndpoint: string): unknown {
  const endpoint = `${armEndpoint}/dataplane/${a.subscriptionId}/${a.name}/`;
  return {
    id: a.id,
    name: a.name,
    type: "Microsoft.CognitiveServices/accounts",
    location: a.location,
    sku: { name: "S0" },
    kind: a.kind,
    etag: `"${a.keys.key1.length.toString(16)}-${a.regenerations.key1 + a.regenerations.key2}"`,
    tags: a.tags,
    properties: {
      endpoint,
      endpoints: { [a.kind === "OpenAI" ? "OpenAI Language Model Instance API" : `${a.kind} API`]: endpoint },
      internalId: a.id.length.toString(16).padStart(32, "0"),
      dateCreated: a.createdAt,
      provisioningState: "Succeeded",
      customSubDomainName: a.name,
      publicNetworkAccess: "Enabled",
      disableLocalAuth: a.disableLocalAuth,
      isMigrated: false,
      capabilities: [{ name: "VirtualNetworks" }],
    },
    systemData: {
      createdBy: "sandbox@contoso.com",
      createdByType: "User",
      createdAt: a.createdAt,
      lastModifiedBy: "sandbox@contoso.com",
      lastModifiedByType: "User",
      lastModifiedAt: a.createdAt,
    },
  };
}

function siteJson(s: SiteState): unknown {
  return {
    id: s.id,
    name: s.name,
    type: "Microsoft.Web/sites",
    kind: "app",
    location: "westeurope",
    tags: s.owner ? { owner: s.owner } : {},
    properties: { state: "Running", defaultHostName: `${s.name}.azurewebsites.net`, enabled: true },
  };
}

function settingsJson(t: Tenant, s: SiteState): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(s.settings)) {
    if (v.literal !== undefined) out[k] = v.literal;
    else if (v.reference)
      out[k] =
        `@Microsoft.KeyVault(SecretUri=${t.vaultUrl(v.reference.vault)}/secrets/${v.reference.secret}/${v.reference.version ?? ""})`;
  }
  return out;
}

function parseSetting(
  t: Tenant,
  value: string,
): { reference?: { vault: string; secret: string; version?: string }; literal?: string } {
  const m = /^@Microsoft\.KeyVault\(SecretUri=(https:\/\/[^/]+)\/secrets\/([^/)]+)\/?([^/)]*)\)$/i.exec(
    value,
  );
  if (!m) return { literal: value };
  const vault = t.vaultNameOf(m[1]!) ?? m[1]!;
  return { reference: { vault, secret: m[2]!, ...(m[3] ? { version: m[3] } : {}) } };
}

function referencesJson(t: Tenant, s: SiteState): unknown[] {
  return Object.entries(s.settings)
    .filter(([, v]) => v.reference)
    .map(([k, v]) => ({
      id: `${s.id}/config/configreferences/appsettings/${k}`,
      name: k,
      type: "Microsoft.Web/sites/config/reference",
      properties: {
        reference: `@Microsoft.KeyVault(SecretUri=${t.vaultUrl(v.reference!.vault)}/secrets/${v.reference!.secret}/${v.reference!.version ?? ""})`,
        status: "Resolved",
        vaultName: v.reference!.vault,
        secretName: v.reference!.secret,
        secretVersion: v.reference!.version ?? "",
        identityType: "SystemAssigned",
        activeVersion: s.resolved[k]?.version ?? "",
      },
    }));
}

function parseTimespan(q: URLSearchParams): [number, number] {
  const ts = q.get("timespan");
  if (ts?.includes("/")) {
    const [a, b] = ts.split("/");
    const from = Date.parse(a!);
    const to = Date.parse(b!);
    if (!Number.isNaN(from) && !Number.isNaN(to)) return [from, to];
  }
  return [Date.now() - 3600_000, Date.now()];
}

const METRIC_NAMES: Record<string, string> = {
  TotalCalls: "Total Calls",
  SuccessfulCalls: "Successful Calls",
  TotalErrors: "Total Errors",
  ClientErrors: "Client Errors",
  ServerErrors: "Server Errors",
  BlockedCalls: "Blocked Calls",
  AzureOpenAIRequests: "Azure OpenAI Requests",
};

function metrics(t: Tenant, resourceId: string, q: URLSearchParams): Reply {
  const a = t.account(resourceId);
  if (!a) return armError(404, "ResourceNotFound", `The Resource '${resourceId}' was not found.`);
  const [from, to] = parseTimespan(q);
  const names = (q.get("metricnames") ?? "TotalCalls")
    .split(",")
    .map((n) => n.trim())
    .filter(Boolean);
  const unknown = names.find((n) => !METRIC_NAMES[n]);
  if (unknown)
    return armError(
      400,
      "BadRequest",
      `Failed to find metric configuration for provider: Microsoft.CognitiveServices, resource Type: accounts, metric: ${unknown}`,
    );
  const filter = q.get("$filter") ?? "";
  const split = /apiname\s+eq\s+'\*'/i.test(filter)
    ? "ApiName"
    : /statuscode\s+eq\s+'\*'/i.test(filter)
      ? "StatusCode"
      : null;
  const buckets = t.buckets(a.id, from, to);
  const value = names.map((n) => {
    const pick = (b: { calls: number; ok: number; clientErrors: number }) =>
      n === "TotalCalls" || n === "AzureOpenAIRequests"
        ? b.calls
        : n === "SuccessfulCalls"
          ? b.ok
          : n === "ClientErrors" || n === "TotalErrors"
            ? b.clientErrors
            : 0;
    let timeseries: unknown[];
    if (split === "ApiName") {
      const apis = [...new Set(buckets.flatMap(([, b]) => Object.keys(b.byApi)))];
      timeseries = apis.map((api) => ({
        metadatavalues: [{ name: { value: "apiname", localizedValue: "ApiName" }, value: api }],
        data: buckets.map(([at, b]) => ({
          timeStamp: new Date(at).toISOString(),
          total: b.byApi[api] ? pick(b.byApi[api]) : 0,
        })),
      }));
    } else if (split === "StatusCode") {
      const codes = [
        ...new Set(
          buckets.flatMap(([, b]) => Object.values(b.byApi).flatMap((x) => Object.keys(x.byStatus))),
        ),
      ];
      timeseries = codes.map((code) => ({
        metadatavalues: [{ name: { value: "statuscode", localizedValue: "StatusCode" }, value: code }],
        data: buckets.map(([at, b]) => ({
          timeStamp: new Date(at).toISOString(),
          total: Object.values(b.byApi).reduce((s, x) => s + (x.byStatus[code] ?? 0), 0),
        })),
      }));
    } else {
      timeseries = [
        {
          metadatavalues: [],
          data: buckets.map(([at, b]) => ({ timeStamp: new Date(at).toISOString(), total: pick(b) })),
        },
      ];
    }
    return {
      id: `${a.id}/providers/Microsoft.Insights/metrics/${n}`,
      type: "Microsoft.Insights/metrics",
      name: { value: n, localizedValue: METRIC_NAMES[n] },
      displayDescription: "",
      unit: "Count",
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

function activity(t: Tenant, sub: string, filter: string): Reply {
  const ge = /eventTimestamp\s+ge\s+'([^']+)'/i.exec(filter)?.[1];
  const le = /eventTimestamp\s+le\s+'([^']+)'/i.exec(filter)?.[1];
  const res = /resource(?:Uri|Id)\s+eq\s+'([^']+)'/i.exec(filter)?.[1];
  if (!ge) return armError(400, "BadRequest", "The $filter must contain eventTimestamp ge '<time>'.");
  const from = Date.parse(ge);
  const to = le ? Date.parse(le) : Date.now();
  const events = t.activity.filter(
    (e) =>
      eq(e.subscriptionId, sub) &&
      Date.parse(e.at) >= from &&
      Date.parse(e.at) <= to &&
      (!res || eq(e.resourceId, res)),
  );
  return {
    status: 200,
    body: {
      value: events.map((e) => ({
        authorization: { action: e.operation, scope: e.resourceId },
        caller: e.caller,
        channels: "Operation",
        claims: { ipaddr: e.callerIp, name: e.caller },
        correlationId: e.id,
        eventDataId: e.id,
        eventName: { value: "EndRequest", localizedValue: "End request" },
        category: { value: "Administrative", localizedValue: "Administrative" },
        eventTimestamp: e.at,
        id: `${e.resourceId}/events/${e.id}/ticks/${Date.parse(e.at)}`,
        level: "Informational",
        operationId: e.id,
        operationName: { value: e.operation, localizedValue: e.operation },
        resourceGroupName: e.resourceId.split("/")[4],
        resourceProviderName: {
          value: "Microsoft.CognitiveServices",
          localizedValue: "Microsoft.CognitiveServices",
        },
        resourceType: {
          value: "Microsoft.CognitiveServices/accounts",
          localizedValue: "Microsoft.CognitiveServices/accounts",
        },
        resourceId: e.resourceId,
        status: { value: e.status, localizedValue: e.status },
        subStatus: { value: "OK", localizedValue: "OK" },
        submissionTimestamp: e.at,
        subscriptionId: e.subscriptionId,
        tenantId: t.scenario.tenantId,
      })),
    },
  };
}

/** Log Analytics: AzureDiagnostics 401s by caller IP for the account named in the query. */
export function logsQuery(t: Tenant, body: string): Reply {
  const q = (safeJson(body) as { query?: string; timespan?: string } | null) ?? {};
  const text = q.query ?? "";
  const account =
    t.accounts.find((a) => text.toLowerCase().includes(a.id.toLowerCase())) ??
    t.accounts.find((a) => new RegExp(`["'=\\s]${a.name}["'\\s]`, "i").test(text));
  const columns = [
    { name: "CallerIPAddress", type: "string" },
    { name: "OperationName", type: "string" },
    { name: "count_", type: "long" },
  ];
  if (!account || !/AzureDiagnostics/i.test(text))
    return { status: 200, body: { tables: [{ name: "PrimaryResult", columns, rows: [] }] } };
  const [fromIso, toIso] = (q.timespan ?? "").split("/");
  const from = fromIso ? Date.parse(fromIso) : 0;
  const to = toIso && !Number.isNaN(Date.parse(toIso)) ? Date.parse(toIso) : Date.now();
  const counts = new Map<string, number>();
  for (const u of t.unauthorized) {
    if (u.accountId !== account.id || u.at < from || u.at > to) continue;
    const k = `${u.callerIp}|${u.operation}`;
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  const rows = [...counts.entries()].map(([k, n]) => [...k.split("|"), n]);
  return { status: 200, body: { tables: [{ name: "PrimaryResult", columns, rows }] } };
}

export type { Slot };
