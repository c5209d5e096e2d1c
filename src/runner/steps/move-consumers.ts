import { isKeyturnError } from "../../core/errors.js";
import type { StepExecutor } from "./context.js";
import { planConsumers } from "./context.js";
import { isLeaseLost } from "../runner-lease.js";

/**
 * Moves consumers to the new secret version: forces a refresh where Azure allows it (App Service
 * Key Vault references), tells the owners of the rest, then the propagation window runs.
 */
export const moveConsumers: StepExecutor = {
  async act({ change, azure, notifyOwner }) {
    const notes: string[] = [];
    const after: Record<string, string> = {};
    for (const c of planConsumers(change)) {
      if (change.waivedConsumerIds.includes(c.id)) {
        after[c.id] = "waived";
        continue;
      }
      switch (c.reload) {
        case "refreshable": {
          try {
            const refreshed = await azure.consumers.refresh(c);
            after[c.id] = refreshed ? "refresh requested" : "cannot be refreshed: re-reads by itself";
          } catch (e) {
            // refused by fencing: this process is no longer the runner, it goes no further
            if (isLeaseLost(e)) throw e;
            after[c.id] = `refresh failed: ${isKeyturnError(e) ? e.userMessage : "error"}`;
            notes.push(`${c.name}: refresh failed; it will re-read the secret within its own window`);
          }
          break;
        }
        case "versionless":
          after[c.id] = "re-reads the latest version by itself";
          break;
        case "pinned":
          after[c.id] = "pinned to a version: must be re-pinned (or waived) before the cutover check";
          if (c.owner)
            await notifyOwner(
              c.owner,
              `${change.id}: ${c.name} pins a secret version; re-pin it to the new version so ${change.accountName} can be rotated.`,
            );
          break;
        default: {
          const told = c.owner
            ? await notifyOwner(
                c.owner,
                `${change.id}: update ${c.name} to the new ${change.accountName} key (published in Key Vault); the old key will be regenerated after the cutover check.`,
              )
            : false;
          after[c.id] = told ? `owner ${c.owner} notified` : "manual: no owner to notify";
        }
      }
    }
    const wait = change.plan.steps.find((s) => s.kind === "move_consumers")?.waitSeconds ?? 0;
    return {
      after,
      validation: {
        query: "refresh App Service Key Vault references; notify owners",
        result: `${Object.keys(after).length} consumer(s) handled; propagation window ${wait} s`,
        passed: true,
      },
      notes,
    };
  },
  async check() {
    return { validation: { query: "propagation window elapsed", result: "window over", passed: true } };
  },
};
