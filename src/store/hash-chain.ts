import { KeyturnError } from "../core/errors.js";
import { canonicalJson, SecretValue, sha256Hex } from "../core/secret.js";

/** The prevHash of the first event. */
export const GENESIS = "0".repeat(64);

export interface HashedFields {
  readonly seq: number;
  readonly changeId: string | null;
  readonly type: string;
  readonly at: string;
  readonly actor: string | null;
  readonly payload: unknown;
}

/** The hash of an event: the previous event's hash and the canonical JSON of its content. */
export function eventHash(prevHash: string, e: HashedFields): string {
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

/**
 * The same hash from a payload that is already canonical JSON text, without parsing it: verify()
 * walks every event, so it builds the canonical envelope by hand. The keys are in canonicalJson's
 * sorted order (actor, at, changeId, payload, seq, type); the store test pins both paths together.
 */
export function eventHashFromText(
  prevHash: string,
  seq: number,
  changeId: string | null,
  type: string,
  at: string,
  actor: string | null,
  payloadText: string,
): string {
  return sha256Hex(
    `${prevHash}\n{"actor":${JSON.stringify(actor)},"at":${JSON.stringify(at)},"changeId":${JSON.stringify(changeId)},"payload":${payloadText},"seq":${seq},"type":${JSON.stringify(type)}}`,
  );
}

/**
 * JSON for the database. A SecretValue anywhere in the value is refused with an internal error
 * rather than written as its redacted form: a key reaching the store is a bug to fix, not to hide.
 * (JSON.stringify calls toJSON before the replacer, so the replacer looks at the holder's property.)
 */
export function storeJson(value: unknown, what: string): string {
  return JSON.stringify(value ?? null, function (this: unknown, k: string, v: unknown) {
    if (v instanceof SecretValue || (this as Record<string, unknown> | null)?.[k] instanceof SecretValue) {
      throw new KeyturnError(
        "internal",
        `keyturn refused to write a key value into its database (${what}${k ? `, field "${k}"` : ""}). Nothing was written; this is a bug in keyturn, report it.`,
      );
    }
    return v;
  });
}

/** Payload text as stored: canonical JSON (sorted keys, dates as strings), so verify can hash it as is. */
export function canonicalPayload(payload: unknown, what: string): { text: string; value: unknown } {
  const value = JSON.parse(storeJson(payload, what)) as unknown;
  return { text: canonicalJson(value), value };
}
