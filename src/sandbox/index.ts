/**
 * The simulated Azure tenant: one HTTPS server (ARM, Monitor, Log Analytics, data planes, admin)
 * plus one HTTPS listener per Key Vault, all under a CA generated at start. keyturn points its
 * real Azure SDK clients at it exactly as at Azure: endpoint, CA and credential are configuration.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import { generate } from "selfsigned";
import { logsQuery, routeArm } from "./arm-routes.js";
import type { Fault, Operation, Reply } from "./http.js";
import { armError, callerOf, Faults, readBody, send, sleep, TokenBuckets } from "./http.js";
import { loadScenario, type ScenarioInput } from "./scenario.js";
import { Tenant, type ConsumerReport } from "./tenant.js";
import { routeVault } from "./vault-routes.js";

export { generateScenario, loadScenario } from "./scenario.js";
export type { Scenario, ScenarioInput } from "./scenario.js";
export type { Fault } from "./http.js";
export type { ConsumerReport } from "./tenant.js";

export interface SimulatorOptions {
  scenario?: ScenarioInput | string;
  host?: string;
  port?: number;
  dataDir?: string;
  stateFile?: string;
  armLatencyMs?: number;
  throttle?: boolean;
  pageSize?: number;
  consumers?: boolean;
  consumerTickMs?: number;
}

export interface SimulatorAdmin {
  keyValues(): string[];
  currentKeys(accountId: string): { key1: string; key2: string };
  regenerations(): Record<string, { key1: number; key2: number }>;
  injectFault(f: Fault): void;
  clearFaults(): void;
  consumers(): ConsumerReport[];
  repin(site: string, version: string): void;
  tick(): void;
  refreshAll(): void;
  requestCounts(): Record<string, { reads: number; writes: number }>;
}

export interface Simulator {
  readonly armEndpoint: string;
  readonly vaultUrls: Readonly<Record<string, string>>;
  readonly logAnalyticsEndpoint: string;
  readonly workspaceId: string;
  readonly tenantId: string;
  readonly subscriptionIds: readonly string[];
  readonly caPem: string;
  readonly caPath: string;
  readonly adminUrl: string;
  readonly admin: SimulatorAdmin;
  readonly users: ReturnType<typeof loadScenario>["users"];
  close(): Promise<void>;
}

export const WORKSPACE_ID = "9b3f6a52-0f2e-4f59-8e3d-5a1b2c3d4e5f";

/** A credential the simulator accepts (`sim.<identity>`); the identity shows in its Activity Log. */
export function createSimulatorCredential(
  identity: { name: string; objectId?: string; ip?: string } = { name: "keyturn@sandbox" },
): TokenCredential {
  const token =
    "sim." +
    Buffer.from(
      JSON.stringify({ objectId: "7c1e2d3f-0000-4000-8000-00000000c0de", ip: "10.0.0.5", ...identity }),
    ).toString("base64url");
  return {
    getToken: async (): Promise<AccessToken> => ({ token, expiresOnTimestamp: Date.now() + 3600_000 }),
  };
}

