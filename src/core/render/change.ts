/** The evidence thread: the change card (parent), step replies, notices, approval requests. */
import type { Change } from "../domain.js";
import { waiversOf } from "../workflow.js";
import { changeAction, isCompleted, isDisableLocalAuth, isOpen } from "../domain.js";
import { formatDuration } from "../duration.js";
import type { Button, Field, Message, Section, Tone } from "../messages.js";
import { holderMark } from "../known-holders.js";
import { countedApprovals } from "../policy.js";
import { consumerLine, shownConsumers } from "./consumers.js";
import { approversInWords, labelValues, userTextOf } from "./plain.js";

/** Who closed a change and why (a rejection, a cancel), as the events record it. */
export interface Decision {
  readonly by: string;
  readonly reason?: string | undefined;
}

const STATE_TONE: Record<Change["state"], Tone> = {
  requested: "info",
  awaiting_approval: "warning",
  approved: "info",
  running: "info",
  paused: "danger",
  completed: "success",
  completed_with_findings: "warning",
  rejected: "warning",
  expired: "warning",
  cancelled: "warning",
  rolled_back: "warning",
};

const stateLabel = (c: Change) => c.state.replaceAll("_", " ").toUpperCase();

export function changeTitle(c: Change): string {
  const flags = [
    c.exposure ? `EXPOSURE (${c.leakedSlot ?? "unknown"})` : "",
    c.breakGlass ? "BREAK-GLASS" : "",
    c.killNow ? "KILL NOW" : "",
  ].filter(Boolean);
  return `${c.id} · ${changeAction(c)}${flags.length ? " · " + flags.join(" · ") : ""}`;
}

/** The point of no return, said once: step titles that already say it get no second mark. */
export const pnrSuffix = (s: { readonly title: string; readonly pointOfNoReturn: boolean }): string =>
  s.pointOfNoReturn && !/point of no return/i.test(s.title) ? "  ⚠ point of no return" : "";

/** The step in progress says since when (the card is updated as each step starts and ends). */
function runningSince(c: Change, index: number): string {
  if (c.state !== "running" || index !== c.currentStep) return "";
  const s = c.steps.find((x) => x.index === index);
  if (s?.finishedAt) return "";
  const t = s ? /T(\d{2}:\d{2}:\d{2})/.exec(s.startedAt)?.[1] : undefined;
  return t ? ` — running since ${t} UTC` : " — starting";
}

function stepMark(c: Change, index: number): string {
  const s = c.steps.find((x) => x.index === index);
  if (c.state === "running" && index === c.currentStep && !s?.finishedAt) return "▶";
  if (s?.outcome === "succeeded") return "✓";
  if (s?.outcome === "succeeded_with_findings") return "⚠";
  if (s?.outcome === "failed" || s?.outcome === "gate_failed") return "✗";
  if (s && !s.finishedAt) return "▶";
  return "·";
}

/**
 * The evidence thread's parent. It links nowhere: it is the thread (replies and DMs elsewhere link to it).
 * `decision` names who rejected or cancelled the change, and why.
 */
