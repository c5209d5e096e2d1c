/**
 * Options shared by every Azure client keyturn builds: endpoint, token scope, private CA, and a
 * policy that stops the SDK from sleeping on a long Retry-After (the change pauses instead).
 */
import { Agent } from "node:https";
import { createSecureContext } from "node:tls";
import type { PipelinePolicy } from "@azure/core-rest-pipeline";
import { SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { recordAzureCall } from "../metrics.js";
import { RETRY_AFTER_HEADER } from "./errors.js";

export interface ClientSettings {
  readonly armEndpoint: string;
  readonly armScope: string;
  readonly caPem?: string | undefined;
  readonly maxRetryAfterSeconds: number;
  /** Per-attempt request timeout: a call that never answers fails (and is retried or pauses the change). */
  readonly requestTimeoutMs: number;
}

/** A 429 whose Retry-After exceeds the limit loses its header (so it is not retried) and keeps it under our own name. */
export function capRetryAfter(maxSeconds: number): PipelinePolicy {
  return {
    name: "keyturnCapRetryAfter",
    async sendRequest(request, next) {
      const response = await next(request);
      if (response.status === 429) {
        const ra = response.headers.get("retry-after");
        const seconds =
          ra && /^\d+$/.test(ra)
            ? Number(ra)
            : ra
              ? Math.ceil((Date.parse(ra) - Date.now()) / 1000)
              : undefined;
        if (seconds === undefined || Number.isNaN(seconds) || seconds > maxSeconds) {
          if (seconds !== undefined && !Number.isNaN(seconds))
            response.headers.set(RETRY_AFTER_HEADER, String(seconds));
          response.headers.delete("retry-after");
          response.headers.delete("retry-after-ms");
          response.headers.delete("x-ms-retry-after-ms");
        }
      }
      return response;
    },
  };
}

/** The SDK pipelines have no timeout by default: without one a request Azure never answers hangs a change forever. */
export function requestTimeout(ms: number): PipelinePolicy {
  return {
    name: "keyturnRequestTimeout",
    async sendRequest(request, next) {
      if (!request.timeout) request.timeout = ms;
      return next(request);
    },
  };
}

/**
 * A bounded name for what a request does, from its URL: the resource type path with every name and
 * id dropped (`microsoft.cognitiveservices/accounts/regeneratekey`, `keyvault/secrets`). Metrics
 * labels must never carry an account, secret or subscription name.
 */
export function azureOperation(url: string): string {
  let path: string;
  let host: string;
  try {
    const u = new URL(url);
    path = u.pathname;
    host = u.hostname;
  } catch {
    return "other";
  }
  const parts = path.split("/").filter(Boolean);
  const lower = parts.map((p) => p.toLowerCase());
  const at = lower.lastIndexOf("providers");
  let op: string;
  if (at >= 0 && lower[at + 1]) {
    // after the provider namespace: type/name pairs, then maybe an action (odd count)
    const rest = lower.slice(at + 2);
    const types = rest.filter((_, i) => i % 2 === 0);
    op = [lower[at + 1], ...types].join("/");
  } else if (lower[0] === "secrets" || lower[0] === "deletedsecrets") {
    // Key Vault: /secrets/{name}/{version} or /secrets/{name}/versions
    op = ["keyvault", lower[0], ...(lower[2] === "versions" ? ["versions"] : [])].join("/");
  } else if (lower[0] === "subscriptions" && lower.length <= 2) {
    op = "subscriptions";
  } else if (lower.includes("workspaces") && lower.at(-1) === "query") {
    op = "loganalytics/query";
  } else {
    op = host.endsWith(".vault.azure.net") ? "keyvault/other" : "other";
  }
  return /^[a-z0-9./_-]{1,100}$/.test(op) ? op : "other";
}

/**
 * Counts every attempt (per retry, so a throttled 429 and its retry are two) with its operation,
 * status and latency, and wraps it in a client span (a no-op unless tracing is on).
 */
export function azureCallMetrics(): PipelinePolicy {
  const tracer = trace.getTracer("keyturn");
  return {
    name: "keyturnAzureCallMetrics",
    async sendRequest(request, next) {
      const operation = azureOperation(request.url);
      const started = performance.now();
      const span = tracer.startSpan(`azure ${operation}`, {
        kind: SpanKind.CLIENT,
        attributes: { "http.request.method": request.method, "keyturn.azure.operation": operation },
      });
      try {
        const response = await next(request);
        recordAzureCall(operation, request.method, response.status, (performance.now() - started) / 1000);
        span.setAttribute("http.response.status_code", response.status);
        if (response.status >= 400) span.setStatus({ code: SpanStatusCode.ERROR });
        return response;
      } catch (e) {
        const status = (e as { statusCode?: unknown }).statusCode;
        recordAzureCall(
          operation,
          request.method,
          typeof status === "number" ? status : "network_error",
          (performance.now() - started) / 1000,
        );
        span.setStatus({ code: SpanStatusCode.ERROR, message: (e as Error).name });
        throw e;
      } finally {
        span.end();
      }
    },
  };
}

type AccountWriteListener = (accountId: string) => void;
const accountWriteListeners = new WeakMap<ClientSettings, Set<AccountWriteListener>>();

/**
 * Hears every write keyturn sends to a Cognitive Services account (regenerateKey, update, delete —
 * not listKeys, a read) through any client built with these settings: readers that keep what they
 * read of an account (the Activity Log) drop it. Returns the unsubscribe.
 */
export function onAccountWrite(s: ClientSettings, listener: AccountWriteListener): () => void {
  let set = accountWriteListeners.get(s);
  if (!set) accountWriteListeners.set(s, (set = new Set()));
  set.add(listener);
  return () => set.delete(listener);
}

const ACCOUNT_WRITE =
  /(\/subscriptions\/[^/]+\/resourcegroups\/[^/]+\/providers\/microsoft\.cognitiveservices\/accounts\/[^/]+)(?:\/([^/]+))?\/?$/i;

/** The account a request writes to, or null (reads, listKeys, other resources). */
export function accountWrittenBy(method: string, url: string): string | null {
  if (method === "GET" || method === "HEAD") return null;
  let path: string;
  try {
    path = decodeURIComponent(new URL(url).pathname);
  } catch {
    return null;
  }
  const m = ACCOUNT_WRITE.exec(path);
  if (!m || m[2]?.toLowerCase() === "listkeys") return null;
  return m[1]!;
}

function accountWrites(s: ClientSettings): PipelinePolicy {
  return {
    name: "keyturnAccountWrites",
    async sendRequest(request, next) {
      const account = accountWrittenBy(request.method, request.url);
      try {
        return await next(request);
      } finally {
        // after the answer, or its failure: a write that failed may still have happened
        if (account) for (const l of accountWriteListeners.get(s) ?? []) l(account);
      }
    },
  };
}

/** Connections to one Azure endpoint that keyturn's ARM clients hold open at most, together. */
export const AZURE_MAX_SOCKETS = 32;
const agents = new WeakMap<ClientSettings, Agent>();

/**
 * One keep-alive connection pool for every ARM client built with these settings. Left to itself,
 * the SDK gives each client (one per subscription and service) its own pool with no bound, and a
 * TLS context built anew for every connection when a CA is configured: a burst of commands opened a
 * connection — a handshake, and a parse of the CA — per request in flight. Here requests beyond the
 * bound wait for a free connection, and the CA is read once.
 */
export function azureAgent(s: ClientSettings): Agent {
  let agent = agents.get(s);
  if (!agent) {
    agent = new Agent({
      keepAlive: true,
      maxSockets: AZURE_MAX_SOCKETS,
      maxFreeSockets: AZURE_MAX_SOCKETS,
      // the most recently used connection first: the rest may close when idle
      scheduling: "lifo",
      ...(s.caPem ? { secureContext: createSecureContext({ ca: s.caPem }) } : {}),
    });
    agents.set(s, agent);
  }
  return agent;
}

function sharedConnections(s: ClientSettings): PipelinePolicy {
  return {
    name: "keyturnSharedConnections",
    async sendRequest(request, next) {
      if (!request.agent && request.url.startsWith("https:")) request.agent = azureAgent(s);
      return next(request);
    },
  };
}

export function clientOptions(s: ClientSettings, extra: { noRetry?: boolean } = {}) {
  return {
    endpoint: s.armEndpoint,
    credentialScopes: [s.armScope],
    ...(s.caPem ? { tlsOptions: { ca: s.caPem } } : {}),
    ...(extra.noRetry ? { retryOptions: { maxRetries: 0 } } : {}),
    additionalPolicies: [
      { policy: capRetryAfter(s.maxRetryAfterSeconds), position: "perRetry" as const },
      { policy: requestTimeout(s.requestTimeoutMs), position: "perRetry" as const },
      { policy: azureCallMetrics(), position: "perRetry" as const },
      { policy: accountWrites(s), position: "perCall" as const },
      { policy: sharedConnections(s), position: "perRetry" as const },
    ],
  };
}
