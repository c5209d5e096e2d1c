/**
 * The simulated tenant in-process over plain HTTP, for the contract tests: the simulator's own request
 * handlers and tenant, with every answer recorded (which served route it was) and, for the mutation
 * checks, one deliberate breakage injected from outside — never a switch inside the simulator.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { adminRoute, createAdmin } from "../../src/sandbox/admin.js";
import { Faults } from "../../src/sandbox/faults.js";
import { servedRouteOf, type ServedService } from "../../src/sandbox/routes.js";
import { loadScenario } from "../../src/sandbox/scenario.js";
import { mainHandler, vaultHandler, type ServerDeps } from "../../src/sandbox/server.js";
import { Tenant } from "../../src/sandbox/tenant.js";
import { TokenBuckets } from "../../src/sandbox/throttle.js";

export type Breakage =
  | "both-keys-regenerated"
  | "error-unwrapped"
  | "challenge-without-resource"
  | "broken-nextlink"
  | "versions-overwritten";

export interface Served {
  service: ServedService;
  method: string;
  path: string;
  status: number;
  route?: string;
}

export interface ContractSim {
  arm: string;
  vault: string;
  tenant: Tenant;
  served: Served[];
  close(): Promise<void>;
}

/** Rewrites what a handler sends (status line and headers kept, body and headers transformed). */
function transforming(
  res: ServerResponse,
  edit: (headers: Record<string, string>, body: string) => string,
): void {
  const writeHead = res.writeHead.bind(res);
  const end = res.end.bind(res);
  let status = 200;
  let headers: Record<string, string> = {};
  res.writeHead = ((s: number, h?: Record<string, string>) => {
    status = s;
    headers = { ...(h ?? {}) };
    return res;
  }) as typeof res.writeHead;
  res.end = ((chunk?: unknown) => {
    const body = edit(
      headers,
      chunk === undefined ? "" : Buffer.isBuffer(chunk) ? chunk.toString("utf8") : (chunk as string),
    );
    headers["content-length"] = String(Buffer.byteLength(body));
    writeHead(status, headers);
    return end(body);
  }) as typeof res.end;
}

function wire(breakage: Breakage | undefined, res: ServerResponse): void {
  if (breakage === "error-unwrapped")
    transforming(res, (_h, body) => {
      const j = safe(body) as { error?: unknown } | null;
      return j && typeof j.error === "object" ? JSON.stringify(j.error) : body;
    });
  if (breakage === "challenge-without-resource")
    transforming(res, (h, body) => {
      if (h["www-authenticate"])
        h["www-authenticate"] = h["www-authenticate"].replace(/,\s*resource="[^"]*"/, "");
      return body;
    });
  if (breakage === "broken-nextlink")
    transforming(res, (_h, body) => {
      const j = safe(body) as { nextLink?: string } | null;
      if (!j?.nextLink) return body;
      // the link loses its continuation: following it reads the first page again
      j.nextLink = j.nextLink.replace(/[&?]\$skiptoken=[^&]*/i, "");
      return JSON.stringify(j);
    });
}

function safe(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return null;
  }
}

export async function startContractSim(
  opts: { breakage?: Breakage; pageSize?: number; activityPageSize?: number; throttle?: boolean } = {},
): Promise<ContractSim> {
  const tenant = new Tenant(loadScenario());
  if (opts.breakage === "both-keys-regenerated") {
    const regenerate = tenant.regenerate.bind(tenant);
    tenant.regenerate = (a, slot, caller, ip) => {
      regenerate(a, slot, caller, ip);
      a.keys[slot === "key1" ? "key2" : "key1"] = tenant.newKey(a);
    };
  }
  if (opts.breakage === "versions-overwritten") {
    const setSecret = tenant.setSecret.bind(tenant);
    tenant.setSecret = (vault, name, ...rest) => {
      const v = setSecret(vault, name, ...rest);
      tenant.vaults[vault]![name] = [v];
      return v;
    };
  }
  const faults = new Faults();
  const buckets = new TokenBuckets();
  let arm = "";
  const deps: ServerDeps = {
    tenant,
    faults,
    buckets,
    armEndpoint: () => arm,
    pageSize: opts.pageSize ?? 2,
    activityPageSize: opts.activityPageSize ?? 3,
    armLatencyMs: 0,
    throttle: opts.throttle ?? false,
    admin: adminRoute(createAdmin(tenant, faults, buckets), faults),
    held: new Set(),
  };
  const served: Served[] = [];
  const servers: Server[] = [];
  const listen = async (
    service: "arm" | "keyVault",
    handler: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
  ): Promise<string> => {
    const s = createServer((req, res) => {
      const path =
        decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname).replace(/\/+$/, "") || "/";
      const kind: ServedService =
        service === "keyVault"
          ? "keyVault"
          : /^\/loganalytics\//i.test(path)
            ? "logAnalytics"
            : /^\/dataplane\//i.test(path)
              ? "dataPlane"
              : "arm";
      res.on("finish", () => {
        if (path.startsWith("/_admin")) return;
        const route = servedRouteOf(kind, req.method ?? "GET", path)?.id;
        served.push({
          service: kind,
          method: req.method ?? "GET",
          path,
          status: res.statusCode,
          ...(route ? { route } : {}),
        });
      });
      wire(opts.breakage, res);
      void handler(req, res);
    });
    servers.push(s);
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
    return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
  };
  arm = await listen("arm", mainHandler(deps));
  const vaultName = Object.keys(tenant.vaults)[0]!;
  const vault = await listen("keyVault", vaultHandler(deps, vaultName));
  tenant.vaultUrls[vaultName] = vault;
  return {
    arm,
    vault,
    tenant,
    served,
    close: async () => {
      await Promise.all(
        servers.map((s) => new Promise<void>((r) => (s.closeAllConnections(), s.close(() => r())))),
      );
    },
  };
}

/** A bearer token as the simulator's credential issues it, for one audience. */
export function token(aud: string | undefined, name = "contract@sandbox"): string {
  return "Bearer sim." + Buffer.from(JSON.stringify({ name, ...(aud ? { aud } : {}) })).toString("base64url");
}
