/**
 * What an evidence pack is built from: the change as its EVENTS say (the changes table is only a
 * cache), and the store's verification — with a warning, first, when the store does not verify.
 */
import type { Change } from "../core/domain.js";
import type { AsyncStore, VerifyResult } from "../core/ports.js";

export interface EvidenceAudit {
  readonly verify: VerifyResult;
  /** The change rebuilt from its events; the table's row only when its events cannot be replayed. */
  readonly change: Change | undefined;
  /** Set when the pack cannot be relied on: goes before anything else the user sees. */
  readonly warning?: string;
}

export async function auditForEvidence(store: AsyncStore, changeId: string): Promise<EvidenceAudit> {
  const verify = await store.verify();
  const rebuilt = await store.changeFromEvents(changeId);
  const change = rebuilt?.ok ? rebuilt.change : await store.getChange(changeId);
  const problems: string[] = [];
  if (!verify.ok) problems.push(...(verify.problems ?? [verify.problem]));
  if (rebuilt && !rebuilt.ok && !problems.some((p) => p.startsWith(`${changeId}:`)))
    problems.push(`${changeId}: ${rebuilt.problem}`);
  if (problems.length === 0) return { verify, change };
  const shown =
    problems.slice(0, 3).join("; ") + (problems.length > 3 ? `; and ${problems.length - 3} more` : "");
  return {
    verify,
    change,
    warning: `TAMPERED: the audit log does NOT verify — ${shown}. This pack shows ${changeId} as its events say, but do not rely on it: keep the database file as it is, run \`keyturn audit verify\`, and tell your security team.`,
  };
}
