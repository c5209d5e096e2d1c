/** Answers to questions (status, owner, list, inventory, history), help, errors and acknowledgements. */
import type { Account, AccountStatus, Change, Inventory, PrincipalRef } from "../domain.js";
import { isDisableLocalAuth } from "../domain.js";
import type { KeyturnError } from "../errors.js";
import type { Message, Section } from "../messages.js";
import { COMMAND_HELP, usageOf } from "../parse-command.js";
import { tamperText } from "../evidence.js";
import type { VerifyResult } from "../ports.js";
import { closest } from "../suggest.js";
import { lastRotationOf } from "../rotation-record.js";
import { consumerLine, shownConsumers } from "./consumers.js";
import { labelValues } from "./plain.js";

const day = (iso: string | null | undefined) => (iso ? iso.slice(0, 10) : "—");

export function renderStatus(s: AccountStatus, label?: string): Message {
  const a = s.account;
  const last = s.lastRotation
    ? `${day(s.lastRotation.at)} by ${s.lastRotation.by} (${s.lastRotation.source}${s.lastRotation.changeId ? `, ${s.lastRotation.changeId}` : ""})`
    : "none on record";
  const sections: Section[] = [
    {
      heading: "Consumers",
      lines: s.consumers.length
        ? shownConsumers(s).map(
            ({ consumer: c, declared }) =>
              `${consumerLine(c)}${declared ? `; ${declared}` : ""}${c.owner && c.reload !== "manual" ? `; owner ${c.owner}` : ""}`,
          )
        : ["No consumer found."],
    },
  ];
  if (s.couldDisableLocalAuth)
    sections.push({
      lines: [
        "No key consumer and no traffic: this account could drop keys entirely (disableLocalAuth=true).",
      ],
    });
  return {
    text: `${a.name}: ${s.localAuthAllowed ? `active key ${s.activeSlot ?? "unknown"}, last rotated ${last}` : "local auth disabled (no keys)"}`,
    title: `Status · ${a.name}`,
    tone: s.overdue ? "warning" : "info",
    fields: [
      { label: "Kind", value: a.kind },
      {
        label: "Owner",
        value: s.owner ? `${s.owner} (${s.ownerSource})` : "unknown — tag the account with owner=…",
      },
      { label: "Environment", value: s.environment ?? "—" },
      { label: "Local auth (keys)", value: s.localAuthAllowed ? "allowed" : "disabled — nothing to rotate" },
      { label: "Active key", value: s.activeSlot ?? "unknown" },
      {
        label: "Stored in",
        value:
          s.storedIn.map((x) => `${x.vaultUrl}/secrets/${x.name}`).join(", ") || "no Key Vault secret found",
      },
      { label: "Last rotation", value: last },
      ...(s.regeneratedOutside
        ? [
            {
              label: "Regenerated since",
              value: `${day(s.regeneratedOutside.at)} by ${s.regeneratedOutside.by} (Azure Activity Log) — not a rotation keyturn completed, so the due date does not move; rotate with keyturn to record one`,
            },
          ]
        : []),
      {
        label: "Next due",
        value: s.nextDue
          ? `${day(s.nextDue)}${s.overdue ? " — OVERDUE" : ""}`
          : s.localAuthAllowed
            ? "now (no rotation on record)"
            : "—",
      },
      ...(s.openChangeId ? [{ label: "Open change", value: s.openChangeId }] : []),
    ],
    sections,
    context: [label, a.id].filter((x): x is string => !!x),
  };
}

export function renderOwner(s: AccountStatus): Message {
  const text = s.owner
    ? `${s.account.name} is owned by ${s.owner} (from the ${s.ownerSource}).`
    : `${s.account.name} has no owner on record: tag it with owner=<team or person>.`;
  return { text, title: `Owner · ${s.account.name}`, sections: [{ lines: [text] }], context: [s.account.id] };
}

export function renderList(rows: readonly AccountStatus[], opts: { overdue: boolean }): Message {
  // a name two accounts share is listed as resource-group/name, the form commands accept
  const counts = new Map<string, number>();
  for (const r of rows)
    counts.set(r.account.name.toLowerCase(), (counts.get(r.account.name.toLowerCase()) ?? 0) + 1);
  const nameOf = (a: AccountStatus["account"]) =>
    (counts.get(a.name.toLowerCase()) ?? 0) > 1 ? `${a.resourceGroup}/${a.name}` : a.name;
  const lines = rows.map(
    (s) =>
      `${nameOf(s.account)} (${s.account.kind}, ${s.account.subscriptionId.slice(-4)}) — owner ${s.owner ?? "?"} — last ${s.lastRotation ? day(s.lastRotation.at) : "none"} — due ${s.localAuthAllowed ? (s.nextDue ? day(s.nextDue) : "now") : "n/a (keyless)"}${s.overdue ? " — OVERDUE" : ""}`,
  );
  const title = opts.overdue
    ? `Overdue keys: ${rows.length}`
    : `Accounts: ${rows.length} (${rows.filter((r) => r.overdue).length} overdue)`;
  return {
    text: title,
    title,
    tone: opts.overdue && rows.length ? "warning" : "info",
    sections: [{ lines: lines.length ? lines : ["None."] }],
  };
}

