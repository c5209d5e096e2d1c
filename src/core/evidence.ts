/**
 * The evidence pack of a change: Markdown for people, JSON (`keyturn.evidence/v1`) for tools.
 * It answers the runbook's five questions (before, expected after, validation, owner, rollback) for
 * the change and each step, names every approval with the policy entry that made it count, the
 * keyturn version and policy hash, every decision and interruption with who and why, and the whole
 * event chain with its verification. Fingerprints only, never key values. Pure: the caller reads
 * the version, the owner and the clock and passes them in.
 */
import type { Approval, Change } from "./domain.js";
import { decisionHistory, type HistoryEntry } from "./evidence-history.js";
import { renderEvidenceMarkdown, TRAFFIC_WINDOWS } from "./evidence-markdown.js";
import {
  changeRunbook,
  NOT_RECORDED,
  ownerText,
  stepRunbooks,
  type OwnerInfo,
  type RunbookAnswer,
  type StepRunbook,
} from "./evidence-runbook.js";
import { findingsOf, type EvidenceFinding } from "./evidence-state.js";
import type { StoredEvent, VerifyResult } from "./ports.js";

export { decisionHistory, pauseHistory, type HistoryEntry } from "./evidence-history.js";
export { tamperText, TRAFFIC_WINDOWS } from "./evidence-markdown.js";
export { findingsOf, type EvidenceFinding } from "./evidence-state.js";
export type { ExpectedCheck, OwnerInfo, RunbookAnswer, StepRunbook } from "./evidence-runbook.js";

export interface EvidenceOptions {
  readonly label?: string | undefined;
  readonly generatedAt: string;
  /** keyturn's version (package.json), read by the caller; absent = "not recorded". */
  readonly version?: string | undefined;
  /** The account owner (owner tag, else policy), resolved by the caller; absent = "not recorded". */
  readonly owner?: OwnerInfo | null | undefined;
}

/** An approval as the pack reports it: who, when, for which plan, and what made the approver eligible. */
export interface ApprovalRecord extends Approval {
  /** The policy entry that made the approver eligible, from the approval or its event; null = not recorded. */
  readonly eligibleAsRecorded: string | null;
  readonly forCurrentPlan: boolean;
  /** The `approved` event that records it; null = the read model has an approval the log does not. */
  readonly eventSeq: number | null;
}

/** A waiver or an inclusion as the log records it. */
export interface ConsumerDecision {
  readonly consumerId: string;
  readonly consumer: string;
  readonly by: string;
  readonly at: string;
  readonly reason: string | null;
  readonly eventSeq: number;
}

/** The JSON pack: a plain object others may extend (e.g. with a signed `checkpoint`). */
export interface EvidencePack {
  readonly schema: "keyturn.evidence/v1";
  readonly generatedAt: string;
  readonly label: string | null;
  readonly keyturn: { readonly version: string | null };
  readonly change: Record<string, unknown> & { readonly id: string; readonly state: string };
  readonly policy: { readonly name: string; readonly hash: string | null };
  readonly runbook: { readonly change: RunbookAnswer; readonly steps: readonly StepRunbook[] };
  readonly plan: Change["plan"];
  readonly inventory: Change["inventory"];
  readonly trafficWindows: Readonly<Record<string, string>>;
  readonly approvals: readonly ApprovalRecord[];
  readonly waivers: readonly ConsumerDecision[];
  readonly waivedConsumerIds: readonly string[];
  readonly inclusions: readonly ConsumerDecision[];
  readonly newHolders: ReturnType<typeof newHolders>;
  /** What the steps saw that needs a person (a change with any ends completed_with_findings). */
  readonly findings: readonly EvidenceFinding[];
  readonly steps: Change["steps"];
  readonly history: readonly HistoryEntry[];
  readonly events: readonly Omit<StoredEvent, "changeId">[];
  readonly chain: VerifyResult;
}

