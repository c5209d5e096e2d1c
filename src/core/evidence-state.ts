/**
 * A change's key and secret state as its recorded steps leave it: what the plan delivers to, the
 * fingerprints before and after each step. Read by the evidence pack's runbook answers.
 */
import type { Change, Consumer, KeySlot, StepEvidence } from "./domain.js";

export const NOT_RECORDED = "not recorded";

export const secretKey = (vaultUrl: string, name: string): string =>
  `secret:${vaultUrl.replace(/\/+$/, "")}/${name}`;
export const short = (fp: string | undefined): string => fp ?? NOT_RECORDED;

/** Consumers the plan delivers to: its own, pinned ones, and excluded NEW holders an approver included. */
export function planned(change: Change): Consumer[] {
  const included = new Set(change.includedConsumerIds ?? []);
  return change.inventory.consumers.filter(
    (c) =>
      change.plan.consumerIds.includes(c.id) ||
      change.plan.pinnedConsumerIds.includes(c.id) ||
      (included.has(c.id) && !!change.plan.excludedConsumerIds?.includes(c.id)),
  );
}

/** Excluded NEW holders nobody included: they receive nothing. */
export function excluded(change: Change): Consumer[] {
  const included = new Set(change.includedConsumerIds ?? []);
  return change.inventory.consumers.filter(
    (c) => change.plan.excludedConsumerIds?.includes(c.id) && !included.has(c.id),
  );
}

/** The distinct secrets the plan publishes to, keyed as the publish step records them. */
export function plannedSecrets(change: Change): { key: string; name: string }[] {
  const seen = new Map<string, string>();
  for (const c of planned(change))
    if (c.secret) seen.set(secretKey(c.secret.vaultUrl, c.secret.name), c.secret.name);
  return [...seen.entries()].map(([key, name]) => ({ key, name }));
}

export const stepAt = (change: Change, index: number): StepEvidence | undefined =>
  change.steps.find((s) => s.index === index);

/** Both fingerprints before anything changed: preflight's reading, else the planning inventory's. */
export function fingerprintsBefore(change: Change): Partial<Record<KeySlot, string>> {
  const pre = change.steps.find((s) => s.kind === "preflight");
  const inv = change.inventory.fingerprints;
  const pick = (slot: KeySlot) => pre?.after?.[slot] ?? inv?.[slot];
  const out: Partial<Record<KeySlot, string>> = {};
  for (const slot of ["key1", "key2"] as const) {
    const v = pick(slot);
    if (v) out[slot] = v;
  }
  return out;
}

/** The fingerprint of a slot as the steps up to `index` (exclusive) left it: regenerations move it. */
export function fingerprintAt(change: Change, slot: KeySlot, index: number): string | undefined {
  let fp = fingerprintsBefore(change)[slot];
  for (const s of [...change.steps].sort((a, b) => a.index - b.index)) {
    if (s.index >= index || s.index >= change.plan.steps.length) break;
    const v = s.after?.[slot];
    if (v && s.kind !== "preflight") fp = v;
  }
  return fp;
}

/** The next reading of a slot's fingerprint after step `index` (a later step's before/after). */
export function nextReading(change: Change, slot: KeySlot, index: number): { fp: string; at: number } | null {
  for (const s of [...change.steps].sort((a, b) => a.index - b.index)) {
    if (s.index <= index || s.index >= change.plan.steps.length) continue;
    const v = s.before?.[slot] ?? s.after?.[slot];
    if (v) return { fp: v, at: s.index };
  }
  return null;
}

/** The slot consumers use once the plan has run. */
export function activeAfter(change: Change): KeySlot {
  const v = change.plan.variant;
  return v === "exposure-standby" || v === "exposure-active-kill-now"
    ? change.plan.activeSlot
    : change.plan.standbySlot;
}

export const fpOf = (v: string | undefined): string | undefined =>
  v?.split(" ").find((x) => x.startsWith("sha256:"));
export const versionOf = (v: string | undefined): string | undefined =>
  v && !v.startsWith("sha256:") ? v.split(" ")[0] : undefined;

/** Something a step saw that needs a person: what was seen and what to do (changes that record findings). */
export interface EvidenceFinding {
  readonly stepIndex: number;
  readonly kind: string;
  readonly what: string;
  readonly next: string;
}
/** `findings` of a change or a step, where the record has them (older changes do not). */
function findingsIn(o: object | undefined): readonly EvidenceFinding[] | undefined {
  const f: unknown = o && "findings" in o ? (o as { findings?: unknown }).findings : undefined;
  return Array.isArray(f) ? (f as EvidenceFinding[]) : undefined;
}

/** The findings of a change, or of its steps when the change does not gather them. */
export const findingsOf = (change: Change): readonly EvidenceFinding[] =>
  findingsIn(change) ?? change.steps.flatMap((s) => findingsIn(s) ?? []);

/** The findings one step recorded. */
export const stepFindings = (s: StepEvidence | undefined): readonly EvidenceFinding[] => findingsIn(s) ?? [];
