/**
 * Which holders of an account's key are *known*: a completed rotation delivered the key to them, or
 * an approver declared them. Derived from the record (completed changes and declared consumers),
 * never from anything in Azure an outsider could write (a secret's tags or value).
 */
import type { Change, Consumer } from "./domain.js";
import { isCompleted } from "./domain.js";
import type { DeclaredConsumer, AsyncStore } from "./ports.js";

export interface KnownHolders {
  /** Consumer ids delivered to by a completed rotation, and declared consumers' ids. */
  readonly consumerIds: ReadonlySet<string>;
  /** Secrets (`<vaultUrl>/<name>`, lower case, no trailing slash) delivered to or declared. */
  readonly secrets: ReadonlySet<string>;
}

export const holderSecretKey = (vaultUrl: string, name: string): string =>
  `${vaultUrl.replace(/\/+$/, "")}/${name}`.toLowerCase();

/** The secrets a change's publish step wrote (or found already holding the new key). */
function deliveredSecrets(change: Change): Set<string> {
  const publish = change.steps.find((s) => s.kind === "publish" && s.outcome === "succeeded");
  const out = new Set<string>();
  for (const k of Object.keys(publish?.after ?? {}))
    if (k.startsWith("secret:")) out.add(k.slice("secret:".length).toLowerCase());
  return out;
}

export function knownHolders(
  completed: readonly Change[],
  declared: readonly DeclaredConsumer[],
): KnownHolders {
  const consumerIds = new Set<string>();
  const secrets = new Set<string>();
  for (const change of completed) {
    if (!isCompleted(change.state)) continue;
    const delivered = deliveredSecrets(change);
    for (const s of delivered) secrets.add(s);
    const planned = new Set([...change.plan.consumerIds, ...(change.includedConsumerIds ?? [])]);
    for (const c of change.inventory.consumers) {
      if (!planned.has(c.id) || change.waivedConsumerIds.includes(c.id)) continue;
      // a literal copy is delivered by its owner and verified by the cutover check
      if (
        c.secret
          ? delivered.has(holderSecretKey(c.secret.vaultUrl, c.secret.name))
          : c.source === "app-setting-literal"
      )
        consumerIds.add(c.id);
    }
  }
  for (const d of declared) {
    consumerIds.add(`declared:${d.name}`);
    if (d.secret) secrets.add(holderSecretKey(d.secret.vaultUrl, d.secret.name));
  }
  return { consumerIds, secrets };
}

/** Known holders of one account, read from the store (completed changes and declared consumers). */
export async function knownHoldersOf(
  store: Pick<AsyncStore, "listChanges" | "declaredConsumers">,
  accountId: string,
): Promise<KnownHolders> {
  const completed = (await store.listChanges({ accountId })).filter((c) => isCompleted(c.state));
  return knownHolders(completed, await store.declaredConsumers(accountId));
}

/** Whether a consumer is known: by its id, or by the secret it reads. */
export function isKnownHolder(known: KnownHolders, c: Pick<Consumer, "id" | "secret">): boolean {
  return (
    known.consumerIds.has(c.id) ||
    (!!c.secret && known.secrets.has(holderSecretKey(c.secret.vaultUrl, c.secret.name)))
  );
}

/** Where a holder's copy of the key came from, in words: when it was written and by whom. */
export function holderOrigin(c: Pick<Consumer, "firstSeen">): string {
  const at = c.firstSeen?.createdAt
    ? `created ${c.firstSeen.createdAt.replace("T", " ").slice(0, 16)} UTC`
    : "creation time not recorded";
  return `${at}, by ${c.firstSeen?.createdBy ?? "an unknown creator (Key Vault records it only in its AuditEvent logs)"}`;
}

/** How a change treats a holder, in words for the card and the evidence ("" for a known holder). */
export function holderMark(
  change: Pick<Change, "id" | "plan" | "includedConsumerIds">,
  c: Pick<Consumer, "id" | "name" | "known" | "firstSeen">,
): string {
  if (c.known !== false) return "";
  const origin = holderOrigin(c);
  if (!change.plan.excludedConsumerIds?.includes(c.id)) return `NEW (${origin}): receives the new key`;
  if (change.includedConsumerIds?.includes(c.id))
    return `NEW (${origin}): included by an approver, receives the new key`;
  return `NEW (${origin}): EXCLUDED, receives nothing (an approver can include it: include ${change.id} ${c.id})`;
}