export function buildEvidence(
  change: Change,
  events: readonly StoredEvent[],
  verify: VerifyResult,
  opts: EvidenceOptions,
): { markdown: string; json: string; filenameBase: string; data: EvidencePack } {
  const owner = ownerText(opts.owner);
  const data: EvidencePack = {
    schema: "keyturn.evidence/v1",
    generatedAt: opts.generatedAt,
    label: opts.label ?? null,
    keyturn: { version: opts.version ?? null },
    change: {
      id: change.id,
      account: { id: change.accountId, name: change.accountName, kind: change.accountKind },
      owner: opts.owner ?? null,
      state: change.state,
      reason: change.reason,
      exposure: change.exposure,
      leakedSlot: change.leakedSlot,
      breakGlass: change.breakGlass,
      requester: change.requester,
      createdAt: change.createdAt,
      completedAt: change.completedAt,
      pause: change.pause,
      policy: change.policy,
    },
    policy: { name: change.policy.name, hash: change.policy.hash ?? null },
    runbook: { change: changeRunbook(change, owner), steps: stepRunbooks(change, owner) },
    plan: change.plan,
    inventory: change.inventory,
    trafficWindows: TRAFFIC_WINDOWS,
    approvals: approvalRecords(change, events),
    waivers: consumerDecisions(change, events, "consumer_waived"),
    waivedConsumerIds: change.waivedConsumerIds,
    inclusions: consumerDecisions(change, events, "consumer_included"),
    newHolders: newHolders(change),
    findings: findingsOf(change),
    steps: change.steps,
    history: decisionHistory(events, change),
    events: events.map((e) => ({
      seq: e.seq,
      type: e.type,
      at: e.at,
      actor: e.actor,
      prevHash: e.prevHash,
      hash: e.hash,
      payload: e.payload,
    })),
    chain: verify,
  };
  return {
    markdown: renderEvidenceMarkdown(change, data, events),
    json: JSON.stringify(data, null, 2),
    filenameBase: `keyturn-evidence-${change.id}`,
    data,
  };
}

const payload = (e: StoredEvent): Record<string, unknown> =>
  e.payload && typeof e.payload === "object" ? (e.payload as Record<string, unknown>) : {};

/** The read model's approvals, each matched to its `approved` event (eligibility comes from either). */
function approvalRecords(change: Change, events: readonly StoredEvent[]): ApprovalRecord[] {
  const approved = events.filter((e) => e.type === "approved");
  return change.approvals.map((a) => {
    const ev = approved.find((e) => {
      const by = payload(e).by as { id?: unknown } | undefined;
      return e.at === a.at && (by?.id ?? e.actor) === a.by.id;
    });
    const fromEvent = ev ? payload(ev).eligibleAs : undefined;
    return {
      ...a,
      eligibleAsRecorded: a.eligibleAs ?? (typeof fromEvent === "string" ? fromEvent : null),
      forCurrentPlan: a.planHash === change.plan.hash,
      eventSeq: ev?.seq ?? null,
    };
  });
}

function consumerDecisions(
  change: Change,
  events: readonly StoredEvent[],
  type: "consumer_waived" | "consumer_included",
): ConsumerDecision[] {
  return events
    .filter((e) => e.type === type)
    .map((e) => {
      const p = payload(e);
      const id =
        typeof p.consumerId === "string" ? p.consumerId : typeof p.consumer === "string" ? p.consumer : "";
      const by = p.by as { displayName?: unknown; id?: unknown } | undefined;
      return {
        consumerId: id,
        consumer: change.inventory.consumers.find((c) => c.id === id)?.name ?? id,
        by:
          typeof by?.displayName === "string" && typeof by.id === "string"
            ? `${by.displayName} (${by.id})`
            : (e.actor ?? NOT_RECORDED),
        at: e.at,
        reason: typeof p.reason === "string" && p.reason.trim() ? p.reason : null,
        eventSeq: e.seq,
      };
    });
}

/** NEW holders of a change's key: who they are, where their copy came from, whether they received the new key. */
export function newHolders(change: Change) {
  return change.inventory.consumers
    .filter((c) => c.known === false)
    .map((c) => {
      const excluded = !!change.plan.excludedConsumerIds?.includes(c.id);
      const included = excluded && !!change.includedConsumerIds?.includes(c.id);
      return {
        id: c.id,
        name: c.name,
        ...(c.secret ? { secret: `${c.secret.vaultUrl}/secrets/${c.secret.name}` } : {}),
        createdAt: c.firstSeen?.createdAt ?? null,
        createdBy: c.firstSeen?.createdBy ?? null,
        excluded,
        included,
        delivered: !excluded || included,
      };
    });
}
