/**
 * How keyturn talks to the Slack Web API: every call has a timeout and a bounded number of retries, so a
 * Slack that hangs costs a change seconds, never its progress. 429s are not waited out inside the
 * WebClient (it would pause every call for as long as Slack asks); the gateway waits a bounded time itself.
 */
import { WebClient, type WebClientOptions } from "@slack/web-api";

/** Per attempt, unless SLACK_API_TIMEOUT_MS says otherwise. */
export const DEFAULT_API_TIMEOUT_MS = 10_000;
/** Attempts after the first, for network errors, timeouts and 5xx (not for `ok: false`). */
const RETRIES = 2;

export interface SlackTransport {
  apiUrl?: string;
  apiTimeoutMs?: number;
}

/** Options for every WebClient keyturn makes, Bolt's included (its `respond()` uses `fetch` from here). */
export function slackClientOptions(t: SlackTransport): WebClientOptions {
  const timeout = t.apiTimeoutMs ?? DEFAULT_API_TIMEOUT_MS;
  return {
    ...(t.apiUrl ? { slackApiUrl: t.apiUrl } : {}),
    timeout,
    rejectRateLimitedCalls: true,
    retryConfig: { retries: RETRIES, factor: 2, minTimeout: 500, maxTimeout: 2_000 },
    // response_url posts go through this fetch and have no timeout of their own
    fetch: (input: string | URL | Request, init?: RequestInit) =>
      fetch(input, { ...init, signal: init?.signal ?? AbortSignal.timeout(timeout) }),
  };
}

/** Longest a single Web API call can take before it fails: every attempt timing out, plus the back-off between. */
export function worstCallMs(t: SlackTransport): number {
  const timeout = t.apiTimeoutMs ?? DEFAULT_API_TIMEOUT_MS;
  return timeout * (RETRIES + 1) + 500 + 1_000;
}

export function createWebClient(token: string, t: SlackTransport): WebClient {
  return new WebClient(token, slackClientOptions(t));
}

/** Whether a Web API failure may pass by itself (network, timeout, 5xx, rate limit, Slack's own trouble). */
export function isTransientSlackError(e: unknown): boolean {
  const err = e as { code?: unknown; data?: { error?: unknown } };
  if (
    err.code === "slack_webapi_request_error" ||
    err.code === "slack_webapi_http_error" ||
    err.code === "slack_webapi_rate_limited_error"
  )
    return true;
  const slack = err.data?.error;
  return (
    typeof slack === "string" &&
    ["internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited"].includes(slack)
  );
}

/** A network error or timeout: Slack did not answer at all. */
export function isNoAnswer(e: unknown): boolean {
  return (e as { code?: unknown }).code === "slack_webapi_request_error";
}