export function renderChangeCard(
  c: Change,
  opts: { label?: string | undefined; decision?: Decision | undefined } = {},
): Message {
  const counted = countedApprovals(c);
  const fields: Field[] = [
    { label: "Account", value: c.accountName },
    { label: "Kind", value: c.accountKind },
    { label: "Subscription", value: /\/subscriptions\/([^/]+)/i.exec(c.accountId)?.[1] ?? "—" },
    { label: "State", value: stateLabel(c) + (c.escalated ? " · ESCALATED" : "") },
    { label: "Requested by", value: c.requester.displayName },
    ...(c.scheduled
      ? [
          {
            label: "Schedule",
            value:
              c.scheduled.mode === "auto" && !c.scheduled.asksPerson?.length
                ? `started by schedule (policy ${c.scheduled.policy}: auto) — no approval needed`
                : c.scheduled.mode === "auto"
                  ? `schedule (policy ${c.scheduled.policy}: auto) paused for a person: ${c.scheduled.asksPerson?.length ?? 0} reason(s) in the thread`
                  : `opened by schedule (policy ${c.scheduled.policy}: request) — approvers decide`,
          },
        ]
      : []),
    { label: "Reason", value: c.reason },
    {
      label: "Approvals",
      value:
        `${counted} of ${c.policy.approvalsRequired}` +
        (c.approvals.length
          ? ` — ${c.approvals.map((a) => a.by.displayName + (a.afterTheFact ? " (after the fact)" : "") + (a.planHash !== c.plan.hash ? " (earlier plan, not counted)" : "")).join(", ")}`
          : ""),
    },
    {
      label: "Approvers",
      value: approversInWords(c.policy),
    },
  ];
  if (opts.decision && (c.state === "rejected" || c.state === "cancelled"))
    fields.push({
      label: c.state === "rejected" ? "Rejected by" : "Cancelled by",
      value: `${opts.decision.by}${opts.decision.reason ? ` — ${opts.decision.reason}` : ""}`,
    });
  if (c.exposure) fields.push({ label: "Leaked key", value: c.leakedSlot ?? "unknown" });
  if (
    c.approvalDeadline &&
    (c.state === "awaiting_approval" ||
      (c.breakGlass && isOpen(c.state) && counted < c.policy.approvalsRequired))
  ) {
    const at = c.approvalDeadline.replace("T", " ").slice(0, 16) + " UTC";
    fields.push({ label: c.breakGlass ? "Approve after the fact by" : "Approve by", value: at });
  }
  if (c.completedAt)
    fields.push({ label: "Finished", value: c.completedAt.replace("T", " ").slice(0, 16) + " UTC" });
  const inv = c.inventory;
  const blast: string[] = inv.consumers.length
    ? shownConsumers(inv).map(({ consumer: x, declared, also }) => {
        const mark = holderMark(c, x);
        const waived = [x.id, ...also].some((id) => c.waivedConsumerIds.includes(id));
        return `${consumerLine(x)}${declared ? `; ${declared}` : ""}${waived ? " (waived)" : ""}${mark ? ` — ${mark}` : ""}`;
      })
    : ["No consumer found."];
  if (inv.services.length)
    blast.push("Services: " + inv.services.map((s) => `${s.apiName} (${s.calls} calls/24 h)`).join(", "));
  for (const u of inv.unseen) blast.push(`Could not see: ${u}`);
  const plan = c.plan.steps.map(
    (s) =>
      `${stepMark(c, s.index)} ${s.index + 1}. ${s.title}${s.waitSeconds ? ` (window ${formatDuration(s.waitSeconds)})` : ""}${pnrSuffix(s)}${runningSince(c, s.index)}`,
  );
  const sections: Section[] = [
    {
      heading: isDisableLocalAuth(c)
        ? "Who uses keys (no key holder may remain)"
        : `Blast radius (active key: ${c.plan.activeSlot})`,
      lines: blast,
    },
    {
      heading: `Plan — ${c.plan.variant}`,
      lines: [...plan, ...(c.plan.notes ?? []).map((n) => `Note: ${labelValues(n)}`)],
    },
  ];
  const waivers = waiversOf(c);
  if (waivers.length)
    sections.push({
      heading: "Waived (not moved, not checked at the cutover)",
      lines: waivers.map(
        (w) =>
          `${w.consumerName} — waived by ${w.by.displayName}, ${w.at.replace("T", " ").slice(0, 16)} UTC: ${w.reason}${c.state === "completed" || c.state === "completed_with_findings" ? ` — still holds the dead ${c.plan.activeSlot}` : ""}`,
      ),
    });
  if (c.findings?.length)
    sections.push({
      heading: c.state === "completed_with_findings" ? "COMPLETED WITH FINDINGS — what to do" : "Findings",
      lines: c.findings.flatMap((f) => [`Step ${f.stepIndex + 1}: ${f.what}`, `What to do: ${f.next}`]),
    });
  if (c.pause)
    sections.push({
      heading:
        c.pause.stepIndex < 0 ? "Paused before the first step" : `Paused at step ${c.pause.stepIndex + 1}`,
      lines: [labelValues(c.pause.message)],
    });
  return {
    text: `${changeTitle(c)} — ${stateLabel(c)}`,
    title: changeTitle(c),
    tone: c.breakGlass && isOpen(c.state) ? "danger" : STATE_TONE[c.state],
    fields,
    sections,
    buttons: buttonsFor(c),
    context: [opts.label, `${c.id}`, `plan ${c.plan.hash.slice(0, 12)}`].filter((x): x is string => !!x),
    userText: userTextOf(c, opts.decision?.by, opts.decision?.reason),
  };
}

