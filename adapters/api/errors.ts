/**
 * The API's error answers: one JSON shape, `{ "error": { "code", "message", … } }`, whose message says
 * what happened and what to do, with the HTTP status a pipeline can act on. Authentication follows
 * RFC 6750: no token → 401 with `WWW-Authenticate: Bearer`; a token that is not valid for this
 * tenant and app (bad signature, expired, another tenant, another audience) → 401 `invalid_token`;
 * a caller the policy does not give the role → 403 `insufficient_scope`, naming the role.
 */
import type { Response } from "express";
import { isKeyturnError, type ErrorCode, type KeyturnError } from "../../src/core/errors.js";

export const REALM = "keyturn";

export interface ApiError {
  readonly status: number;
  readonly code: string;
  readonly message: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly extra?: Readonly<Record<string, unknown>>;
}

const STATUS: Partial<Record<ErrorCode, number>> = {
  malformed_command: 400,
  missing_argument: 400,
  unknown_flag: 400,
  unknown_command: 400,
  ambiguous_account: 400,
  unknown_account: 404,
  unknown_change: 404,
  azure_not_found: 404,
  not_authorised: 403,
  self_approval: 403,
  key_free: 409,
  change_open: 409,
  already_approved: 409,
  approval_expired: 409,
  plan_changed: 409,
  invalid_state: 409,
  no_active_slot: 409,
  gate_failed: 409,
  azure_conflict: 409,
  azure_throttled: 429,
  azure_transient: 503,
  azure_auth: 502,
  azure_permission: 502,
  azure_internal: 502,
  chat_failed: 502,
};

/**
 * An error_description as RFC 6750 §3 allows it (%x20-21 / %x23-5B / %x5D-7E): names in the policy may
 * have letters outside ASCII, which an HTTP header cannot carry; the JSON body keeps them as written.
 */
const quote = (s: string) =>
  s
    .replace(/[\r\n\t]+/g, " ")
    .replace(/["\\]/g, "'")
    .replace(/[^\x20-\x7e]/g, "?");

/** A KeyturnError as the API answers it. Anything else is internal, answered with a correlation id. */
export function fromKeyturnError(e: KeyturnError): ApiError {
  const status = STATUS[e.code] ?? 500;
  const d = e.details;
  const retry = typeof d.retryAfterSeconds === "number" ? Math.max(1, Math.ceil(d.retryAfterSeconds)) : null;
  const headers: Record<string, string> = {};
  if (status === 403 && e.code === "not_authorised")
    headers["WWW-Authenticate"] =
      `Bearer realm="${REALM}", error="insufficient_scope", error_description="${quote(e.userMessage)}"`;
  if (status === 429 || status === 503) headers["Retry-After"] = String(retry ?? 30);
  return {
    status,
    code: e.code,
    message: e.userMessage,
    headers,
    extra: {
      ...(typeof d.role === "string" ? { role: d.role } : {}),
      ...(d.candidates?.length ? { candidates: d.candidates } : {}),
      ...(typeof d.changeId === "string" ? { changeId: d.changeId } : {}),
      ...(retry !== null ? { retryAfterSeconds: retry } : {}),
      ...(d.requestId ? { azureRequestId: d.requestId } : {}),
    },
  };
}

/** 401: no bearer token (no error code, per RFC 6750 §3.1) or an invalid one. */
export function unauthenticated(kind: "missing" | "invalid", message: string): ApiError {
  const challenge =
    kind === "missing"
      ? `Bearer realm="${REALM}"`
      : `Bearer realm="${REALM}", error="invalid_token", error_description="${quote(message)}"`;
  return {
    status: 401,
    code: kind === "missing" ? "unauthenticated" : "invalid_token",
    message,
    headers: { "WWW-Authenticate": challenge },
  };
}

export function badRequest(message: string): ApiError {
  return { status: 400, code: "invalid_request", message };
}

export function send(res: Response, err: ApiError): void {
  for (const [k, v] of Object.entries(err.headers ?? {})) res.setHeader(k, v);
  res.status(err.status).json({ error: { code: err.code, message: err.message, ...err.extra } });
}

export { isKeyturnError };
