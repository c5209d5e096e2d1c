import { canonicalJson, SecretValue, sha256Hex } from "../core/secret.js";

export const GENESIS = "0".repeat(64);

/** The hash of an event: its content and the previous event's hash. */
export function eventHash(
  prevHash: string,
  e: {
    seq: number;
    changeId: string | null;
    type: string;
    at: string;
    actor: string | null;
    payload: unknown;
  },
): string {
  return sha256Hex(
    prevHash +
      "\n" +
      canonicalJson({
        seq: e.seq,
        changeId: e.changeId,
        type: e.type,
        at: e.at,
        actor: e.actor,
        payload: e.payload,
      }),
  );
}

/** JSON for the store; refuses to serialise a SecretValue (a key must never reach the disk). */
export function storeJson(value: unknown): string {
  return JSON.stringify(value, function (this: unknown, _k, v: unknown) {
    if (v instanceof SecretValue || (this as Record<string, unknown> | null)?.[_k] instanceof SecretValue) {
      throw new Error("refusing to store a secret value");
    }
    return v;
  });
}
