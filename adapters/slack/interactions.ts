/**
 * What a keyturn button carries and how a reason is asked for: the button value (an ActionRequest as
 * JSON) read back defensively — it comes over the wire — and the reason modal with its submission.
 */
import type { types } from "@slack/bolt";
import type { ActionKind, ActionRequest } from "../../src/core/messages.js";

export const REASON_CALLBACK = "keyturn_reason";
/** The reason input's block id: `response_action: "errors"` names it to show a sentence under the field. */
export const REASON_BLOCK = "reason";
/** How long a view_submission may wait for the service before the modal is closed (Slack allows 3 s). */
export const VIEW_ANSWER_MS = 2_000;
/** Slack shows a field's error as plain text under it; keep it to a readable paragraph. */
const MAX_FIELD_ERROR = 1_000;
const KINDS: readonly ActionKind[] = ["approve", "reject", "cancel", "resume", "rollback", "waive"];
const MAX_REASON = 500;

const str = (v: unknown): string | undefined =>
  typeof v === "string" && v.length > 0 && v.length <= 2000 ? v : undefined;

function toAction(o: Record<string, unknown>): ActionRequest | null {
  const kind = o.kind as ActionKind;
  const changeId = str(o.changeId);
  if (!KINDS.includes(kind) || !changeId) return null;
  const planHash = str(o.planHash);
  const reason = str(o.reason);
  const consumerId = str(o.consumerId);
  return {
    kind,
    changeId,
    ...(planHash ? { planHash } : {}),
    ...(reason ? { reason } : {}),
    ...(consumerId ? { consumerId } : {}),
  };
}

/** A button's value → the action it asks for, or null for anything keyturn did not render. */
export function parseButtonValue(
  value: string | undefined,
): { action: ActionRequest; needsReason: boolean } | null {
  if (!value) return null;
  try {
    const o = JSON.parse(value) as unknown;
    if (!o || typeof o !== "object") return null;
    const action = toAction(o as Record<string, unknown>);
    return action ? { action, needsReason: (o as { needsReason?: unknown }).needsReason === true } : null;
  } catch {
    return null;
  }
}

const TITLES: Record<ActionKind, string> = {
  approve: "Approve",
  reject: "Reject",
  cancel: "Cancel",
  resume: "Resume",
  rollback: "Roll back",
  waive: "Waive",
};

/** The modal asking why; the action and where it came from ride along in private_metadata. */
export function reasonModal(
  action: ActionRequest,
  where: { channel: string; teamId: string },
): types.ModalView {
  return {
    type: "modal",
    callback_id: REASON_CALLBACK,
    private_metadata: JSON.stringify({ action, channel: where.channel, teamId: where.teamId }),
    title: { type: "plain_text", text: `${TITLES[action.kind]} ${action.changeId}`.slice(0, 24) },
    submit: { type: "plain_text", text: TITLES[action.kind].slice(0, 24) },
    close: { type: "plain_text", text: "Back" },
    blocks: [
      {
        type: "input",
        block_id: REASON_BLOCK,
        label: { type: "plain_text", text: "Reason (kept in the evidence)" },
        element: {
          type: "plain_text_input",
          action_id: "value",
          multiline: true,
          min_length: 3,
          max_length: MAX_REASON,
        },
      },
    ],
  };
}

interface SubmittedView {
  private_metadata?: string;
  state: { values: Record<string, Record<string, { value?: string | null }>> };
}

/** The modal's submission → the action with its reason; null when the reason is empty. */
export function readReasonSubmission(
  view: SubmittedView,
): { action: ActionRequest; channel: string; teamId: string } | null {
  let meta: { action?: Record<string, unknown>; channel?: unknown; teamId?: unknown };
  try {
    meta = JSON.parse(view.private_metadata || "{}") as typeof meta;
  } catch {
    return null;
  }
  const action = meta.action ? toAction(meta.action) : null;
  const reason = (view.state.values[REASON_BLOCK]?.value?.value ?? "").trim().slice(0, MAX_REASON);
  if (!action || !reason) return null;
  return {
    action: { ...action, reason },
    channel: typeof meta.channel === "string" ? meta.channel : "",
    teamId: typeof meta.teamId === "string" ? meta.teamId : "",
  };
}

/** The answer to a view_submission that keeps the modal open with `sentence` under the reason field. */
export function modalError(sentence: string): {
  response_action: "errors";
  errors: Record<string, string>;
} {
  const text = sentence.length > MAX_FIELD_ERROR ? sentence.slice(0, MAX_FIELD_ERROR - 1) + "…" : sentence;
  return { response_action: "errors", errors: { [REASON_BLOCK]: text } };
}
