/**
 * The events are the record; the `changes` table is a cache of them. A change is rebuilt by
 * replaying its events through the same pure transition function the runner used, and compared with
 * its row: `audit verify` names the first field where the table says something the events do not.
 */
import type { Change, Principal, PrincipalRef } from "../core/domain.js";
import { isOpen, requestedChange } from "../core/domain.js";
import type { StoredEvent } from "../core/ports.js";
import type { WorkflowEvent } from "../core/workflow.js";
import { transition, WORKFLOW_EVENT_TYPES } from "../core/workflow.js";

export type Rebuilt =
  | { readonly ok: true; readonly change: Change }
  | { readonly ok: false; readonly seq: number; readonly problem: string };

/**
 * A change as its events say it is. `events` are the change's own events in seq order, beginning
 * with its `change_requested`; `fallback` supplies what old request events did not record (sandbox).
 */
export function rebuildChange(events: readonly StoredEvent[], fallback?: Partial<Change>): Rebuilt {
  const start = events.findIndex((e) => e.type === "change_requested");
  const first = events[start];
  if (!first || first.changeId === null)
    return { ok: false, seq: events[0]?.seq ?? 0, problem: "no change_requested event opens it" };
  let change = requested(first, fallback);
  for (const e of events.slice(start + 1)) {
    if (e.type === "thread_opened") {
      const thread = (e.payload as { thread?: Change["thread"] }).thread ?? null;
      change = { ...change, thread };
      continue;
    }
    if (!WORKFLOW_EVENT_TYPES.has(e.type)) continue; // a note: intents, exports, chat facts
    let r: ReturnType<typeof transition>;
    try {
      r = transition(change, workflowEvent(e, change));
    } catch (err) {
      // a payload missing what the event needs: forged, or not written by keyturn
      return {
        ok: false,
        seq: e.seq,
        problem: `event ${e.seq} (${e.type}) cannot be replayed (${err instanceof Error ? err.message : String(err)}) — its payload was not written by keyturn`,
      };
    }
    if (!r.ok)
      return {
        ok: false,
        seq: e.seq,
        problem: `event ${e.seq} (${e.type}) cannot happen to ${change.id} in state ${change.state} (${r.error.userMessage}) — events were reordered, removed or forged`,
      };
    change = r.change;
  }
  return { ok: true, change };
}

/** The change as its request event recorded it, before anything happened to it. */
function requested(e: StoredEvent, fallback: Partial<Change> = {}): Change {
  const p = (e.payload ?? {}) as Record<string, unknown> & {
    account?: { id?: string; kind?: string; name?: string };
  };
  const accountId = p.account?.id ?? fallback.accountId ?? "";
  return requestedChange({
    id: e.changeId!,
    accountId,
    // the request event names the account since it records it; older ones carry only its id
    accountName: (p.accountName as string | undefined) ?? accountId.split("/").at(-1) ?? "",
    accountKind: p.account?.kind ?? "",
    reason: p.reason as string,
    exposure: p.exposure as boolean,
    leakedSlot: p.leakedSlot as Change["leakedSlot"],
    killNow: p.killNow as boolean,
    breakGlass: p.breakGlass as boolean,
    requester: p.requester as PrincipalRef,
    policy: p.policy as Change["policy"],
    plan: p.plan as Change["plan"],
    inventory: p.inventory as Change["inventory"],
    createdAt: e.at,
    sandbox: (p.sandbox as boolean | undefined) ?? fallback.sandbox ?? false,
    ...(p.scheduled ? { scheduled: p.scheduled as Change["scheduled"] } : {}),
  });
}

/**
 * The workflow event a stored event records (the runner stores everything but type and time in the
 * payload). Replaying is not authorising again: who acted was decided when the event was recorded
 * (and the chain and its witnesses vouch for the record). The chat identities behind a decision are
 * not stored, so the replayed principal stands for what the event says it was — an approver eligible
 * through the policy entry it names, an operator — and the transition reproduces the same change.
 */
function workflowEvent(e: StoredEvent, c: Change): WorkflowEvent {
  const p = (e.payload ?? {}) as Record<string, unknown>;
  const out: Record<string, unknown> = { ...p, type: e.type, at: e.at };
  if (p.by && typeof p.by === "object") {
    const ref = p.by as PrincipalRef;
    const own = [ref.id, ...(ref.person ? [ref.person] : [])];
    const identities =
      e.type === "approved"
        ? [...own, ...eligibleThrough(c, p.eligibleAs)]
        : [...own, ...c.policy.resolvedApprovers, ...(c.policy.operators ?? [])];
    out.by = { ...ref, identities } satisfies Principal;
  }
  return out as unknown as WorkflowEvent;
}

/**
 * Identities that make an approver eligible through `entry` and through no entry listed before it
 * (eligibility takes the first entry that matches). Without a recorded entry: any approver.
 */
function eligibleThrough(c: Change, entry: unknown): readonly string[] {
  const entries = c.policy.approverEntries ?? [];
  const i = typeof entry === "string" ? entries.findIndex((x) => x.entry === entry) : -1;
  if (i === -1) return c.policy.resolvedApprovers;
  const earlier = new Set(entries.slice(0, i).flatMap((x) => x.identities.map((id) => id.toLowerCase())));
  return entries[i]!.identities.filter((id) => !earlier.has(id.toLowerCase()));
}

/** The first field where a row and the rebuilt change differ, in words; undefined when they agree. */
export function firstDifference(
  row: {
    state: string;
    open: number;
    account_id: string;
    created_at: string;
    completed_at: string | null;
    doc: string;
  },
  rebuilt: Change,
): string | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(row.doc);
  } catch {
    return "its row is not readable JSON";
  }
  // the rebuilt change as it would be stored (undefined dropped, dates as strings)
  const expected = JSON.parse(JSON.stringify(rebuilt)) as unknown;
  const inDoc = diff(doc, expected, "");
  if (inDoc) return inDoc;
  const columns: [string, unknown, unknown][] = [
    ["state column", row.state, rebuilt.state],
    ["open column", row.open, isOpen(rebuilt.state) ? 1 : 0],
    ["account_id column", row.account_id, rebuilt.accountId],
    ["created_at column", row.created_at, rebuilt.createdAt],
    ["completed_at column", row.completed_at, rebuilt.completedAt],
  ];
  for (const [name, table, events] of columns)
    if (table !== events) return `${name} differs: table says ${show(table)}, events say ${show(events)}`;
  return undefined;
}

function diff(table: unknown, events: unknown, path: string): string | undefined {
  if (Object.is(table, events)) return undefined;
  const bothObjects =
    table !== null && events !== null && typeof table === "object" && typeof events === "object";
  if (bothObjects && Array.isArray(table) === Array.isArray(events)) {
    if (Array.isArray(table) && Array.isArray(events)) {
      for (let i = 0; i < Math.max(table.length, events.length); i++) {
        const d = diff(table[i], events[i], `${path}[${i}]`);
        if (d) return d;
      }
      return undefined;
    }
    const t = table as Record<string, unknown>;
    const e = events as Record<string, unknown>;
    for (const k of new Set([...Object.keys(e), ...Object.keys(t)])) {
      const d = diff(t[k], e[k], path ? `${path}.${k}` : k);
      if (d) return d;
    }
    return undefined;
  }
  return `${path || "the change"} differs: table says ${show(table)}, events say ${show(events)}`;
}

function show(v: unknown): string {
  if (v === undefined) return "nothing";
  const text = JSON.stringify(v);
  return text.length > 120 ? `${text.slice(0, 117)}…` : text;
}
