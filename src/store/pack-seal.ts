/**
 * An evidence pack that verifies on its own: its JSON carries a seal — the SHA-256 of its content
 * and a checkpoint of the audit log (chain head) signed over that digest, with the public key — so
 * `keyturn audit verify --pack <file>` needs nothing but the file. The Markdown shows the same.
 */
import type { ChainHead, SignedCheckpoint, Witness } from "../core/checkpoint.js";
import { headText } from "../core/checkpoint.js";
import { canonicalJson, sha256Hex } from "../core/secret.js";
import { checkSignature } from "./checkpoint-signer.js";
import { eventHash } from "./hash-chain.js";

export interface Pack {
  readonly markdown: string;
  readonly json: string;
  readonly filenameBase: string;
}

export interface PackSeal {
  readonly schema: "keyturn.seal/v1";
  /** "sha256:<hex>" of the canonical JSON of the pack without its seal. */
  readonly contentSha256: string;
  readonly checkpoint: SignedCheckpoint;
}

const digestOf = (content: unknown): string => `sha256:${sha256Hex(canonicalJson(content))}`;

/**
 * The pack with its seal: `sign` signs the log's head together with the pack's digest. A warning
 * (the store did not verify) goes at the very top of the Markdown.
 */
export async function withCheckpoint(
  pack: Pack,
  sign: (subject: string) => SignedCheckpoint | Promise<SignedCheckpoint>,
  warning?: string,
): Promise<Pack> {
  const content = JSON.parse(pack.json) as Record<string, unknown>;
  delete content.seal;
  const contentSha256 = digestOf(content);
  const checkpoint = await sign(contentSha256);
  const seal: PackSeal = { schema: "keyturn.seal/v1", contentSha256, checkpoint };
  const md = [
    ...(warning ? [`> **WARNING — ${oneLine(warning)}**`, ""] : []),
    pack.markdown.trimEnd(),
    "",
    "## Signed checkpoint",
    "",
    `The audit log's head when this pack was made: ${headText(checkpoint)} (at ${checkpoint.at}).`,
    `Signed ${checkpoint.algorithm} by key ${checkpoint.keyId} over that head and this pack's content (${contentSha256}).`,
    `Verify the JSON file offline, with nothing else: \`keyturn audit verify --pack ${pack.filenameBase}.json\`. Check a database against it: \`keyturn audit verify --witness ${pack.filenameBase}.json\`.`,
    "",
    `Signature: \`${checkpoint.signature}\``,
    "",
    "Public key:",
    "",
    "```",
    checkpoint.publicKey.trim(),
    "```",
    "",
  ];
  return {
    ...pack,
    markdown: md.join("\n"),
    json: JSON.stringify({ ...content, seal }, null, 2) + "\n",
  };
}

export interface PackCheck {
  readonly ok: boolean;
  /** What was checked, in order; a failed check says what is wrong. */
  readonly lines: readonly string[];
  /** The signed head, when the seal holds: a witness for `audit verify`. */
  readonly head?: ChainHead & { readonly at: string; readonly keyId: string };
}

/** Verifies a pack file's text on its own: its bytes, its content digest, its signature, its events. */
export function verifyPack(text: string, name = "the pack"): PackCheck {
  const lines: string[] = [];
  const fail = (line: string): PackCheck => ({ ok: false, lines: [...lines, `FAILED: ${line}`] });
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    return fail(
      `${name} is not valid JSON (${(e as Error).message}): it was damaged or edited. Use the .json file keyturn wrote.`,
    );
  }
  const seal = parsed.seal as PackSeal | undefined;
  if (!seal || seal.schema !== "keyturn.seal/v1" || !seal.checkpoint)
    return fail(
      `${name} carries no keyturn seal: it was written by an older keyturn or the seal was removed. Export it again with \`keyturn evidence <CHG>\`.`,
    );
  // keyturn writes one exact layout: any byte changed, even whitespace, shows here
  if (text.replace(/\n$/, "") !== JSON.stringify(parsed, null, 2))
    return fail(
      `${name}'s bytes are not the ones keyturn wrote (the file was edited: its layout changed). Get the original file.`,
    );
  const { seal: _seal, ...content } = parsed;
  const digest = digestOf(content);
  if (digest !== seal.contentSha256)
    return fail(
      `${name}'s content does not match its seal (content ${digest}, sealed ${seal.contentSha256}): the pack was edited after keyturn wrote it. Get the original file.`,
    );
  lines.push(`content digest matches the seal (${digest})`);
  const cp = seal.checkpoint;
  if (cp.subject !== seal.contentSha256)
    return fail(
      `${name}'s signed checkpoint vouches for other content (${cp.subject ?? "none"}): the seal was moved from another pack.`,
    );
  const sig = checkSignature(cp);
  if (!sig.ok)
    return fail(`${name}'s signed checkpoint does not verify: ${sig.problem}. The pack was edited.`);
  lines.push(`signature verifies: ${cp.algorithm}, key ${cp.keyId}, over ${headText(cp)} at ${cp.at}`);
  const events = eventsProblem(parsed, cp);
  if (events) return fail(`${name}: ${events}`);
  const chain = parsed.chain as { ok?: boolean; problem?: string } | undefined;
  if (chain && chain.ok === false)
    return fail(
      `${name} is intact, but it records that the audit log did NOT verify when it was exported (${chain.problem ?? "see its chain section"}): its content cannot be relied on. Keep the database as it is and tell your security team.`,
    );
  lines.push("events in the pack match their hashes and end at or before the signed head");
  return {
    ok: true,
    lines: [
      ...lines,
      `Compare key ${cp.keyId} with the key id your keyturn prints (\`keyturn audit verify\`): a pack signed by another key was not made by your keyturn.`,
    ],
    head: { seq: cp.seq, hash: cp.hash, at: cp.at, keyId: cp.keyId },
  };
}

/** A pack (verified) or `seq:hash` as a witness for `audit verify`. */
export function packWitness(text: string, source: string): Witness | { problem: string } {
  const r = verifyPack(text, source);
  if (!r.ok || !r.head) return { problem: r.lines.at(-1) ?? `${source} does not verify` };
  return { seq: r.head.seq, hash: r.head.hash, source: `${source} (signed ${r.head.at})` };
}

/** Each event's hash recomputed from its content; the pack's last event at or before the signed head. */
function eventsProblem(pack: Record<string, unknown>, cp: SignedCheckpoint): string | undefined {
  const changeId = (pack.change as { id?: string } | undefined)?.id ?? null;
  const events = Array.isArray(pack.events) ? (pack.events as Record<string, unknown>[]) : [];
  for (const e of events) {
    if (typeof e.seq !== "number" || typeof e.hash !== "string" || typeof e.prevHash !== "string") continue;
    if (!("payload" in e)) continue; // a pack that lists hashes only
    const h = eventHash(e.prevHash, {
      seq: e.seq,
      changeId,
      type: String(e.type),
      at: String(e.at),
      actor: (e.actor as string | null) ?? null,
      payload: e.payload,
    });
    if (h !== e.hash)
      return `event ${e.seq} (${String(e.type)}) does not match its hash: the pack was edited`;
    if (e.seq > cp.seq) return `event ${e.seq} comes after the signed head (${cp.seq}): the pack was edited`;
    if (e.seq === cp.seq && e.hash !== cp.hash)
      return `event ${e.seq} is the signed head but its hash differs from it: the pack was edited`;
  }
  return undefined;
}

const oneLine = (t: string) => t.replace(/\s*[\r\n]+\s*/g, " ");
