/**
 * The simulator's HTTP plumbing: JSON answers with Azure's headers, bearer-token callers, fault
 * injection (throttle, 5xx after success, latency, 403, 404, timeouts) and ARM's token buckets.
 */
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";

export interface Caller {
  name: string;
  objectId: string;
  ip: string;
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

export interface Fault {
  match: { method?: string; pathIncludes?: string; operation?: Operation };
  effect:
    | { type: "throttle"; retryAfterSeconds?: number }
    | { type: "fail-after-success"; status: 500 | 502 | 503 }
    | { type: "hold-after-success"; ms: number }
    | { type: "latency"; ms: number }
    | { type: "forbidden" }
    | { type: "not-found" }
    | { type: "timeout" };
  times?: number;
}

export class Faults {
  #list: (Fault & { left: number })[] = [];

  add(f: Fault): void {
    this.#list.push({ ...f, left: f.times ?? 1 });
  }

  clear(): void {
    this.#list = [];
  }

  list(): Fault[] {
    return this.#list.map(({ left, ...f }) => ({ ...f, times: left }));
  }

  /** Whether an action is denied by a standing forbidden fault (the permissions API reports it). */
  denies(operation: Operation): boolean {
    return this.#list.some(
      (f) => f.effect.type === "forbidden" && f.match.operation === operation && f.left !== 0,
    );
  }

  take(method: string, path: string, operation: Operation): Fault["effect"][] {
    const hit: Fault["effect"][] = [];
    for (const f of this.#list) {
      if (f.left === 0) continue;
      if (f.match.method && f.match.method.toUpperCase() !== method) continue;
      if (f.match.pathIncludes && !path.toLowerCase().includes(f.match.pathIncludes.toLowerCase())) continue;
      if (f.match.operation && f.match.operation !== operation) continue;
      if (f.left > 0) f.left--;
      hit.push(f.effect);
    }
    this.#list = this.#list.filter((f) => f.left !== 0);
    return hit;
  }
}

/** ARM's per-subscription buckets: reads 250 burst / 25 per s, writes 200 / 10 per s. */
export class TokenBuckets {
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  readonly counts = new Map<string, { reads: number; writes: number }>();

  take(subscription: string, write: boolean): number {
    const [cap, rate] = write ? [200, 10] : [250, 25];
    const key = `${subscription}|${write ? "w" : "r"}`;
    const now = Date.now();
    const b = this.#buckets.get(key) ?? { tokens: cap, at: now };
    b.tokens = Math.min(cap, b.tokens + ((now - b.at) / 1000) * rate);
    b.at = now;
    this.#buckets.set(key, b);
    const c = this.counts.get(subscription) ?? { reads: 0, writes: 0 };
    this.counts.set(subscription, c);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      if (write) c.writes++;
      else c.reads++;
      return -1;
    }
    return Math.ceil((1 - b.tokens) / rate);
  }

  remaining(subscription: string, write: boolean): number {
    return Math.floor(
      this.#buckets.get(`${subscription}|${write ? "w" : "r"}`)?.tokens ?? (write ? 200 : 250),
    );
  }
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
  const body = r.body === undefined ? "" : JSON.stringify(r.body);
  const id = randomUUID();
  res.writeHead(r.status, {
    "content-type": "application/json; charset=utf-8",
    "x-ms-request-id": id,
    "x-ms-correlation-request-id": id,
    "x-keyturn-sandbox": "1",
    "content-length": Buffer.byteLength(body),
    ...r.headers,
  });
  res.end(body);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
