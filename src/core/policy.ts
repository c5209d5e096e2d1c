/** Policy: who approves what, how many, how fast. (Skeleton: the signatures every part builds against.) */
import type { Account, Change, Principal, PolicySnapshot } from "./domain.js";

export interface PolicyBook {
  /** The policy that applies to an account; exposure changes get the short windows. */
  snapshotFor(account: Account, opts: { exposure: boolean }): PolicySnapshot;
  /** Owner from the account's `owner` tag, else from the matching policy. */
  ownerFor(account: Account): { owner: string; source: "tag" | "policy" } | null;
  /** Rotation cadence for an account (tag `rotation-cadence-days`, policy, default 90). */
  cadenceDays(account: Account): number;
  /** Platform group ids named anywhere in the policy (e.g. Slack user groups `slackgroup:S…`), for adapters to resolve. */
  platformGroups(): string[];
}

export function isApprover(_snapshot: PolicySnapshot, _principal: Principal): boolean {
  throw new Error("not built yet");
}

export function isBreakGlassResponder(_snapshot: PolicySnapshot, _principal: Principal): boolean {
  throw new Error("not built yet");
}

/** Approvals that count: by an approver, not the requester, for the current plan hash. */
export function countedApprovals(_change: Change): number {
  throw new Error("not built yet");
}
