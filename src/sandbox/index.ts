/**
 * The simulated Azure tenant (SANDBOX): one HTTPS server for ARM, Monitor, Log Analytics, data
 * planes and admin, plus one HTTPS listener per Key Vault, under a CA generated at start. keyturn
 * points its real Azure SDK clients at it as at Azure: endpoint, CA and credential are configuration.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AzureConfig } from "../azure/index.js";
import { adminRoute, createAdmin, type SimulatorAdmin } from "./admin.js";
import { Faults } from "./faults.js";
import { armError, send } from "./http.js";
import { DEFAULT_WORKSPACE_ID, loadScenario, type Scenario, type ScenarioInput } from "./scenario.js";
import { mainHandler, vaultHandler, type ServerDeps } from "./server.js";
import { movedWarning, readPorts, writePorts } from "./stable-ports.js";
import { Tenant } from "./tenant.js";
import { TokenBuckets } from "./throttle.js";
import { FAST_TIMING, type SimTiming } from "./timing.js";
import { createTls } from "./tls.js";

export { createSimulatorCredential } from "./credential.js";
export { generateScenario, loadScenario } from "./scenario.js";
export type { Scenario, ScenarioInput } from "./scenario.js";
export type { Fault } from "./faults.js";
export type { ConsumerReport } from "./tenant.js";
export type { SimulatorAdmin } from "./admin.js";
export { FAST_TIMING, REALISTIC_TIMING, scaledTiming, type SimTiming } from "./timing.js";

export interface SimulatorOptions {
  scenario?: ScenarioInput | Scenario | string;
  host?: string;
  /** The ARM/admin port; 0 or absent: the port of the last run in `dataDir`, else one the OS picks. */
  port?: number;
  /** Where the CA and the ports of this run are kept; a restart on the same dir reuses the ports. */
  dataDir?: string;
  stateFile?: string;
  armLatencyMs?: number;
  throttle?: boolean;
  pageSize?: number;
  /** Seconds a regenerated key keeps working on the data plane (default 0: at once). */
  keyInvalidationSeconds?: number;
  /** Monitoring delays, key invalidation and App Service's own refresh (default FAST_TIMING; see timing.ts). */
  timing?: Partial<SimTiming>;
  /** Activity Log events per page (default 200, as Azure). */
  activityPageSize?: number;
  consumers?: boolean;
  consumerTickMs?: number;
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
  /** How late this tenant's monitoring is (keyturn waits this long before judging a window). */
  readonly timing: SimTiming;
  readonly admin: SimulatorAdmin;
  /** Start-up problems a person must hear about (a port of the last run was taken). */
  readonly warnings: readonly string[];
  /** The scenario's people (the console and chat fakes read them). */
  readonly users: Scenario["users"];
  /**
   * The Key Vault secrets the tenant's App Service sites reference, per account: what a platform team declares
   * before its first incident (`consumer add … --secret …`), so that an exposure rotation delivers to them.
   */
  readonly consumerSecrets: readonly { accountId: string; vaultUrl: string; name: string }[];
  close(): Promise<void>;
}

export const WORKSPACE_ID = DEFAULT_WORKSPACE_ID;

/** How long after a call its metrics and logs are in (the delay plus the most jitter). */
const latencyOf = (t: SimTiming) => ({
  metricsSeconds: t.metricsDelaySeconds + t.jitterSeconds,
  logsSeconds: t.logsDelaySeconds + t.jitterSeconds,
});

/** Where keyturn's Azure ports find this simulator: its endpoints, its CA and its vaults. */
export function simulatorAzureConfig(
  sim: Pick<Simulator, "subscriptionIds" | "armEndpoint" | "caPem"> & {
    readonly vaultUrls: Readonly<Record<string, string>> | readonly string[];
    readonly logAnalyticsEndpoint?: string;
    readonly workspaceId?: string;
    readonly timing?: SimTiming;
  },
): AzureConfig {
  return {
    subscriptionIds: sim.subscriptionIds,
    vaultUrls: Array.isArray(sim.vaultUrls) ? sim.vaultUrls : Object.values(sim.vaultUrls),
    armEndpoint: sim.armEndpoint,
    caPem: sim.caPem,
    // the simulator's vaults are not on *.vault.azure.net, which the SDK's challenge check expects
    disableChallengeResourceVerification: true,
    label: "SANDBOX",
    // keyturn waits as long as this tenant's monitoring is late (plus its jitter), not Azure's
    // default; a simulator whose timing is not given is the in-process default, never late
    monitoringLatency: latencyOf(sim.timing ?? FAST_TIMING),
    ...(sim.logAnalyticsEndpoint && sim.workspaceId
      ? { logAnalytics: { endpoint: sim.logAnalyticsEndpoint, workspaceId: sim.workspaceId } }
      : {}),
  };
}

