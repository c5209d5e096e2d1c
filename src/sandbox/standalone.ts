/**
 * `npm run simulator`: the simulated tenant as its own process (like Azurite for storage), so keyturn
 * can be pointed at it exactly as at real Azure, by configuration alone.
 */
import { parseArgs } from "node:util";
import { startSimulator } from "./index.js";

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
  ...(values["key-invalidation-seconds"]
    ? { keyInvalidationSeconds: num("key-invalidation-seconds", values["key-invalidation-seconds"])! }
    : {}),
  ...(values["consumer-tick-ms"]
    ? { consumerTickMs: num("consumer-tick-ms", values["consumer-tick-ms"])! }
    : {}),
  consumers: !values["no-consumers"],
});
running.sim = sim;

const lines = [
  "SANDBOX — simulated Azure tenant (not real Azure)",
  `ARM endpoint:        ${sim.armEndpoint}`,
  ...Object.entries(sim.vaultUrls).map(([n, u]) => `Key Vault ${n}: ${u}`),
  `Log Analytics:       ${sim.logAnalyticsEndpoint} (workspace ${sim.workspaceId})`,
  `Admin:               ${sim.adminUrl}`,
  `CA certificate:      ${sim.caPath}`,
  "",
  "Point keyturn at it:",
  `  AZURE_SUBSCRIPTION_IDS=${sim.subscriptionIds.join(",")}`,
  `  AZURE_KEY_VAULT_URLS=${Object.values(sim.vaultUrls).join(",")}`,
  `  AZURE_ARM_ENDPOINT=${sim.armEndpoint}`,
  `  AZURE_CA_FILE=${sim.caPath}`,
  "  AZURE_CREDENTIAL=simulator",
  `  AZURE_LOG_ANALYTICS_ENDPOINT=${sim.logAnalyticsEndpoint}`,
  `  AZURE_LOG_ANALYTICS_WORKSPACE_ID=${sim.workspaceId}`,
  `simulator ready on ${sim.armEndpoint}`,
];
process.stdout.write(lines.join("\n") + "\n");
