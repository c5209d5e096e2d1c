/**
 * The key that signs checkpoints of the audit log: Ed25519 (node:crypto), in a file OUTSIDE the
 * database — whoever can edit the SQLite file can rewrite its chain, but cannot sign a head for it
 * without this key. Created on first use (mode 0600); its public half goes into every signed head.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
} from "node:crypto";
import type { KeyObject } from "node:crypto";
import { chmodSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Checkpoint, SignedCheckpoint } from "../core/checkpoint.js";
import { checkpointMessage } from "../core/checkpoint.js";
import { KeyturnError } from "../core/errors.js";

export interface CheckpointSigner {
  readonly keyFile: string | null;
  readonly publicKey: string;
  readonly keyId: string;
  sign(cp: Checkpoint): SignedCheckpoint;
}

/**
 * Where the signing key lives: KEYTURN_SIGNING_KEY_FILE, else `keyturn-signing.key` beside the data
 * directory (not in it: a copy or backup of the data directory does not carry the key).
 */
export function signingKeyPath(dbPath: string, env: NodeJS.ProcessEnv = process.env): string | null {
  if (env.KEYTURN_SIGNING_KEY_FILE) return env.KEYTURN_SIGNING_KEY_FILE;
  if (dbPath === ":memory:" || dbPath === "") return null;
  return join(dirname(dirname(dbPath)), "keyturn-signing.key");
}

/** The signer for a key file (created when missing), or an in-memory key for an in-memory store. */
export function loadSigner(keyFile: string | null): CheckpointSigner {
  const privateKey = keyFile ? readOrCreate(keyFile) : generateKeyPairSync("ed25519").privateKey;
  const pub = createPublicKey(privateKey);
  const publicKey = pub.export({ type: "spki", format: "pem" }).toString();
  const keyId = keyIdOf(pub);
  return {
    keyFile,
    publicKey,
    keyId,
    sign(cp) {
      const signature = sign(null, Buffer.from(checkpointMessage(cp), "utf8"), privateKey).toString("base64");
      return { ...cp, algorithm: "Ed25519", publicKey, keyId, signature };
    },
  };
}

/** Whether a signed checkpoint's signature holds under the public key it carries. */
export function checkSignature(cp: SignedCheckpoint): { ok: true } | { ok: false; problem: string } {
  let pub: KeyObject;
  try {
    pub = createPublicKey(cp.publicKey);
  } catch {
    return { ok: false, problem: "its public key is not a readable PEM key" };
  }
  if (pub.asymmetricKeyType !== "ed25519")
    return { ok: false, problem: "its public key is not an Ed25519 key" };
  if (keyIdOf(pub) !== cp.keyId)
    return { ok: false, problem: `its key id ${cp.keyId} does not name its public key (${keyIdOf(pub)})` };
  let good: boolean;
  try {
    good = verify(null, Buffer.from(checkpointMessage(cp), "utf8"), pub, Buffer.from(cp.signature, "base64"));
  } catch {
    good = false; // a signature of the wrong length
  }
  return good ? { ok: true } : { ok: false, problem: "its signature does not match the chain head it signs" };
}

export const keyIdOf = (pub: KeyObject): string =>
  "sha256:" +
  createHash("sha256")
    .update(pub.export({ type: "spki", format: "der" }))
    .digest("hex")
    .slice(0, 16);

function readOrCreate(file: string): KeyObject {
  try {
    return createPrivateKey(readFileSync(file));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw unreadable(file, e);
  }
  const pem = generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" });
  // written aside, then linked into place: two processes starting at once end up with one key
  const aside = `${file}.${process.pid}.${Date.now()}.tmp`;
  try {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(aside, pem, { mode: 0o600 });
    chmodSync(aside, 0o600);
    try {
      linkSync(aside, file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
  } catch (e) {
    throw new KeyturnError(
      "config_invalid",
      `keyturn could not create its checkpoint signing key at ${file} (${(e as Error).message}). Set KEYTURN_SIGNING_KEY_FILE to a writable path outside the data directory, or create the directory.`,
    );
  } finally {
    rmSync(aside, { force: true });
  }
  try {
    return createPrivateKey(readFileSync(file));
  } catch (e) {
    throw unreadable(file, e);
  }
}

const unreadable = (file: string, e: unknown) =>
  new KeyturnError(
    "config_invalid",
    `keyturn could not read its checkpoint signing key ${file} (${(e as Error).message}). Restore the file from your backup, or point KEYTURN_SIGNING_KEY_FILE at it; do not replace it, or older checkpoints will name another key.`,
  );