function buttonsFor(c: Change): Button[] {
  const id = c.id;
  const pnr = c.plan.steps.find((s) => s.pointOfNoReturn);
  const buttons: Button[] = [];
  if (
    c.state === "awaiting_approval" ||
    (c.breakGlass && isOpen(c.state) && countedApprovals(c) < c.policy.approvalsRequired)
  ) {
    buttons.push({
      label: "Approve",
      style: "primary",
      action: { kind: "approve", changeId: id, planHash: c.plan.hash },
      ...(pnr
        ? {
            confirm: {
              title: "Approve rotation?",
              text:
                pnr.kind === "kill_leaked"
                  ? `${c.accountName}: ${pnr.slot ?? "the leaked key"} will be regenerated at once; every consumer still on it fails until it reads the new key.`
                  : `${c.accountName}: ${pnr.slot ?? "the old key"} will be regenerated after the cutover check; consumers still on it will fail.`,
              confirm: "Approve",
              deny: "Not yet",
            },
          }
        : {}),
    });
    if (c.state === "awaiting_approval")
      buttons.push({
        label: "Reject",
        style: "danger",
        action: { kind: "reject", changeId: id },
        needsReason: true,
      });
  }
  if (c.state === "paused") {
    buttons.push({ label: "Resume", style: "primary", action: { kind: "resume", changeId: id } });
    if (!c.steps.some((s) => c.plan.steps[s.index]?.pointOfNoReturn)) {
      buttons.push({
        label: "Roll back",
        action: { kind: "rollback", changeId: id },
        confirm: {
          title: "Roll back?",
          text: isDisableLocalAuth(c)
            ? `Local auth of ${c.accountName} is re-enabled: keys work again.`
            : "Consumers' secrets go back to the previous key.",
          confirm: "Roll back",
          deny: "Cancel",
        },
      });
    }
    for (const cid of c.plan.pinnedConsumerIds.filter((x) => !c.waivedConsumerIds.includes(x))) {
      const name = c.inventory.consumers.find((x) => x.id === cid)?.name ?? cid;
      buttons.push({
        label: `Waive ${name}`,
        action: { kind: "waive", changeId: id, consumerId: cid },
        needsReason: true,
      });
    }
  }
  if (isDisableLocalAuth(c) && isCompleted(c.state))
    buttons.push({
      label: "Roll back",
      action: { kind: "rollback", changeId: id },
      confirm: {
        title: "Turn keys back on?",
        text: `Local auth of ${c.accountName} is re-enabled (disableLocalAuth=false): keys work again.`,
        confirm: "Roll back",
        deny: "Cancel",
      },
    });
  if (["awaiting_approval", "approved", "paused", "requested"].includes(c.state)) {
    buttons.push({ label: "Cancel", style: "danger", action: { kind: "cancel", changeId: id } });
  }
  return buttons;
}

/** A notice in the thread (or a DM): its sentence, the change id as small print. */
export function renderNotice(
  c: Change,
  text: string,
  tone: Tone,
  opts: { userText?: readonly string[] } = {},
): Message {
  const sentence = labelValues(text);
  return { text: sentence, tone, context: [c.id], userText: [...userTextOf(c), ...(opts.userText ?? [])] };
}

export function renderApprovalRequest(c: Change, permalink?: string): Message {
  const card = {
    ...renderChangeCard(c),
    ...(permalink ? { link: { label: "Evidence thread", url: permalink } } : {}),
  };
  const text = c.breakGlass
    ? `Break-glass change ${c.id} on ${c.accountName} is running without approval: approve it after the fact.`
    : `${c.requester.displayName} asks you to approve ${c.id}: ${changeAction(c)}${c.exposure ? " (suspected exposure)" : ""} — ${c.reason}`;
  return {
    ...card,
    text,
    title: `Approval requested: ${card.title ?? c.id}`,
    sections: [{ lines: [text] }, ...(card.sections ?? [])],
  };
}

export function renderBreakGlassAlert(c: Change): Message {
  return renderNotice(
    c,
    `BREAK-GLASS: ${c.requester.displayName} started ${c.id} on ${c.accountName} without prior approval.`,
    "danger",
  );
}
