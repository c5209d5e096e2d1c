/**
 * `Idempotency-Key` on POST /api/v1/rotations (the IETF httpapi draft "The Idempotency-Key HTTP
 * Header Field"): a pipeline that sends its request again after a timeout gets the change its first
 * request opened, not a second one and not an error. The key is the caller's, kept per caller and
 * with a fingerprint of the request: the same key with another request is refused (422); the same
 * key while the first is still being answered is told to wait (409). A request that failed keeps no
 * record, so it can be sent again with the same key.
 */
import { createHash } from "node:crypto";

export interface IdempotencyRecords {
  get(key: string): Promise<IdempotencyRecord | undefined>;
  put(key: string, record: IdempotencyRecord): Promise<void>;
}

export type IdempotencyRecord =
  | { readonly state: "pending"; readonly fingerprint: string; readonly at: string }
  | { readonly state: "done"; readonly fingerprint: string; readonly changeId: string; readonly at: string }
  | { readonly state: "failed"; readonly fingerprint: string; readonly at: string };

/** A pending record older than this is a request that died with its process: it may be sent again. */
export const PENDING_MS = 60_000;

const digest = (s: string) => createHash("sha256").update(s).digest("base64url");

/** The header's value, or why it cannot be used (printable ASCII, 1–255 characters). */
export function idempotencyKeyOf(header: string | undefined): { key: string } | { error: string } | null {
  if (header === undefined) return null;
  const v = header.trim().replace(/^"(.*)"$/, "$1");
  if (!/^[\x21-\x7e]{1,255}$/.test(v))
    return {
      error:
        "Idempotency-Key must be 1 to 255 printable ASCII characters without spaces, e.g. a UUID the caller generates once per rotation it asks for.",
    };
  return { key: v };
}

/** Where one caller's key is kept: never the raw key (it is the caller's string). */
export const recordKey = (callerId: string, key: string): string => digest(`${callerId.toLowerCase()}\n${key}`);

export const fingerprintOf = (body: unknown): string => digest(JSON.stringify(body ?? null));

export type Decision =
  | { readonly kind: "run" }
  | { readonly kind: "replay"; readonly changeId: string }
  | { readonly kind: "busy" }
  | { readonly kind: "mismatch" };

export function decide(record: IdempotencyRecord | undefined, fingerprint: string, nowMs: number): Decision {
  if (!record || record.state === "failed") return { kind: "run" };
  if (record.fingerprint !== fingerprint) return { kind: "mismatch" };
  if (record.state === "done") return { kind: "replay", changeId: record.changeId };
  return nowMs - Date.parse(record.at) < PENDING_MS ? { kind: "busy" } : { kind: "run" };
}
