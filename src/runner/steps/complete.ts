import { rotatesBothKeys } from "../../core/rotation-record.js";
import { waiversOf } from "../../core/workflow.js";
import type { StepExecutor } from "./context.js";

/**
 * Records where the rotation ended: the active slot, the waived consumers left on the dead key, and
 * the next due date — only when both keys are now fresh (an exposure change that regenerated one
 * key leaves the due date where the last full rotation put it).
 */
export const complete: StepExecutor = {
  async act({ change, account, azure, clock }) {
    const keys = await azure.accounts.listKeys(account.id);
    const active =
      change.plan.variant === "exposure-standby" || change.plan.variant === "exposure-active-kill-now"
        ? change.plan.activeSlot
        : change.plan.standbySlot;
    const full = rotatesBothKeys(change);
    const nextDue = full
      ? new Date(clock.now().getTime() + change.policy.cadenceDays * 86_400_000).toISOString()
      : null;
    const waived = waiversOf(change).map((w) => w.consumerName);
    const after: Record<string, string> = {
      activeSlot: active,
      key1: keys.key1.fingerprint,
      key2: keys.key2.fingerprint,
      nextDue: nextDue ?? "unchanged (one key regenerated: not a full rotation)",
    };
    if (waived.length) after.waivedOnDeadKey = waived.join(", ");
    return {
      after,
      validation: {
        query: `listKeys ${account.name}`,
        result: `active slot ${active}${waived.length ? ` (waived ${waived.join(", ")} still on the dead ${change.plan.activeSlot})` : ""}; ${nextDue ? `next rotation due ${nextDue.slice(0, 10)}` : "next due date unchanged: only one key was regenerated"}`,
        passed: true,
      },
    };
  },
};
