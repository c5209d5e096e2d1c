import type { Change, Consumer } from "../../core/domain.js";
import { holderOrigin } from "../../core/known-holders.js";
import { countedApprovals } from "../../core/policy.js";
import type { StepExecutor } from "./context.js";
import { planConsumers, planSecrets, secretKey } from "./context.js";

/**
 * Publishes the new key as a new version of every Key Vault secret the plan's consumers read.
 * Idempotent: a secret whose current version already holds the new key is left alone.
 * Approved holders only: a NEW holder (found for the first time) receives nothing in an exposure
 * rotation unless an approver included it, and a break-glass change not yet approved publishes to
 * known holders only, whatever its plan says.
 */
export const publish: StepExecutor = {
  async act({ change, index, account, azure }) {
    const slot = change.plan.steps[index]?.slot;
    if (!slot) throw new Error(`${change.id}: step ${index + 1} has no slot`);
    const keys = await azure.accounts.listKeys(account.id);
    const value = keys[slot];
    const before: Record<string, string> = {};
    const after: Record<string, string> = {};
    const notes: string[] = excludedNotes(change);
    const withheld = withheldSecrets(change);
    const secrets = planSecrets(change).filter((s) => {
      const why = withheld.get(secretKey(s.vaultUrl, s.name));
      if (why) notes.push(`${s.name}: not published — ${why}`);
      return !why;
    });
    for (const s of secrets) {
      const k = secretKey(s.vaultUrl, s.name);
      const current = await azure.secrets.getSecret({ vaultUrl: s.vaultUrl, name: s.name });
      before[k] = `${current.info.locator.version} ${current.value.fingerprint}`;
      if (current.value.fingerprint === value.fingerprint) {
        after[k] = `${current.info.locator.version} ${value.fingerprint}`;
        notes.push(
          `${s.name}: version ${current.info.locator.version} already holds ${slot}; not published again`,
        );
        continue;
      }
      const published = await azure.secrets.publish({ vaultUrl: s.vaultUrl, name: s.name }, value, {
        "keyturn-account": account.id,
        "keyturn-slot": slot,
        "keyturn-change": change.id,
      });
      after[k] = `${published.locator.version} ${value.fingerprint}`;
    }
    return {
      before,
      after,
      validation: {
        query: `Key Vault: current version of ${secrets.map((s) => s.name).join(", ") || "(no secret)"}`,
        result: secrets.length
          ? `${secrets.length} secret(s) now hold ${slot} (${value.fingerprint})`
          : "no consumer reads the key from Key Vault: nothing to publish",
        passed: true,
      },
      notes,
    };
  },
};

/** What the card and evidence say about NEW holders this change does not deliver to. */
function excludedNotes(change: Change): string[] {
  const included = new Set(change.includedConsumerIds ?? []);
  return change.inventory.consumers
    .filter((c) => change.plan.excludedConsumerIds?.includes(c.id) && !included.has(c.id))
    .map(
      (c) =>
        `${c.name}: NEW holder, excluded — receives nothing${c.slot !== "unknown" ? ` and keeps ${c.slot}` : ""} (${holderOrigin(c)}); an approver can include it`,
    );
}

/**
 * Secrets only NEW holders read, in a break-glass change before its approval: nobody approved
 * delivering to them yet (the planner excludes them from exposure plans; this holds whatever the plan).
 */
function withheldSecrets(change: Change): Map<string, string> {
  const out = new Map<string, string>();
  if (!change.breakGlass || countedApprovals(change) >= change.policy.approvalsRequired) return out;
  const included = new Set(change.includedConsumerIds ?? []);
  const bySecret = new Map<string, Consumer[]>();
  for (const c of planConsumers(change)) {
    if (!c.secret) continue;
    const k = secretKey(c.secret.vaultUrl, c.secret.name);
    bySecret.set(k, [...(bySecret.get(k) ?? []), c]);
  }
  for (const [k, readers] of bySecret)
    if (readers.every((c) => c.known === false && !included.has(c.id)))
      out.set(k, "NEW holder: break-glass publishes to known holders only until the change is approved");
  return out;
}

/** The version `publish` made (or found) for a secret: what consumers must move to. */
export function publishedVersion(
  after: Readonly<Record<string, string>> | undefined,
  key: string,
): { version: string; fingerprint: string } | undefined {
  const v = after?.[key];
  if (!v) return undefined;
  const [version, fingerprint] = v.split(" ");
  return version && fingerprint ? { version, fingerprint } : undefined;
}
