/**
 * The questions teams ask: owner, status (active slot, where the key is stored, last rotation and by
 * whom, next due date, local auth, consumers), the account list with overdue keys, history.
 */
import type { Account, AccountStatus, Inventory, LastRotation, SecretLocator } from "../core/domain.js";
import { isOpen } from "../core/domain.js";
import type { PolicyBook } from "../core/policy.js";
import type { AzurePorts, Clock, Store } from "../core/ports.js";

const DAY = 86_400_000;
const REGENERATE = "Microsoft.CognitiveServices/accounts/regenerateKey/action";

export class Queries {
  constructor(
    private readonly store: Store,
    private readonly azure: AzurePorts,
    private readonly policy: PolicyBook,
    private readonly clock: Clock,
  ) {}

  /** Full status: takes the inventory and looks back through the Activity Log and Key Vault. */
  async status(account: Account): Promise<{ status: AccountStatus; inventory: Inventory }> {
    const inventory = await this.azure.inventory.take(account);
    const last = this.#keyturnRotation(account) ?? (await this.#azureRotation(account, inventory));
    return { status: this.#status(account, last, inventory), inventory };
  }

  /** Cheap status for lists: keyturn's own record only (no Azure call per account). */
  brief(account: Account): AccountStatus {
    return this.#status(account, this.#keyturnRotation(account), null);
  }

  #status(account: Account, last: LastRotation | null, inventory: Inventory | null): AccountStatus {
    const owner = this.policy.ownerFor(account);
    const cadenceDays = this.policy.cadenceDays(account);
    const nextDue = last ? new Date(Date.parse(last.at) + cadenceDays * DAY).toISOString() : null;
    const now = this.clock.now().getTime();
    const keyFree = account.disableLocalAuth;
    const open = this.store.listChanges({ accountId: account.id, open: true })[0];
    const consumers = inventory?.consumers ?? [];
    const storedIn = uniqueSecrets(consumers.map((c) => c.secret).filter((s): s is SecretLocator => !!s));
    return {
      account,
      owner: owner?.owner ?? null,
      ownerSource: owner?.source ?? null,
      environment: account.tags.environment ?? null,
      activeSlot: inventory?.activeSlot ?? null,
      storedIn,
      lastRotation: last,
      nextDue,
      overdue: !keyFree && (nextDue === null || Date.parse(nextDue) < now),
      cadenceDays,
      localAuthAllowed: !keyFree,
      consumers,
      openChangeId: open && isOpen(open.state) ? open.id : null,
      couldDisableLocalAuth:
        !keyFree &&
        inventory !== null &&
        consumers.filter((c) => c.source !== "listkeys-caller").length === 0 &&
        inventory.services.every((s) => s.calls === 0),
    };
  }

  #keyturnRotation(account: Account): LastRotation | null {
    const r = this.store.lastRotation(account.id);
    return r ? { at: r.completedAt, by: r.by.displayName, source: "keyturn", changeId: r.changeId } : null;
  }

  /** No keyturn record: the Activity Log (90 days), else the newest version date of a secret holding the key. */
  async #azureRotation(account: Account, inventory: Inventory): Promise<LastRotation | null> {
    const to = this.clock.now();
    try {
      const events = await this.azure.telemetry.activityLog(account.id, {
        from: new Date(to.getTime() - 90 * DAY),
        to,
        operations: [REGENERATE],
      });
      const newest = events
        .filter((e) => e.operation.toLowerCase() === REGENERATE.toLowerCase() && /succe/i.test(e.status))
        .sort((a, b) => b.at.localeCompare(a.at))[0];
      if (newest) return { at: newest.at, by: newest.caller, source: "activity-log" };
    } catch {
      // the Activity Log is optional evidence; fall through to Key Vault
    }
    let newestVersion: string | null = null;
    for (const c of inventory.consumers) {
      if (!c.secret) continue;
      try {
        const { info } = await this.azure.secrets.getSecret({
          vaultUrl: c.secret.vaultUrl,
          name: c.secret.name,
        });
        if (info.createdOn && (!newestVersion || info.createdOn > newestVersion))
          newestVersion = info.createdOn;
      } catch {
        // unreadable secret: listed by the inventory already
      }
    }
    return newestVersion
      ? { at: newestVersion, by: "unknown (Key Vault secret version date)", source: "secret-version" }
      : null;
  }
}

function uniqueSecrets(list: SecretLocator[]): SecretLocator[] {
  const seen = new Map<string, SecretLocator>();
  for (const s of list) seen.set(`${s.vaultUrl}/${s.name}`, { vaultUrl: s.vaultUrl, name: s.name });
  return [...seen.values()];
}
