/** keyturn's Azure ports on the official SDKs; the composition root calls createAzurePorts once. */
import { DefaultAzureCredential } from "@azure/identity";
import type { TokenCredential } from "@azure/core-auth";
import type { Clock, DeclaredConsumer, Logger } from "../core/ports.js";
import type { KnownHolders } from "../core/known-holders.js";
import type { AzurePorts } from "../core/ports.js";
import { ArmAccounts } from "./accounts.js";
import { ArmRest } from "./arm-rest.js";
import { HttpsProbe } from "./data-plane.js";
import { AzureInventory } from "./inventory.js";
import type { ClientSettings } from "./pipeline.js";
import { VaultSecrets } from "./secrets.js";
import { Sites } from "./sites.js";
import { Monitor } from "./telemetry.js";
import { keyAuthTrafficReader } from "./key-auth-traffic.js";

export { classifyAzureError } from "./errors.js";
export { checkAccess, type AccessCheck } from "./access.js";

export interface AzureConfig {
  subscriptionIds: readonly string[];
  vaultUrls: readonly string[];
  armEndpoint?: string | undefined;
  armScope?: string | undefined;
  logAnalytics?:
    { endpoint?: string | undefined; workspaceId: string; scope?: string | undefined } | undefined;
  caPem?: string | undefined;
  disableChallengeResourceVerification?: boolean | undefined;
  label?: string | undefined;
  maxRetryAfterSeconds?: number | undefined;
  /** Per-attempt timeout of every Azure request (default 30 s). */
  requestTimeoutMs?: number | undefined;
  declaredConsumers?: ((accountId: string) => Promise<readonly DeclaredConsumer[]>) | undefined;
  /** Holders keyturn's record knows (the rest are marked NEW); from `knownHoldersOf(store, id)`. */
  knownHolders?: ((accountId: string) => Promise<KnownHolders>) | undefined;
  clock?: Clock | undefined;
  /**
   * How late Azure Monitor's data may be (defaults in telemetry.ts: metrics 180 s, logs 300 s): a
   * window is judged only once its data has arrived.
   */
  monitoringLatency?: { metricsSeconds?: number; logsSeconds?: number } | undefined;
  /** How long the dead-key proof keeps probing a regenerated key (default in data-plane.ts). */
  deadKeyProofSeconds?: number | undefined;
  /** keyturn's own identity as the Activity Log names it (its listKeys calls are not consumers). */
  selfCallers?: readonly string[] | undefined;
}

export function settingsOf(config: AzureConfig): ClientSettings {
  return {
    armEndpoint: (config.armEndpoint ?? "https://management.azure.com").replace(/\/+$/, ""),
    armScope: config.armScope ?? "https://management.azure.com/.default",
    caPem: config.caPem,
    maxRetryAfterSeconds: config.maxRetryAfterSeconds ?? 60,
    requestTimeoutMs: config.requestTimeoutMs ?? 30_000,
  };
}

export function createAzurePorts(
  config: AzureConfig,
  credential: TokenCredential,
  logger: Logger,
): AzurePorts & { inventory: AzureInventory } {
  const settings = settingsOf(config);
  const log = logger.child({ component: "azure" });
  const accounts = new ArmAccounts(config.subscriptionIds, credential, settings, log);
  const vaults = new VaultSecrets(
    config.vaultUrls,
    credential,
    {
      requestTimeoutMs: settings.requestTimeoutMs,
      caPem: config.caPem,
      disableChallengeResourceVerification: config.disableChallengeResourceVerification,
    },
    log,
  );
  const telemetry = Object.assign(
    new Monitor(credential, settings, log, config.logAnalytics, config.monitoringLatency),
    { keyAuthTraffic: keyAuthTrafficReader(credential, settings, config.logAnalytics) },
  );
  const arm = new ArmRest(
    () => accounts.client(config.subscriptionIds[0] ?? "00000000-0000-0000-0000-000000000000"),
    settings.armEndpoint,
  );
  const sites = new Sites(arm, config.subscriptionIds);
  const clock = config.clock ?? { now: () => new Date() };
  const inventory = new AzureInventory({
    accounts,
    secrets: vaults,
    telemetry,
    sites,
    clock,
    logger: log,
    ...(config.declaredConsumers ? { declared: config.declaredConsumers } : {}),
    ...(config.knownHolders ? { known: config.knownHolders } : {}),
    selfCallers: config.selfCallers ?? ["keyturn@sandbox"],
  });
  const secrets: AzurePorts["secrets"] = {
    listSecrets: () => vaults.listSecrets(),
    getSecret: (l) => vaults.getSecret(l),
    listVersions: (l) => vaults.listVersions(l),
    publish: async (l, value, tags) => {
      try {
        return await vaults.publish(l, value, tags);
      } finally {
        inventory.invalidate();
      }
    },
  };
  return {
    accounts,
    secrets,
    telemetry,
    dataPlane: new HttpsProbe(config.caPem, undefined, config.deadKeyProofSeconds),
    consumers: sites,
    inventory,
    ...(config.label ? { label: config.label } : {}),
  };
}

/** keyturn's identity in real Azure: DefaultAzureCredential (managed identity, workload identity, az login, …). */
export function createDefaultCredential(): TokenCredential {
  return new DefaultAzureCredential();
}
