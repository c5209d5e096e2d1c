/**
 * How late the simulated tenant is, as Azure is: monitoring data arrives after an ingestion delay,
 * a regenerated key keeps answering for a while, and App Service re-reads Key Vault references on
 * its own only about once a day. The standalone simulator starts with REALISTIC_TIMING; the
 * in-process sandbox (tests, `npm start`) with FAST_TIMING unless told otherwise.
 */
export interface SimTiming {
  /** Seconds between a call and its point in the platform metrics (Azure: typically 1–3 min). */
  readonly metricsDelaySeconds: number;
  /** Seconds between a call and its AzureDiagnostics row in Log Analytics (Azure: minutes). */
  readonly logsDelaySeconds: number;
  /** Up to this many seconds more, at random, on each of the two delays above. */
  readonly jitterSeconds: number;
  /** Seconds a regenerated key keeps answering 200 on the data plane. */
  readonly keyInvalidationSeconds: number;
  /**
   * Seconds between App Service's own re-reads of a versionless Key Vault reference (Azure: within
   * 24 h) unless the refresh endpoint is called; undefined: the scenario's `refreshSeconds`.
   */
  readonly appServiceRefreshSeconds?: number;
}

/**
 * What Azure documents or shows: platform metrics land one to three minutes after the calls; log
 * rows "between 20 seconds and 3 minutes" on average, longer under load
 * (https://learn.microsoft.com/azure/azure-monitor/logs/data-ingestion-time); App Service re-reads
 * versionless references within 24 hours
 * (https://learn.microsoft.com/azure/app-service/app-service-key-vault-references#rotation).
 * Microsoft's rotation guide says a regenerated key stops working at once
 * (https://learn.microsoft.com/azure/ai-services/rotate-keys); the data plane's caches are slower in
 * practice, so the simulator keeps a regenerated key alive for 30 s.
 */
export const REALISTIC_TIMING: SimTiming = {
  metricsDelaySeconds: 120,
  logsDelaySeconds: 240,
  jitterSeconds: 30,
  keyInvalidationSeconds: 30,
  appServiceRefreshSeconds: 86_400,
};

/** The in-process default: nothing late, so tests and the sandbox tour stay fast. */
export const FAST_TIMING: SimTiming = {
  metricsDelaySeconds: 0,
  logsDelaySeconds: 0,
  jitterSeconds: 0,
  keyInvalidationSeconds: 0,
};

/** REALISTIC_TIMING with every duration divided by `factor` (a test's accelerated day). */
export function scaledTiming(factor: number, base: SimTiming = REALISTIC_TIMING): SimTiming {
  const s = (n: number) => n / factor;
  return {
    metricsDelaySeconds: s(base.metricsDelaySeconds),
    logsDelaySeconds: s(base.logsDelaySeconds),
    jitterSeconds: s(base.jitterSeconds),
    keyInvalidationSeconds: s(base.keyInvalidationSeconds),
    ...(base.appServiceRefreshSeconds !== undefined
      ? { appServiceRefreshSeconds: s(base.appServiceRefreshSeconds) }
      : {}),
  };
}