export function renderInventory(account: Account, inv: Inventory): Message {
  if (inv.keyFree)
    return {
      text: `${account.name} has local auth disabled: no keys, no key consumers.`,
      title: `Inventory · ${account.name}`,
      sections: [
        {
          lines: [
            `${account.name} has local auth disabled (disableLocalAuth=true): no keys, no key consumers.`,
          ],
        },
      ],
    };
  const sections: Section[] = [
    {
      heading: "Consumers",
      lines: inv.consumers.length
        ? shownConsumers(inv).map(({ consumer: c, declared }) =>
            labelValues(`${consumerLine(c)}${declared ? `; ${declared}` : ""}. ${c.evidence}`),
          )
        : ["No consumer found."],
    },
    {
      heading: "Services (traffic by ApiName, 24 h)",
      lines: inv.services.length
        ? inv.services.map((s) => `${s.apiName}: ${s.calls} calls`)
        : ["No traffic seen."],
    },
  ];
  if (inv.unseen.length) sections.push({ heading: "Could not see", lines: [...inv.unseen] });
  return {
    text: `${account.name}: ${inv.consumers.length} consumer(s), active key ${inv.activeSlot ?? "unknown"}`,
    title: `Inventory · ${account.name}`,
    fields: [
      { label: "Active key", value: inv.activeSlot ?? "unknown" },
      { label: "key1", value: inv.fingerprints?.key1 ?? "—" },
      { label: "key2", value: inv.fingerprints?.key2 ?? "—" },
    ],
    sections,
    context: [account.id],
  };
}

/**
 * An account's changes, newest first. The last rotation is derived from them the way `status` and
 * `list` derive it (`lastRotationOf`); the store's own answer is used only when the listed changes
 * hold none (an older rotation beyond the page).
 */
export function renderHistory(
  account: Account,
  changes: readonly Change[],
  stored?: { changeId: string; completedAt: string; by: PrincipalRef },
): Message {
  const lines = changes.map(
    (c) =>
      `${c.id} — ${c.state.replaceAll("_", " ")}${c.findings?.length ? ` (${c.findings.length} finding(s): ${c.findings[0]!.next})` : ""}${c.waivedConsumerIds.length ? ` — waived: ${c.waivedConsumerIds.map((id) => c.inventory.consumers.find((x) => x.id === id)?.name ?? id).join(", ")}` : ""} — ${day(c.createdAt)} by ${c.requester.displayName}${c.exposure ? " — exposure" : ""}${isDisableLocalAuth(c) ? " — disable local auth" : ""} — ${c.reason}`,
  );
  const own = lastRotationOf(changes);
  const listed = new Set(changes.map((c) => c.id));
  const last = own
    ? { at: own.at, changeId: own.changeId ?? "" }
    : stored && !listed.has(stored.changeId)
      ? { at: stored.completedAt, changeId: stored.changeId }
      : null;
  const text = `${account.name}: ${changes.length} change(s)${last ? `, last rotation ${day(last.at)} (${last.changeId})` : ", no completed rotation on record"}`;
  return {
    text,
    title: `History · ${account.name}`,
    sections: [{ lines: [text] }, { lines: lines.length ? lines : ["No change recorded by keyturn."] }],
    userText: changes.flatMap((c) => [c.reason, c.requester.displayName]),
  };
}

export function renderHelp(topic?: string): Message {
  if (topic) {
    const c = COMMAND_HELP.find((x) => x.name === topic);
    if (c)
      return {
        text: `${c.usage} — ${c.summary}`,
        title: `help ${c.name}`,
        sections: [{ lines: [`Usage: ${c.usage}`, c.summary] }],
      };
  }
  const near = topic
    ? closest(
        topic,
        COMMAND_HELP.map((c) => c.name),
      )
    : [];
  const text = topic
    ? `There is no command "${topic}".${near.length ? ` Did you mean ${near[0]}?` : ""} These are the commands:`
    : "keyturn rotates Azure AI service keys under approval, without downtime.";
  return {
    text,
    title: "keyturn commands",
    // the sentence is what a person reads first: a block of its own, not only the notification text
    sections: [{ lines: [text] }, { lines: COMMAND_HELP.map((c) => `${c.usage} — ${c.summary}`) }],
    ...(topic ? { userText: [topic] } : {}),
  };
}

export function renderError(e: KeyturnError | { code: "internal"; correlationId: string }): Message {
  if ("correlationId" in e) {
    return {
      text: `Something went wrong (ref ${e.correlationId}). Nothing was changed by this request; tell your keyturn operator this reference.`,
      tone: "danger",
    };
  }
  const [first, ...rest] = e.userMessage.split("\n");
  return {
    text: first!,
    tone: "danger",
    ...(rest.length ? { sections: [{ lines: rest }] } : {}),
    context: [e.code],
  };
}

export function renderAck(text: string): Message {
  return { text };
}

export function renderVerify(r: VerifyResult): Message {
  const text = r.ok
    ? `Audit log verified: ${r.events} events, head ${r.head.slice(0, 16)}.`
    : `Audit log does NOT verify. ${tamperText(r).replace(/\.$/, "")}. Keep the database file as it is and tell your security team: the events from there on cannot be trusted.`;
  return { text, tone: r.ok ? "success" : "danger" };
}

export { usageOf };
