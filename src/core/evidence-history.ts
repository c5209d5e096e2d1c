/**
 * "Decisions and interruptions": every pause, resume, waiver, inclusion, rollback (asked, done or
 * failed), cancel, rejection, expiry, plan change and restart of a change, with who and why — read
 * from the change's events, which are the record (not from the `changes` read model).
 */
import type { Change } from "./domain.js";
import type { StoredEvent } from "./ports.js";

export interface HistoryEntry {
  readonly seq: number;
  readonly at: string;
  readonly type: string;
  /** The acting identity as recorded on the event (`keyturn` for the runner itself). */
  readonly actor: string | null;
  /** Who, in words: a person's name and chat id, or "keyturn". */
  readonly by: string;
  /** What happened. */
  readonly what: string;
  /** Why: the reason given, or the error that stopped the change; null when none was recorded. */
  readonly why: string | null;
  /** `what: why` on one line (the form earlier packs used). */
  readonly detail: string;
}

type Payload = Record<string, unknown>;

const str = (p: Payload, k: string): string | undefined => {
  const v = p[k];
  return typeof v === "string" && v.trim() ? v : undefined;
};
const num = (p: Payload, k: string): number | undefined => {
  const v = p[k];
  return typeof v === "number" ? v : undefined;
};
const payloadOf = (e: StoredEvent): Payload =>
  e.payload && typeof e.payload === "object" ? (e.payload as Payload) : {};

/** "Bob Okafor (console:bob)" from the event's recorded principal, else a name the change knows for its actor id. */
function byOf(e: StoredEvent, change?: Change): string {
  const by = payloadOf(e).by as { displayName?: unknown; id?: unknown } | undefined;
  if (by && typeof by.displayName === "string" && typeof by.id === "string")
    return `${by.displayName} (${by.id})`;
  if (!e.actor) return "keyturn";
  const known = [change?.requester, ...(change?.approvals.map((a) => a.by) ?? [])].find(
    (p) => p?.id === e.actor,
  );
  return known ? `${known.displayName} (${known.id})` : e.actor;
}

/** Events that end a step's run: after one of them a new `step_started` is a deliberate run, not a restart. */
const STEP_ENDS = new Set(["step_succeeded", "step_failed", "resumed", "rolled_back"]);

/**
 * The decisions and interruptions of a change, oldest first. `change` (optional) names consumers
 * and steps; without it entries name ids and step numbers only.
 */
