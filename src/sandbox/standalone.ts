/**
 * `npm run simulator`: the simulated tenant as its own process (like Azurite for storage), so keyturn
 * can be pointed at it exactly as at real Azure, by configuration alone.
 */
import { parseArgs } from "node:util";
import { startSimulator } from "./index.js";
import { FAST_TIMING, REALISTIC_TIMING, type SimTiming } from "./timing.js";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "0" },
    host: { type: "string", default: "127.0.0.1" },
    scenario: { type: "string" },
    "state-file": { type: "string" },
    "data-dir": { type: "string" },
    "arm-latency-ms": { type: "string" },
    throttle: { type: "boolean", default: false },
    "page-size": { type: "string" },
    "key-invalidation-seconds": { type: "string" },
    // Azure's lateness by default (metrics ~2 min, logs ~4 min, keys 30 s, App Service 24 h); "fast": none
    timing: { type: "string", default: "realistic" },
    "metrics-delay-seconds": { type: "string" },
    "logs-delay-seconds": { type: "string" },
    "app-service-refresh-seconds": { type: "string" },
    "consumer-tick-ms": { type: "string" },
    "no-consumers": { type: "boolean", default: false },
  },
});

function num(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) {
    process.stderr.write(`--${flag} must be a whole number, got "${value}"\n`);
    process.exit(2);
  }
  return n;
}

if (values.timing !== "realistic" && values.timing !== "fast") {
  process.stderr.write(`--timing must be realistic or fast, got "${values.timing}"\n`);
  process.exit(2);
}
const base = values.timing === "fast" ? FAST_TIMING : REALISTIC_TIMING;
const over = (flag: string, key: keyof SimTiming) =>
  values[flag as keyof typeof values] !== undefined
    ? { [key]: num(flag, values[flag as keyof typeof values] as string)! }
    : {};
const timing: SimTiming = {
  ...base,
  ...over("metrics-delay-seconds", "metricsDelaySeconds"),
  ...over("logs-delay-seconds", "logsDelaySeconds"),
  ...over("key-invalidation-seconds", "keyInvalidationSeconds"),
  ...over("app-service-refresh-seconds", "appServiceRefreshSeconds"),
};

// Registered before start, so a signal during start-up still shuts down cleanly
const running: { sim?: Awaited<ReturnType<typeof startSimulator>> } = {};
const stop = () => {
  void (running.sim?.close() ?? Promise.resolve()).then(() => process.exit(0));
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);

const sim = await startSimulator({
  port: num("port", values.port) ?? 0,
  host: values.host,
  throttle: values.throttle,
  ...(values.scenario ? { scenario: values.scenario } : {}),
  ...(values["state-file"] ? { stateFile: values["state-file"] } : {}),
  ...(values["data-dir"] ? { dataDir: values["data-dir"] } : {}),
  ...(values["arm-latency-ms"] ? { armLatencyMs: num("arm-latency-ms", values["arm-latency-ms"])! } : {}),
  ...(values["page-size"] ? { pageSize: num("page-size", values["page-size"])! } : {}),
  timing,
  ...(values["consumer-tick-ms"]
    ? { consumerTickMs: num("consumer-tick-ms", values["consumer-tick-ms"])! }
    : {}),
  consumers: !values["no-consumers"],
}).catch((e: unknown) => {
  // a busy port, an unreadable scenario: one line that says what to do, not a stack
  process.stderr.write(`simulator: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(2);
});
running.sim = sim;

const lines = [
  "SANDBOX — simulated Azure tenant (not real Azure)",
  `ARM endpoint:        ${sim.armEndpoint}`,
  ...Object.entries(sim.vaultUrls).map(([n, u]) => `Key Vault ${n}: ${u}`),
  `Log Analytics:       ${sim.logAnalyticsEndpoint} (workspace ${sim.workspaceId})`,
  `Admin:               ${sim.adminUrl}`,
  `CA certificate:      ${sim.caPath}`,
  ...sim.warnings.map((w) => `warning: ${w}`),
  "",
  "Point keyturn at it:",
  `  AZURE_SUBSCRIPTION_IDS=${sim.subscriptionIds.join(",")}`,
  `  AZURE_KEY_VAULT_URLS=${Object.values(sim.vaultUrls).join(",")}`,
  `  AZURE_ARM_ENDPOINT=${sim.armEndpoint}`,
  `  AZURE_CA_FILE=${sim.caPath}`,
  "  AZURE_CREDENTIAL=simulator",
  `  AZURE_LOG_ANALYTICS_ENDPOINT=${sim.logAnalyticsEndpoint}`,
  `  AZURE_LOG_ANALYTICS_WORKSPACE_ID=${sim.workspaceId}`,
  // keyturn waits as long as this tenant's monitoring is late (its delay plus jitter)
  `  KEYTURN_METRICS_LATENCY_SECONDS=${Math.ceil(timing.metricsDelaySeconds + timing.jitterSeconds)}`,
  `  KEYTURN_LOGS_LATENCY_SECONDS=${Math.ceil(timing.logsDelaySeconds + timing.jitterSeconds)}`,
  "",
  `Timing (${values.timing}): metrics ${timing.metricsDelaySeconds} s, logs ${timing.logsDelaySeconds} s (+ up to ${timing.jitterSeconds} s), old keys answer ${timing.keyInvalidationSeconds} s, App Service re-reads references every ${timing.appServiceRefreshSeconds ?? "scenario refreshSeconds"} s unless refreshed`,
  `simulator ready on ${sim.armEndpoint}`,
];
process.stdout.write(lines.join("\n") + "\n");