export async function startSimulator(opts: SimulatorOptions = {}): Promise<Simulator> {
  const scenario = loadScenario(opts.scenario);
  const host = opts.host ?? "127.0.0.1";
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), "keyturn-sim-"));
  mkdirSync(dataDir, { recursive: true });
  const ca = await generate([{ name: "commonName", value: "keyturn sandbox CA (SANDBOX)" }], {
    keyType: "ec",
    curve: "P-256",
    algorithm: "sha256",
    extensions: [
      { name: "basicConstraints", cA: true, critical: true },
      { name: "keyUsage", keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  const leaf = await generate([{ name: "commonName", value: host }], {
    keyType: "ec",
    curve: "P-256",
    algorithm: "sha256",
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      {
        name: "subjectAltName",
        altNames: [
          { type: 7, ip: "127.0.0.1" },
          { type: 2, value: "localhost" },
          ...(host !== "127.0.0.1" ? [{ type: 7 as const, ip: host }] : []),
        ],
      },
      { name: "extKeyUsage", serverAuth: true },
    ],
  });
  const caPath = join(dataDir, "ca.pem");
  writeFileSync(caPath, ca.cert);

  const tenant = new Tenant(scenario, opts.stateFile);
  const faults = new Faults();
  const buckets = new TokenBuckets();
  const pageSize = opts.pageSize ?? 100;
  let armEndpoint = "";
  const pending = new Set<ServerResponse>();

  const applyFaults = async (
    method: string,
    path: string,
    op: Operation,
    run: () => Reply,
    res: ServerResponse,
  ): Promise<Reply | null> => {
    const effects = faults.take(method, path, op);
    let failAfter: number | null = null;
    let holdAfter = 0;
    for (const e of effects) {
      if (e.type === "latency") await sleep(e.ms);
      else if (e.type === "timeout") {
        pending.add(res);
        res.on("close", () => pending.delete(res));
        return null;
      } else if (e.type === "throttle") {
        return armError(
          429,
          "SubscriptionRequestsThrottled",
          "Number of requests for subscription exceeded the limit. Please try again later.",
          e.retryAfterSeconds !== undefined ? { "retry-after": String(e.retryAfterSeconds) } : {},
        );
      } else if (e.type === "forbidden") {
        return armError(
          403,
          "AuthorizationFailed",
          `The client 'keyturn@sandbox' with object id '7c1e2d3f-0000-4000-8000-00000000c0de' does not have authorization to perform action '${actionOf(op)}' over scope '${path}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
        );
      } else if (e.type === "not-found") {
        return armError(404, "ResourceNotFound", `The Resource '${path}' was not found.`);
      } else if (e.type === "fail-after-success") failAfter = e.status;
      else if (e.type === "hold-after-success") holdAfter = e.ms;
    }
    const reply = run();
    // the operation is done; the answer is late (a caller that dies meanwhile never learns it)
    if (holdAfter) await sleep(holdAfter);
    if (failAfter !== null && reply.status < 400)
      return armError(
        failAfter,
        "InternalServerError",
        "An internal server error occurred. Please retry later.",
      );
    return reply;
  };

  const main = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "https://x");
    const path = decodeURIComponent(url.pathname).replace(/\/+$/, "") || "/";
    const method = (req.method ?? "GET").toUpperCase();
    const body = await readBody(req).catch(() => "");
    if (path.startsWith("/_admin")) return send(res, adminRoute(method, path.slice(7), body));
    const dp = /^\/dataplane\/([^/]+)\/([^/]+)(\/.*)?$/.exec(path);
    if (dp) {
      const account = tenant.accounts.find((a) => a.subscriptionId === dp[1] && a.name === dp[2]);
      if (!account)
        return send(res, { status: 404, body: { error: { code: "404", message: "Resource not found" } } });
      const key = String(req.headers["ocp-apim-subscription-key"] ?? req.headers["api-key"] ?? "");
      const r = await applyFaults(
        method,
        path,
        "dataPlane",
        () => {
          const status = tenant.dataPlane(account.id, key, "Probe", req.socket.remoteAddress ?? "127.0.0.1");
          return status === 200
            ? { status: 200, body: { status: "ok", sandbox: true } }
            : {
                status: 401,
                body: {
                  error: {
                    code: "401",
                    message:
                      "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.",
                  },
                },
              };
        },
        res,
      );
      return r && send(res, r);
    }
    const caller = callerOf(req);
    if (!caller) {
      return send(
        res,
        armError(
          401,
          "AuthenticationFailed",
          "Authentication failed. The 'Authorization' header is missing or invalid.",
          {
            "www-authenticate": `Bearer authorization_uri="https://login.microsoftonline.com/${scenario.tenantId}", error="invalid_token"`,
          },
        ),
      );
    }
    if (/^\/loganalytics\/v1\/workspaces\/[^/]+\/query$/i.test(path) && method === "POST") {
      const r = await applyFaults(method, path, "logs", () => logsQuery(tenant, body), res);
      return r && send(res, r);
    }
    if (!url.searchParams.get("api-version"))
      return send(
        res,
        armError(
          400,
          "MissingApiVersionParameter",
          "The api-version query parameter (?api-version=) is required for all requests.",
        ),
      );
    const route = routeArm(
      tenant,
      { armEndpoint: () => armEndpoint, pageSize, denies: (op) => faults.denies(op) },
      method,
      path,
      url.searchParams,
    );
    if (!route)
      return send(
        res,
        armError(404, "InvalidResourceType", `The resource type could not be found for ${method} ${path}.`),
      );
    if (opts.armLatencyMs) await sleep(opts.armLatencyMs);
    if (opts.throttle && route.subscription) {
      const wait = buckets.take(route.subscription, route.write);
      if (wait >= 0)
        return send(
          res,
          armError(
            429,
            "SubscriptionRequestsThrottled",
            "Number of requests for subscription exceeded the limit.",
            { "retry-after": String(Math.max(1, wait)) },
          ),
        );
    }
    const r = await applyFaults(method, path, route.operation, () => route.handle(body, caller), res);
    if (!r) return;
    const remaining = route.subscription
      ? String(buckets.remaining(route.subscription, route.write))
      : "11999";
    send(res, {
      ...r,
      headers: {
        ...r.headers,
        [route.write
          ? "x-ms-ratelimit-remaining-subscription-writes"
          : "x-ms-ratelimit-remaining-subscription-reads"]: remaining,
      },
    });
  };

  const vaultHandler = (vault: string) => async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "https://x");
    const method = (req.method ?? "GET").toUpperCase();
    const body = await readBody(req).catch(() => "");
    // Key Vault's challenge: the first request of a client comes without a token and without a body
    if (!callerOf(req)) {
      return send(res, {
        status: 401,
        body: {
          error: { code: "Unauthorized", message: "AKV10000: Request is missing a Bearer or PoP token." },
        },
        headers: {
          "www-authenticate": `Bearer authorization="https://login.microsoftonline.com/${scenario.tenantId}", resource="https://vault.azure.net"`,
        },
      });
    }
    const route = routeVault(
      tenant,
      vault,
      tenant.vaultUrl(vault),
      method,
      decodeURIComponent(url.pathname),
      body,
    );
    if (!route)
      return send(res, {
        status: 400,
        body: { error: { code: "BadParameter", message: `Unsupported ${method} ${url.pathname}` } },
      });
    const r = await applyFaults(method, url.pathname, route.operation, route.reply, res);
    return r && send(res, r);
  };

  const servers: Server[] = [];
  const listen = (handler: (req: IncomingMessage, res: ServerResponse) => Promise<unknown>, port: number) =>
    new Promise<number>((resolve, reject) => {
      const s = createServer({ key: leaf.private, cert: leaf.cert }, (req, res) => {
        handler(req, res).catch((e: unknown) =>
          send(res, armError(500, "InternalServerError", e instanceof Error ? e.message : "error")),
        );
      });
      s.keepAliveTimeout = 1000;
      servers.push(s);
      s.once("error", reject);
      s.listen(port, host, () => resolve((s.address() as AddressInfo).port));
    });

  const mainPort = await listen(main, opts.port ?? 0);
  armEndpoint = `https://${host}:${mainPort}`;
  for (const name of Object.keys(tenant.vaults)) {
    const port = await listen(vaultHandler(name), 0);
    tenant.vaultUrls[name] = `https://${host}:${port}`;
  }

  const admin: SimulatorAdmin = {
    keyValues: () => [...tenant.issued],
    currentKeys: (id) => {
      const a = tenant.account(id);
      if (!a) throw new Error(`no account ${id}`);
      return { ...a.keys };
    },
    regenerations: () => Object.fromEntries(tenant.accounts.map((a) => [a.id, { ...a.regenerations }])),
    injectFault: (f) => faults.add(f),
    clearFaults: () => faults.clear(),
    consumers: () => [...tenant.reports.values()].map((r) => ({ ...r })),
    repin: (siteName, version) => {
      const site = tenant.sites.find((s) => s.name === siteName);
      if (!site) throw new Error(`no site ${siteName}`);
      for (const s of Object.values(site.settings)) if (s.reference) s.reference.version = version;
      tenant.refreshSite(site);
      tenant.save();
    },
    tick: () => tenant.tick((id, key, api, ip) => tenant.dataPlane(id, key, api, ip)),
    refreshAll: () => tenant.sites.forEach((s) => tenant.refreshSite(s)),
    requestCounts: () => Object.fromEntries(buckets.counts),
  };

  function adminRoute(method: string, path: string, body: string): Reply {
    const json = () => JSON.parse(body || "{}") as Record<string, unknown>;
    try {
      if (method === "GET" && path === "/keys") return { status: 200, body: { values: admin.keyValues() } };
      if (method === "GET" && path === "/regenerations") return { status: 200, body: admin.regenerations() };
      if (method === "GET" && path === "/consumers")
        return { status: 200, body: { consumers: admin.consumers() } };
      if (method === "GET" && path === "/faults") return { status: 200, body: { faults: faults.list() } };
      if (method === "POST" && path === "/faults")
        return (admin.injectFault(json() as unknown as Fault), { status: 204 });
      if (method === "DELETE" && path === "/faults") return (admin.clearFaults(), { status: 204 });
      if (method === "POST" && path === "/repin") {
        const b = json();
        admin.repin(String(b.site), String(b.version));
        return { status: 204 };
      }
      if (method === "POST" && path === "/tick") return (admin.tick(), { status: 204 });
      if (method === "GET" && path === "/requests") return { status: 200, body: admin.requestCounts() };
    } catch (e) {
      return { status: 400, body: { error: e instanceof Error ? e.message : String(e) } };
    }
    return { status: 404, body: { error: `no admin route ${method} ${path}` } };
  }

  const ticker =
    opts.consumers === false ? null : setInterval(() => admin.tick(), opts.consumerTickMs ?? 250);
  ticker?.unref();

  return {
    armEndpoint,
    vaultUrls: { ...tenant.vaultUrls },
    logAnalyticsEndpoint: `${armEndpoint}/loganalytics/v1`,
    workspaceId: WORKSPACE_ID,
    tenantId: scenario.tenantId,
    subscriptionIds: scenario.subscriptions.map((s) => s.id),
    caPem: ca.cert,
    caPath,
    adminUrl: `${armEndpoint}/_admin`,
    admin,
    users: scenario.users,
    async close() {
      if (ticker) clearInterval(ticker);
      for (const r of pending) r.destroy();
      tenant.save();
      await Promise.all(
        servers.map(
          (s) =>
            new Promise<void>((resolve) => {
              s.close(() => resolve());
              s.closeAllConnections();
            }),
        ),
      );
    },
  };
}

function actionOf(op: Operation): string {
  switch (op) {
    case "listKeys":
      return "Microsoft.CognitiveServices/accounts/listKeys/action";
    case "regenerateKey":
      return "Microsoft.CognitiveServices/accounts/regenerateKey/action";
    case "getAccount":
    case "listAccounts":
      return "Microsoft.CognitiveServices/accounts/read";
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
    default:
      return `Microsoft.CognitiveServices/${op}`;
  }
}
