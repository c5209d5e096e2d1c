/**
 * An approver's direct message. It follows the change: what is asked while the approver still has to
 * decide, then what became of it (approved by whom, still waiting for whom, rejected, expired, cancelled,
 * running, paused, completed), with its buttons only while that person has something left to decide.
 */
import type { Change } from "../domain.js";
import { changeAction, isDisableLocalAuth, isOpen, personKey } from "../domain.js";
import type { Message } from "../messages.js";
import { countedApprovals } from "../policy.js";
import { changeTitle, renderChangeCard, type Decision } from "./change.js";
import { userTextOf } from "./plain.js";

export interface ApprovalDmOptions {
  /** The evidence thread: the DM is elsewhere, so it links there. */
  readonly permalink?: string | undefined;
  /** "SANDBOX — simulated Azure tenant" when the change runs against the simulator. */
  readonly label?: string | undefined;
  /** When the person this DM went to approved the current plan (ISO), if they did. */
  readonly approvedAt?: string | undefined;
  /** Approvers (names) who have not approved yet, other than this person. */
  readonly waitingFor?: readonly string[];
  /** Who closed the change, and why (rejected, cancelled). */
  readonly decision?: Decision | undefined;
}

const hhmm = (iso: string) => iso.replace("T", " ").slice(0, 16) + " UTC";

/** "A", "A and B", "A, B and C". */
export const inWords = (names: readonly string[], last = "and"): string =>
  names.length <= 1
    ? (names[0] ?? "")
    : `${names.slice(0, -1).join(", ")} ${last} ${names[names.length - 1]!}`;

/** Whether the approvals asked for are still open to this person. */
export const decisionOpen = (c: Change): boolean =>
  c.state === "awaiting_approval" ||
  (c.breakGlass && isOpen(c.state) && countedApprovals(c) < c.policy.approvalsRequired);

function approvers(c: Change): string[] {
  const seen = new Set<string>();
  const names: string[] = [];
  for (const a of c.approvals) {
    if (a.planHash !== c.plan.hash || personKey(a.by) === personKey(c.requester)) continue;
    if (seen.has(personKey(a.by))) continue;
    seen.add(personKey(a.by));
    names.push(a.by.displayName);
  }
  return names;
}

/** The DM's first sentence: what is asked of this person now, or what became of the change. */
export function approvalDmSentence(c: Change, o: ApprovalDmOptions = {}): string {
  const by = approvers(c);
  const tally = `${countedApprovals(c)} of ${c.policy.approvalsRequired} approvals`;
  const approvedBy = by.length ? `approved by ${inWords(by)}` : "";
  const rotate = `${changeAction(c)}${c.exposure ? " (suspected exposure)" : ""}`;
  const keyFree = isDisableLocalAuth(c);
  const done = keyFree ? `${c.accountName} is key-free (disableLocalAuth=true)` : `${c.accountName} rotated`;
  const waiting = o.waitingFor?.length ? ` Still waiting for ${inWords(o.waitingFor, "or")}.` : "";
  if (decisionOpen(c)) {
    if (o.approvedAt)
      return `You approved ${c.id} (${rotate}) at ${hhmm(o.approvedAt)}: ${tally}.${waiting} Nothing is left for you to decide.`;
    const ask = c.breakGlass
      ? `Break-glass change ${c.id} (${rotate}) is running without approval: approve it after the fact.`
      : `${c.requester.displayName} asks you to approve ${c.id}: ${rotate} — ${c.reason}`;
    return by.length ? `${ask} So far ${approvedBy} (${tally}).` : ask;
  }
  const decidedBy = o.decision
    ? ` by ${o.decision.by}${o.decision.reason ? `: ${o.decision.reason}` : ""}`
    : "";
  const nothing = "Nothing is left for you to decide.";
  switch (c.state) {
    case "rejected":
      return `${c.id} (${rotate}) was rejected${decidedBy}. Nothing was changed. ${nothing}`;
    case "expired":
      return `${c.id} (${rotate}) expired before it had ${c.policy.approvalsRequired} approval(s)${by.length ? ` (${approvedBy})` : ""}: nothing was changed. The requester can ask again with \`${keyFree ? "disable-local-auth" : "rotate"} ${c.accountName}\`.`;
    case "cancelled":
      return `${c.id} (${rotate}) was cancelled${decidedBy}.${by.length ? ` It had been ${approvedBy}.` : ""} ${nothing}`;
    case "completed":
      return `${c.id} completed${c.completedAt ? ` at ${hhmm(c.completedAt)}` : ""}: ${done}${by.length ? `, ${approvedBy}` : ""}. ${nothing}`;
    case "completed_with_findings":
      return `${c.id} completed WITH FINDINGS: ${done}${by.length ? `, ${approvedBy}` : ""}. The thread says what to do about the findings.`;
    case "rolled_back":
      return `${c.id} (${rotate}) was rolled back: ${keyFree ? "keys work again (disableLocalAuth=false)" : "consumers are back on the previous key"}${by.length ? `; it had been ${approvedBy}` : ""}. ${nothing}`;
    case "paused":
      return `${c.id} (${rotate}) is paused${c.pause ? ` at step ${c.pause.stepIndex + 1}` : ""}${by.length ? `; it was ${approvedBy}` : ""}. Its operators decide in the thread (resume, roll back or cancel).`;
    default:
      return `${c.id} (${rotate}) was ${approvedBy || "approved"}; the ${keyFree ? "change" : "rotation"} is ${c.state === "running" ? "running" : "about to start"}. ${nothing}`;
  }
}

export function renderApprovalDm(c: Change, o: ApprovalDmOptions = {}): Message {
  const card = renderChangeCard(c, { label: o.label, decision: o.decision });
  const sentence = approvalDmSentence(c, o);
  const asking = decisionOpen(c) && !o.approvedAt;
  return {
    ...card,
    text: sentence,
    title: asking ? `Approval requested: ${changeTitle(c)}` : card.title,
    sections: [{ lines: [sentence] }, ...(card.sections ?? [])],
    buttons: asking
      ? (card.buttons ?? []).filter((b) => b.action.kind === "approve" || b.action.kind === "reject")
      : [],
    userText: userTextOf(c, o.decision?.by, o.decision?.reason, ...(o.waitingFor ?? [])),
    ...(o.permalink ? { link: { label: "Evidence thread", url: o.permalink } } : {}),
  };
}