export function decisionHistory(events: readonly StoredEvent[], change?: Change): HistoryEntry[] {
  const out: HistoryEntry[] = [];
  const stepName = (i: number | undefined): string =>
    i === undefined
      ? "a step"
      : `step ${i + 1}${change?.plan.steps[i] ? ` (${change.plan.steps[i].kind.replace(/_/g, " ")})` : ""}`;
  const consumerName = (id: string | undefined): string => {
    if (!id) return "a consumer";
    const c = change?.inventory.consumers.find((x) => x.id === id);
    return c ? `${c.name} (${id})` : id;
  };
  let planHash: string | undefined;
  let openStep: { index: number; intents: string[] } | null = null;
  let rollbackAsked: StoredEvent | null = null;
  let pausedAt: number | undefined;
  const rollbackUnfinished = (next: StoredEvent | null) => {
    if (!rollbackAsked) return;
    const ask = rollbackAsked;
    rollbackAsked = null;
    if (next?.type === "rollback_failed") return; // recorded with its own reason
    add(
      ask,
      "keyturn",
      next ? "rollback did not complete" : "rollback asked: no result recorded yet",
      next
        ? `no rolled-back event followed; the change stayed ${next.type === "cancelled" ? "paused until it was cancelled" : "paused"}`
        : "it is running, or it failed (the thread says why)",
      { type: "rollback_unfinished", at: next?.at ?? ask.at, actor: "keyturn" },
    );
  };
  function add(
    e: StoredEvent,
    by: string,
    what: string,
    why: string | null,
    over: Partial<Pick<HistoryEntry, "type" | "at" | "actor">> = {},
  ) {
    const clean = why?.trim() || null;
    out.push({
      seq: e.seq,
      at: over.at ?? e.at,
      type: over.type ?? e.type,
      actor: over.actor === undefined ? e.actor : over.actor,
      by,
      what,
      why: clean,
      detail: clean ? `${what}: ${clean}` : what,
    });
  }

  for (const e of events) {
    const p = payloadOf(e);
    if (
      rollbackAsked &&
      e.type !== "rolled_back" &&
      e.type !== "effect_intent" &&
      e.type !== "evidence_exported"
    )
      rollbackUnfinished(e);
    switch (e.type) {
      case "change_requested": {
        const plan = p.plan as { hash?: unknown } | undefined;
        if (typeof plan?.hash === "string") planHash = plan.hash;
        break;
      }
      case "plan_revalidated": {
        const next = (p.plan as { hash?: unknown } | undefined)?.hash;
        const changed = typeof next === "string" && planHash !== undefined && next !== planHash;
        add(
          e,
          "keyturn",
          changed
            ? `plan changed before the first step (hash ${planHash!.slice(0, 12)} → ${next.slice(0, 12)}): earlier approvals no longer count`
            : `plan re-checked before the first step: unchanged, the ${change?.plan.variant === "disable-local-auth" ? "change" : "rotation"} starts`,
          changed ? "the inventory or the keys changed since approval" : null,
        );
        if (typeof next === "string") planHash = next;
        break;
      }
      case "revalidation_failed":
        pausedAt = -1;
        add(
          e,
          "keyturn",
          `paused before the first step (${str(p, "code") ?? "failed"})`,
          str(p, "message") ?? null,
        );
        break;
      case "step_started": {
        const index = num(p, "index");
        if (openStep && index !== undefined && openStep.index === index) {
          const intent = openStep.intents.length
            ? `; an intent (${openStep.intents.join(", ")}) was recorded before it stopped, so live keys decided what had already happened`
            : "";
          add(
            e,
            "keyturn",
            `resumed ${stepName(index)} after keyturn stopped during it (a crash, restart or runner take-over)`,
            `the step had started at an earlier event and never finished${intent}`,
            { type: "crash_resumed" },
          );
        }
        openStep = index === undefined ? null : { index, intents: [] };
        break;
      }
      case "effect_intent":
        if (openStep) openStep.intents.push(str(p, "what") ?? "an effect");
        break;
      case "runner_recovered":
      case "recovered":
        add(
          e,
          "keyturn",
          `keyturn restarted and picked the change up at ${stepName(num(p, "index"))}`,
          str(p, "reason") ?? null,
        );
        break;
      case "step_failed":
        pausedAt = num(p, "index");
        add(
          e,
          "keyturn",
          `paused at step ${(num(p, "index") ?? -1) + 1} (${str(p, "code") ?? "failed"})`,
          str(p, "message") ?? null,
        );
        break;
      case "resumed":
        add(
          e,
          byOf(e, change),
          pausedAt === undefined
            ? "resumed the change"
            : pausedAt < 0
              ? "resumed: the plan is re-checked"
              : `resumed at ${stepName(pausedAt)}`,
          str(p, "reason") ?? null,
        );
        break;
      case "consumer_waived":
        add(
          e,
          byOf(e, change),
          `waived ${consumerName(str(p, "consumerId") ?? str(p, "consumer"))} for the cutover check`,
          str(p, "reason") ?? null,
        );
        break;
      case "consumer_included":
        add(
          e,
          byOf(e, change),
          `included NEW holder ${consumerName(str(p, "consumerId"))}`,
          str(p, "reason") ?? null,
        );
        break;
      case "rollback_requested":
        add(
          e,
          byOf(e, change),
          "asked to roll back (secrets back to the previous key)",
          str(p, "reason") ?? null,
        );
        rollbackAsked = e;
        break;
      case "rolled_back": {
        const ev = p.evidence as { validation?: { result?: unknown } } | undefined;
        const result = typeof ev?.validation?.result === "string" ? ev.validation.result : null;
        add(e, "keyturn", "rolled back", result);
        rollbackAsked = null;
        break;
      }
      case "rollback_failed":
        add(
          e,
          "keyturn",
          "rollback FAILED: the change stays paused",
          str(p, "message") ?? str(p, "reason") ?? null,
        );
        rollbackAsked = null;
        break;
      case "cancelled":
        add(e, byOf(e, change), "cancelled the change", str(p, "reason") ?? "no reason given");
        break;
      case "rejected":
        add(e, byOf(e, change), "rejected the change", str(p, "reason") ?? "no reason given");
        break;
      case "expired":
        add(e, "keyturn", "expired: the approvals did not come in time", null);
        break;
      case "break_glass_deadline":
        add(
          e,
          "keyturn",
          "break-glass: the after-the-fact approval did not come in time; approvers alerted again",
          null,
        );
        break;
      default:
        break;
    }
    if (STEP_ENDS.has(e.type)) openStep = null;
  }
  rollbackUnfinished(null);
  return out;
}

/** The pause/resume history of a change, from its events (the earlier name of `decisionHistory`). */
export const pauseHistory = (events: readonly StoredEvent[], change?: Change): HistoryEntry[] =>
  decisionHistory(events, change);
