/**
 * The questions teams ask: owner, status (active slot, where the key is stored, last rotation and by
 * whom, next due date, local auth, consumers), the account list with overdue keys, history.
 * The last rotation and the due date come from keyturn's record through one function
 * (`lastRotationOf`) for every answer; what Azure shows beyond it is reported, never counted.
 */
import type {
  Account,
  AccountStatus,
  Change,
  Inventory,
  LastRotation,
  SecretLocator,
} from "../core/domain.js";
import { isOpen } from "../core/domain.js";
import type { PolicyBook } from "../core/policy.js";
import type { AzurePorts, Clock, AsyncStore } from "../core/ports.js";
import { lastRotationOf, nextDueOf } from "../core/rotation-record.js";

const DAY = 86_400_000;
const REGENERATE = "Microsoft.CognitiveServices/accounts/regenerateKey/action";

export class Queries {
  constructor(
    private readonly store: AsyncStore,
    private readonly azure: AzurePorts,
    private readonly policy: PolicyBook,
    private readonly clock: Clock,
  ) {}

  /** Full status: takes the inventory and looks back through the Activity Log and Key Vault. */
  async status(account: Account): Promise<{ status: AccountStatus; inventory: Inventory }> {
    const last = await this.#keyturnRotation(account);
    // both read the account's Activity Log: asked together, they share one read
    const [inventory, outside] = await Promise.all([
      this.azure.inventory.take(account),
      this.#regeneratedSince(account, last),
    ]);
    const status = await this.#status(account, last, inventory);
    return { status: outside ? { ...status, regeneratedOutside: outside } : status, inventory };
  }

  /** Cheap status for lists: keyturn's own record only (no Azure call per account). */
  async brief(account: Account): Promise<AccountStatus> {
    return this.#status(account, await this.#keyturnRotation(account), null);
  }

  async #status(
    account: Account,
    last: LastRotation | null,
    inventory: Inventory | null,
  ): Promise<AccountStatus> {
    const owner = this.policy.ownerFor(account);
    const cadenceDays = this.policy.cadenceDays(account);
    const nextDue = nextDueOf(last, cadenceDays);
    const now = this.clock.now().getTime();
    const keyFree = account.disableLocalAuth;
    const open = (await this.changes(account.id, { open: true }))[0];
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

  /** The last rotation that really completed, by keyturn's record: the same for status, list and reminders. */
  async #keyturnRotation(account: Account): Promise<LastRotation | null> {
    return lastRotationOf(await this.changes(account.id));
  }

  /**
   * An account's changes as their events say (the events are the record; the changes table is a cache
   * `audit verify` checks): a row whose events cannot be replayed is shown as the row says, and verify names it.
   */
  async changes(accountId: string, opts: { open?: boolean; limit?: number } = {}): Promise<Change[]> {
    const rows = await this.store.listChanges({ accountId, ...opts });
    const replayed = await Promise.all(
      rows.map(async (row) => {
        const r = await this.store.changeFromEvents(row.id);
        return r?.ok ? r.change : row;
      }),
    );
    return replayed.filter((c) => !opts.open || isOpen(c.state));
  }

  /**
   * A key regeneration the Activity Log (90 days) shows after the last completed rotation: someone
   * regenerated a key outside keyturn, or a change stopped after regenerating one. One regeneration
   * is not a rotation (Azure does not say which key, nor whether consumers moved): reported only.
   */
  async #regeneratedSince(
    account: Account,
    last: LastRotation | null,
  ): Promise<{ at: string; by: string } | null> {
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
      // keyturn's own regenerations end a few seconds before the change completes
      if (!newest || (last && Date.parse(newest.at) <= Date.parse(last.at))) return null;
      return { at: newest.at, by: newest.caller };
    } catch {
      return null; // the Activity Log is optional evidence
    }
  }
}

function uniqueSecrets(list: SecretLocator[]): SecretLocator[] {
  const seen = new Map<string, SecretLocator>();
  for (const s of list) seen.set(`${s.vaultUrl}/${s.name}`, { vaultUrl: s.vaultUrl, name: s.name });
  return [...seen.values()];
}
