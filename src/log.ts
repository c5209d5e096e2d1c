/**
 * Structured JSON logs (pino). Three layers keep key values out of them:
 * - pino `redact` censors key-like fields (key, key1, key2, value, token, secret, …) by path;
 * - a walk over every logged object censors the same names at any depth, prints SecretValues in
 *   their redacted form and turns every Error it meets (also nested, also as a `cause`) into the
 *   serialised shape below;
 * - that shape keeps name, message, code, statusCode, request id and stack, and drops everything
 *   else: an Azure RestError carries its request and response, and a listKeys response body IS
 *   the keys.
 */
import { pino } from "pino";
import type { Logger } from "./core/ports.js";
import { SecretValue } from "./core/secret.js";

const SENSITIVE_NAMES = [
  "key",
  "key1",
  "key2",
  "value",
  "token",
  "password",
  "secret",
  "clientSecret",
  "signingSecret",
  "botToken",
  "appToken",
  "apiKey",
  "authorization",
  "connectionString",
];
const SENSITIVE = new Set(SENSITIVE_NAMES.map((n) => n.toLowerCase()));
const REDACT_PATHS = [
  ...SENSITIVE_NAMES.flatMap((n) => [n, `*.${n}`]),
  "headers.authorization",
  "*.headers.authorization",
  "headers.cookie",
  "*.headers.cookie",
];
const CENSOR = "[redacted]";
const MAX_DEPTH = 8;
const MAX_CAUSES = 3;

export interface LoggerOptions {
  level?: string;
  /** A stream, or a file path (created with its directory; written synchronously, so a crash loses nothing). */
  destination?: NodeJS.WritableStream | string;
  name?: string;
  bindings?: Record<string, unknown>;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const dest =
    typeof opts.destination === "string"
      ? pino.destination({ dest: opts.destination, mkdir: true, sync: true })
      : (opts.destination ?? pino.destination({ dest: 2, sync: true }));
  const root = pino(
    {
      level: opts.level ?? "info",
      name: opts.name ?? "keyturn",
      redact: { paths: REDACT_PATHS, censor: CENSOR },
      serializers: { err: serializeError, error: serializeError },
      formatters: { log: (obj) => scrub(obj, 0) as Record<string, unknown> },
      base: {
        pid: process.pid,
        ...(opts.bindings ? (scrub(opts.bindings, 0) as Record<string, unknown>) : {}),
      },
    },
    dest as pino.DestinationStream,
  );
  return wrap(root);
}

/** pino's child is typed as pino's logger; bindings get the same scrubbing as log objects. */
function wrap(l: pino.Logger): Logger {
  return {
    debug: (obj, msg) => l.debug(obj, msg),
    info: (obj, msg) => l.info(obj, msg),
    warn: (obj, msg) => l.warn(obj, msg),
    error: (obj, msg) => l.error(obj, msg),
    child: (bindings) => wrap(l.child(scrub(bindings, 0) as Record<string, unknown>)),
  };
}

/** The parts of an error that help and cannot carry a key. Non-errors pass through (already serialised). */
export function serializeError(e: unknown, causes = 0): unknown {
  if (!(e instanceof Error)) return typeof e === "object" && e !== null ? e : { message: String(e) };
  const r = e as Error & {
    code?: unknown;
    statusCode?: unknown;
    userMessage?: unknown;
    details?: unknown;
    request?: { requestId?: unknown };
    response?: { headers?: { get?: (n: string) => string | undefined } };
  };
  const requestId =
    typeof r.response?.headers?.get === "function" ? r.response.headers.get("x-ms-request-id") : undefined;
  const isKeyturn = e.name === "KeyturnError";
  const cause = (e as { cause?: unknown }).cause;
  return {
    type: e.name,
    message: e.message,
    ...(typeof r.code === "string" || typeof r.code === "number" ? { code: r.code } : {}),
    ...(typeof r.statusCode === "number" ? { statusCode: r.statusCode } : {}),
    ...(requestId ? { requestId } : {}),
    ...(typeof r.request?.requestId === "string" ? { clientRequestId: r.request.requestId } : {}),
    // a KeyturnError's details are keyturn's own (ids, scopes, counts); a RestError's are the body
    ...(isKeyturn && typeof r.userMessage === "string" ? { userMessage: r.userMessage } : {}),
    ...(isKeyturn && r.details && typeof r.details === "object" ? { details: scrub(r.details, 1) } : {}),
    stack: e.stack,
    ...(cause !== undefined && causes < MAX_CAUSES ? { cause: serializeError(cause, causes + 1) } : {}),
  };
}

/** Copy-on-write: returns the same object when nothing in it needs censoring. */
function scrub(v: unknown, depth: number): unknown {
  if (v instanceof SecretValue) return v.toString();
  if (v instanceof Error) return serializeError(v);
  if (v === null || typeof v !== "object") return v;
  if (depth >= MAX_DEPTH) return "[too deep]";
  if (Array.isArray(v)) {
    let out: unknown[] | undefined;
    v.forEach((item, i) => {
      const s = scrub(item, depth + 1);
      if (s !== item) (out ??= [...v])[i] = s;
    });
    return out ?? v;
  }
  const proto = Object.getPrototypeOf(v) as unknown;
  if (proto !== Object.prototype && proto !== null) return v; // Dates, Buffers, Maps: JSON decides
  let out: Record<string, unknown> | undefined;
  for (const [k, item] of Object.entries(v)) {
    // keys are strings: a sensitive name holding an object is walked, not censored whole
    const s = typeof item === "string" && SENSITIVE.has(k.toLowerCase()) ? CENSOR : scrub(item, depth + 1);
    if (s !== item) (out ??= { ...(v as Record<string, unknown>) })[k] = s;
  }
  return out ?? v;
}
