/** A change's request event as the service records it: what `audit verify` rebuilds the change from. */
import type { Change } from "../../src/core/domain.js";
import type { NewEvent } from "../../src/core/ports.js";

export function requestedEvent(c: Change, at = c.createdAt): NewEvent {
  return {
    changeId: c.id,
    type: "change_requested",
    at,
    actor: c.requester.id,
    payload: {
      requester: c.requester,
      account: { id: c.accountId, kind: c.accountKind },
      accountName: c.accountName,
      sandbox: c.sandbox,
      reason: c.reason,
      exposure: c.exposure,
      leakedSlot: c.leakedSlot,
      killNow: c.killNow,
      breakGlass: c.breakGlass,
      policy: c.policy,
      plan: c.plan,
      inventory: c.inventory,
    },
  };
}
