/**
 * OpenTelemetry traces, off unless configured with the standard variables: OTEL_TRACES_EXPORTER
 * (otlp, console, zipkin; `none` turns it off) or an OTLP endpoint (OTEL_EXPORTER_OTLP_ENDPOINT,
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, with OTEL_EXPORTER_OTLP_PROTOCOL, _HEADERS, …) and
 * OTEL_SDK_DISABLED=true. The SDK is imported only when wanted, so start-up pays nothing when off.
 * keyturn's spans (one per rotation step, one per Azure request attempt) are made through
 * `@opentelemetry/api`, a no-op until the SDK is registered. Metrics stay on /metrics (Prometheus).
 */
import type { Logger } from "./core/ports.js";

export interface Tracing {
  /** Exports what is buffered and stops; bounded by the caller. */
  shutdown(): Promise<void>;
}

export function tracingWanted(env: NodeJS.ProcessEnv): boolean {
  if ((env.OTEL_SDK_DISABLED ?? "").trim().toLowerCase() === "true") return false;
  const exporters = (env.OTEL_TRACES_EXPORTER ?? "")
    .split(",")
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  if (exporters.includes("none")) return false;
  return (
    exporters.length > 0 || !!env.OTEL_EXPORTER_OTLP_ENDPOINT || !!env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
  );
}

export async function startTracing(env: NodeJS.ProcessEnv, logger: Logger): Promise<Tracing | null> {
  if (!tracingWanted(env)) return null;
  const { NodeSDK } = await import("@opentelemetry/sdk-node");
  const sdk = new NodeSDK({
    serviceName: env.OTEL_SERVICE_NAME ?? "keyturn",
    // traces only: metrics are Prometheus' (GET /metrics), logs are pino's
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [],
  });
  sdk.start();
  logger.info(
    {
      exporter: env.OTEL_TRACES_EXPORTER ?? "otlp",
      endpoint: originOf(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? env.OTEL_EXPORTER_OTLP_ENDPOINT),
    },
    "OpenTelemetry tracing on",
  );
  return { shutdown: () => sdk.shutdown() };
}

/** Only the origin is logged: an endpoint URL may carry credentials. */
function originOf(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    return new URL(url).origin;
  } catch {
    return "(not a URL)";
  }
}
