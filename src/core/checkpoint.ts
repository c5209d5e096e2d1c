/**
 * Checkpoints of the audit log: the head of the hash chain (last sequence number and its hash),
 * signed with a key kept outside the database, and written where the database cannot reach — the
 * change's thread when it closes, the weekly digest, every exported evidence pack. A copy of a head
 * is a witness: a log that lost its last events, or was rewritten, no longer reaches it.
 * Pure: the signing itself (node:crypto) lives in src/store/checkpoint-signer.ts.
 */
import { canonicalJson } from "./secret.js";

/** A point in the log: the last event's sequence number and hash. */
export interface ChainHead {
  readonly seq: number;
  readonly hash: string;
}

/** A chain head as signed: when, and under which key. */
export interface Checkpoint extends ChainHead {
  readonly schema: "keyturn.checkpoint/v1";
  readonly at: string;
  /** What else the signature vouches for: "sha256:<hex>" of an evidence pack's content. */
  readonly subject?: string;
}

export interface SignedCheckpoint extends Checkpoint {
  readonly algorithm: "Ed25519";
  /** The public key (SPKI, PEM): what an auditor verifies the signature with. */
  readonly publicKey: string;
  /** "sha256:" + the first 16 hex digits of the public key's DER: a short name to compare keys by. */
  readonly keyId: string;
  /** Base64 Ed25519 signature of `checkpointMessage(checkpoint)`. */
  readonly signature: string;
}

/** A witness given to `audit verify`: a head seen outside the database, and where it came from. */
export interface Witness extends ChainHead {
  readonly source: string;
}

/** The exact bytes a checkpoint's signature covers. */
export const checkpointMessage = (cp: Checkpoint): string =>
  canonicalJson({ schema: cp.schema, seq: cp.seq, hash: cp.hash, at: cp.at, subject: cp.subject });

/** "event 152, head 3f2a…" — a head in words. */
export const headText = (h: ChainHead): string => `event ${h.seq}, head ${h.hash}`;

/**
 * The line posted to the thread and the digest. It carries the whole head in the `seq:hash` form
 * `keyturn audit verify --witness` takes, so a copied line is a witness.
 */
export function witnessLine(cp: SignedCheckpoint): string {
  return `Audit log checkpoint: ${cp.seq}:${cp.hash} at ${cp.at}, signed ${cp.algorithm} by key ${cp.keyId} (signature ${cp.signature}). Keep it: \`keyturn audit verify --witness ${cp.seq}:${cp.hash}\` shows whether the log still reaches it.`;
}

/** "152:3f2a…" (as printed in the thread and the digest); undefined when the text is not one. */
export function parseHead(text: string): ChainHead | undefined {
  const m = /^\s*(\d+):([0-9a-f]{64})\s*$/i.exec(text);
  if (!m) return undefined;
  return { seq: Number(m[1]), hash: m[2]!.toLowerCase() };
}
