/** The simulator's HTTP plumbing: JSON answers with Azure's headers, and bearer-token callers. */
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";

export interface Caller {
  name: string;
  objectId: string;
  ip: string;
  /** The token's audience (`aud`), when the token names one. */
  aud?: string;
}

/** The audience each simulated service accepts, as Azure's services do (`aud` of the access token). */
export const AUDIENCES = {
  arm: ["https://management.azure.com", "https://management.core.windows.net"],
  keyVault: ["https://vault.azure.net"],
  logAnalytics: ["https://api.loganalytics.io"],
  cognitiveServices: ["https://cognitiveservices.azure.com"],
} as const;
export type Service = keyof typeof AUDIENCES;

/**
 * Whether a caller's token was issued for `service`. A token without `aud` is one a test or script
 * made by hand (`sim.<identity>`): it is taken for any service, as before audiences were checked.
 */
export function audienceFits(caller: Caller, service: Service): boolean {
  if (caller.aud === undefined) return true;
  const aud = caller.aud.replace(/\/+$/, "").toLowerCase();
  return AUDIENCES[service].some((a) => a === aud);
}

export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export type Operation =
  | "listKeys"
  | "regenerateKey"
  | "getAccount"
  | "updateAccount"
  | "listAccounts"
  | "setSecret"
  | "getSecret"
  | "listSecrets"
  | "metrics"
  | "activityLog"
  | "appSettings"
  | "permissions"
  | "logs"
  | "dataPlane";

/** The path of a request, tolerating the `//subscriptions/…` that SDKs build from a resourceUri with a leading slash. */
export function pathOf(rawUrl: string | undefined): { path: string; query: URLSearchParams } {
  const url = new URL((rawUrl ?? "/").replace(/^\/+/, "/"), "https://sandbox.invalid");
  return { path: decodeURIComponent(url.pathname).replace(/\/+$/, "") || "/", query: url.searchParams };
}

export function callerOf(req: IncomingMessage): Caller | null {
  const auth = req.headers.authorization ?? "";
  const m = /^Bearer sim\.([A-Za-z0-9_-]+)/.exec(auth);
  if (!m) return null;
  try {
    const c = JSON.parse(Buffer.from(m[1]!, "base64url").toString("utf8")) as Partial<Caller>;
    return {
      name: c.name ?? "unknown",
      objectId: c.objectId ?? "00000000-0000-0000-0000-000000000000",
      ip: c.ip ?? "127.0.0.1",
      ...(typeof c.aud === "string" ? { aud: c.aud } : {}),
    };
  } catch {
    return null;
  }
}

export function armError(
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): Reply {
  return { status, body: { error: { code, message } }, headers };
}

export async function readBody(req: IncomingMessage, limit = 1_000_000): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > limit) throw new Error("body too large");
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

export function send(res: ServerResponse, r: Reply): void {
  const json = !r.headers?.["content-type"] || r.headers["content-type"].includes("json");
  const body =
    r.body === undefined ? "" : typeof r.body === "string" && !json ? r.body : JSON.stringify(r.body);
  const id = randomUUID();
  // ARM echoes the caller's correlation id (or makes one) and the client's own request id
  const asked = res.req?.headers ?? {};
  const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);
  const correlation = one(asked["x-ms-correlation-request-id"]);
  const client = one(asked["x-ms-client-request-id"]);
  res.writeHead(r.status, {
    "content-type": "application/json; charset=utf-8",
    "x-ms-request-id": id,
    "x-ms-correlation-request-id": correlation ?? id,
    ...(client ? { "x-ms-client-request-id": client } : {}),
    "x-keyturn-sandbox": "1",
    "content-length": Buffer.byteLength(body),
    ...r.headers,
  });
  res.end(body);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
