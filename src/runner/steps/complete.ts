import type { StepExecutor } from "./context.js";

/** Records where the rotation ended: the active slot and the next due date. */
export const complete: StepExecutor = {
  async act({ change, account, azure, clock }) {
    const keys = await azure.accounts.listKeys(account.id);
    const active =
      change.plan.variant === "exposure-standby" || change.plan.variant === "exposure-active-kill-now"
        ? change.plan.activeSlot
        : change.plan.standbySlot;
    const nextDue = new Date(clock.now().getTime() + change.policy.cadenceDays * 86_400_000).toISOString();
    return {
      after: { activeSlot: active, key1: keys.key1.fingerprint, key2: keys.key2.fingerprint, nextDue },
      validation: {
        query: `listKeys ${account.name}`,
        result: `active slot ${active}; next rotation due ${nextDue.slice(0, 10)}`,
        passed: true,
      },
    };
  },
};
