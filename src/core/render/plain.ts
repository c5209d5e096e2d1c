/**
 * What the renderers share: the strings of a change that users wrote (so each platform can keep them
 * from formatting keyturn's message, while keyturn's own inline code stays code), and values that look
 * like secrets to a reader (a Key Vault version id is 32 hex, exactly like a legacy Azure key),
 * labelled and shortened.
 */
import type { Change } from "../domain.js";

/** The strings of a change that people wrote or chose: reasons, names. */
export function userTextOf(c: Change, ...extra: (string | undefined)[]): string[] {
  const out = [
    c.reason,
    c.requester.displayName,
    ...c.approvals.map((a) => a.by.displayName),
    ...(c.waivers ?? []).flatMap((w) => [w.reason, w.by.displayName, w.consumerName]),
    ...c.inventory.consumers.map((x) => x.name),
    ...extra,
  ];
  return [...new Set(out.filter((s): s is string => !!s && s.trim() !== ""))];
}

/**
 * Key Vault version ids and key fingerprints in words: "Key Vault version 1a2b3c4d…" and
 * "fingerprint sha256:…", so no bare 32-hex value (which reads as a leaked legacy key) reaches chat.
 */
export function labelValues(s: string): string {
  return s
    .replace(
      /\b([0-9a-f]{32})\s+(sha256:[0-9a-f]+)/gi,
      (_m, v: string, fp: string) => `Key Vault version ${short(v)} · fingerprint ${fp}`,
    )
    .replace(/(\bversion\s+)?\b([0-9a-f]{32})\b/gi, (_m, pre: string | undefined, v: string) =>
      pre ? `${pre}${short(v)}` : `Key Vault version ${short(v)}`,
    );
}

const short = (v: string): string => `${v.slice(0, 8)}…`;
