/**
 * Options shared by every Azure client keyturn builds: endpoint, token scope, private CA, and a
 * policy that stops the SDK from sleeping on a long Retry-After (the change pauses instead).
 */
import type { PipelinePolicy } from "@azure/core-rest-pipeline";
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

export function clientOptions(s: ClientSettings, extra: { noRetry?: boolean } = {}) {
  return {
    endpoint: s.armEndpoint,
    credentialScopes: [s.armScope],
    ...(s.caPem ? { tlsOptions: { ca: s.caPem } } : {}),
    ...(extra.noRetry ? { retryOptions: { maxRetries: 0 } } : {}),
    additionalPolicies: [
      { policy: capRetryAfter(s.maxRetryAfterSeconds), position: "perRetry" as const },
      { policy: requestTimeout(s.requestTimeoutMs), position: "perRetry" as const },
    ],
  };
}
