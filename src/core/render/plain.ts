/**
 * What the renderers share: the strings of a change that users wrote (so each platform can keep them
 * from formatting keyturn's message, while keyturn's own inline code stays code), and values that look
 * like secrets to a reader (a Key Vault version id is 32 hex, exactly like a legacy Azure key),
 * labelled and shortened.
 */
import type { Change, PolicySnapshot } from "../domain.js";

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

/** A Key Vault version id as people read it: "Key Vault version 1a2b3c4d…" (never the bare 32 hex). */
export const versionLabel = (v: string): string =>
  `Key Vault version ${/^[0-9a-f]{32}$/i.test(v) ? short(v) : v}`;

/**
 * The approvers as a person says them, group by group: "secops: Bob Okafor or a Slack user group
 * (S0SECOPS); platform: Carol Diaz". Policy ids (`group:secops`) appear only as the group's name; a
 * Slack user group id is not a name, so it is said to be one. Read from the policy snapshot's words
 * (`approverNames`, as recorded with the change), so changes recorded earlier read the same way.
 */
export function approversInWords(p: Pick<PolicySnapshot, "approvers" | "approverNames">): string {
  const member = (m: string): string => {
    const group = /^members of Slack user group (\S+)$/.exec(m.trim());
    return group ? `a Slack user group (${group[1]!})` : m.trim();
  };
  const names = (s: string): string =>
    s
      .split(" or ")
      .filter((m) => m.trim() !== "")
      .map(member)
      .join(" or ");
  if (!p.approverNames)
    return p.approvers.map((a) => a.replace(/^group:/i, "")).join(", ") || "none configured";
  return p.approverNames
    .split("; ")
    .map((part) => {
      const grouped = /^(.*) \(group:([^)]+)\)$/.exec(part);
      if (!grouped) return names(part);
      const who = names(grouped[1]!);
      return `${grouped[2]!}: ${who || "nobody in the group"}`;
    })
    .join("; ");
}
