/**
 * The account owner for an evidence pack exported offline (`keyturn evidence`, no Azure call): the
 * policy's owner for where the account is. The account's owner tag, which takes precedence in chat,
 * is not read here, and the pack says so.
 */
import type { Account, Change } from "./core/domain.js";
import type { PolicyBook } from "./core/policy.js";
import type { OwnerInfo } from "./core/evidence.js";

export function offlineOwner(policy: Pick<PolicyBook, "ownerFor">, change: Change): OwnerInfo | null {
  const m = /\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\//i.exec(change.accountId);
  const account: Account = {
    id: change.accountId,
    subscriptionId: m?.[1] ?? "",
    resourceGroup: m?.[2] ?? "",
    name: change.accountName,
    kind: change.accountKind,
    location: "",
    endpoint: "",
    disableLocalAuth: false,
    provisioningState: "",
    tags: {},
  };
  const o = policy.ownerFor(account);
  return o
    ? { owner: o.owner, source: "policy (offline export: the account's owner tag was not read)" }
    : null;
}
