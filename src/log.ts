/**
 * Structured JSON logs (pino). Key-like fields are redacted by path; SecretValue prints itself
 * redacted; Azure RestErrors are logged without their request/response (a listKeys body holds keys).
 */
import { pino } from "pino";
import type { Logger } from "./core/ports.js";

const REDACT = [
  "*.key",
  "*.key1",
  "*.key2",
  "*.value",
  "*.token",
  "*.password",
  "*.secret",
  "*.clientSecret",
  "*.signingSecret",
  "*.botToken",
  "headers.authorization",
  "*.headers.authorization",
];

export function serializeError(e: unknown): Record<string, unknown> {
  if (!(e instanceof Error)) return { message: String(e) };
  const r = e as Error & {
    code?: unknown;
    statusCode?: unknown;
    userMessage?: unknown;
    response?: { headers?: { get?: (n: string) => string | undefined } };
  };
  const requestId =
    typeof r.response?.headers?.get === "function" ? r.response.headers.get("x-ms-request-id") : undefined;
  return {
    type: e.name,
    message: e.message,
    ...(r.code !== undefined ? { code: r.code } : {}),
    ...(r.statusCode !== undefined ? { statusCode: r.statusCode } : {}),
    ...(requestId ? { requestId } : {}),
    stack: e.stack,
  };
}

export function createLogger(
  opts: {
    level?: string;
    destination?: NodeJS.WritableStream | string;
    name?: string;
    bindings?: Record<string, unknown>;
  } = {},
): Logger {
  const dest =
    typeof opts.destination === "string"
      ? pino.destination({ dest: opts.destination, mkdir: true, sync: false })
      : (opts.destination ?? pino.destination(2));
  const logger = pino(
    {
      level: opts.level ?? "info",
      name: opts.name ?? "keyturn",
      redact: { paths: REDACT, censor: "[redacted]" },
      serializers: { err: serializeError, error: serializeError },
      base: { pid: process.pid, ...opts.bindings },
    },
    dest as pino.DestinationStream,
  );
  return logger;
}