export async function startSimulator(opts: SimulatorOptions = {}): Promise<Simulator> {
  const scenario = loadScenario(opts.scenario);
  const host = opts.host ?? "127.0.0.1";
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), "keyturn-sim-"));
  mkdirSync(dataDir, { recursive: true });
  const saved = opts.dataDir ? readPorts(dataDir) : { vaults: {} as Record<string, number> };
  const warnings: string[] = [];
  const tls = await createTls(host);
  const caPath = join(dataDir, "ca.pem");
  writeFileSync(caPath, tls.caPem);

  const tenant = new Tenant(scenario, opts.stateFile);
  const timing: SimTiming = {
    ...FAST_TIMING,
    ...(opts.keyInvalidationSeconds !== undefined
      ? { keyInvalidationSeconds: opts.keyInvalidationSeconds }
      : {}),
    ...opts.timing,
  };
  tenant.timing = timing;
  tenant.keyInvalidationMs = Math.max(0, timing.keyInvalidationSeconds) * 1000;
  const faults = new Faults();
  const buckets = new TokenBuckets();
  const admin = createAdmin(tenant, faults, buckets);
  let armEndpoint = "";
  const deps: ServerDeps = {
    tenant,
    faults,
    buckets,
    armEndpoint: () => armEndpoint,
    pageSize: opts.pageSize ?? 100,
    activityPageSize: opts.activityPageSize ?? 200,
    armLatencyMs: opts.armLatencyMs ?? 0,
    throttle: opts.throttle ?? false,
    admin: adminRoute(admin, faults),
    held: new Set(),
  };

  const servers: Server[] = [];
  const listenOnce = (handler: (req: IncomingMessage, res: ServerResponse) => Promise<void>, port: number) =>
    new Promise<number>((resolve, reject) => {
      const s = createServer({ key: tls.key, cert: tls.cert }, (req, res) => {
        handler(req, res).catch((e: unknown) =>
          send(res, armError(500, "InternalServerError", e instanceof Error ? e.message : "error")),
        );
      });
      // like Azure's front doors, idle connections stay open: clients reuse them instead of a TLS
      // handshake per request (Node clients drop a connection whose hint is `timeout=1` at once)
      s.keepAliveTimeout = 60_000;
      servers.push(s);
      s.once("error", (e: NodeJS.ErrnoException) => {
        servers.splice(servers.indexOf(s), 1);
        reject(e);
      });
      s.listen(port, host, () => resolve((s.address() as AddressInfo).port));
    });
  /** On the port asked for; a port remembered from the last run that is now taken falls back, said out loud. */
  const listen = async (
    handler: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
    port: number,
    remembered: boolean,
    what: string,
  ): Promise<number> => {
    try {
      return await listenOnce(handler, port);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (remembered && code === "EADDRINUSE") {
        const moved = await listenOnce(handler, 0);
        warnings.push(movedWarning(what, port, moved, host));
        return moved;
      }
      if (code === "EADDRINUSE")
        throw new Error(
          `The sandbox simulator cannot listen on ${host}:${port}: another process is using that port. Stop it (\`ss -ltnp | grep :${port}\` shows which), or choose another port (0 picks a free one).`,
          { cause: e },
        );
      throw e;
    }
  };

  try {
    const armPort = opts.port || saved.arm || 0;
    const mainPort = await listen(mainHandler(deps), armPort, !opts.port && !!saved.arm, "the ARM endpoint");
    armEndpoint = `https://${host}:${mainPort}`;
    const vaultPorts: Record<string, number> = {};
    for (const name of Object.keys(tenant.vaults)) {
      const was = saved.vaults[name];
      vaultPorts[name] = await listen(vaultHandler(deps, name), was ?? 0, !!was, `Key Vault ${name}`);
      tenant.vaultUrls[name] = `https://${host}:${vaultPorts[name]}`;
    }
    if (opts.dataDir) writePorts(dataDir, { arm: mainPort, vaults: vaultPorts });
  } catch (e) {
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    throw e;
  }

  const ticker =
    opts.consumers === false ? null : setInterval(() => admin.tick(), opts.consumerTickMs ?? 250);
  ticker?.unref();
  let closed = false;

  return {
    armEndpoint,
    vaultUrls: Object.freeze({ ...tenant.vaultUrls }),
    logAnalyticsEndpoint: `${armEndpoint}/loganalytics/v1`,
    workspaceId: scenario.logAnalytics.workspaceId,
    timing,
    tenantId: scenario.tenantId,
    subscriptionIds: scenario.subscriptions.map((s) => s.id),
    caPem: tls.caPem,
    caPath,
    adminUrl: `${armEndpoint}/_admin`,
    warnings,
    admin,
    users: scenario.users,
    consumerSecrets: scenario.sites.flatMap((site) =>
      Object.values(site.settings).flatMap((setting) => {
        if (!("reference" in setting)) return [];
        const { vault, secret } = setting.reference;
        const value = scenario.vaults
          .find((v) => v.name === vault)
          ?.secrets.find((x) => x.name === secret)?.value;
        const m = value ? /^\$key:([^/]+)\/([^/]+)\/(?:key1|key2)$/.exec(value) : null;
        const account = m && tenant.accounts.find((a) => a.subscriptionId === m[1] && a.name === m[2]);
        const vaultUrl = tenant.vaultUrls[vault];
        return account && vaultUrl ? [{ accountId: account.id, vaultUrl, name: secret }] : [];
      }),
    ),
    async close() {
      if (closed) return;
      closed = true;
      if (ticker) clearInterval(ticker);
      for (const r of deps.held) r.destroy();
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
