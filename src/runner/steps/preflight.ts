import { KeyturnError } from "../../core/errors.js";
import type { StepExecutor } from "./context.js";
import { callTotals, planConsumers, planSecrets, secretKey } from "./context.js";

const BASELINE_MINUTES = 15;

/** Reads the account and both fingerprints, confirms which key consumers use, records the traffic baseline. */
export const preflight: StepExecutor = {
  async act({ change, account, azure, clock }) {
    if (account.disableLocalAuth) {
      throw new KeyturnError(
        "key_free",
        `${account.name} has disableLocalAuth=true: there are no keys to rotate. Cancel ${change.id}.`,
      );
    }
    if (account.provisioningState !== "Succeeded") {
      throw new KeyturnError(
        "azure_conflict",
        `${account.name} is in provisioning state ${account.provisioningState}; rotate once it is Succeeded, then resume ${change.id}.`,
      );
    }
    const keys = await azure.accounts.listKeys(account.id);
    const after: Record<string, string> = { key1: keys.key1.fingerprint, key2: keys.key2.fingerprint };
    const notes: string[] = [];
    const active = change.plan.activeSlot;
    let mismatched = 0;
    // a secret the inventory already found holding neither key was planned that way: not a change
    const unreconciled = new Set(
      planConsumers(change)
        .filter((c) => c.secret && c.slot === "unknown" && c.source === "keyvault-tagged")
        .map((c) => secretKey(c.secret!.vaultUrl, c.secret!.name)),
    );
    for (const s of planSecrets(change)) {
      const { value, info } = await azure.secrets.getSecret({ vaultUrl: s.vaultUrl, name: s.name });
      after[secretKey(s.vaultUrl, s.name)] = `${info.locator.version} ${value.fingerprint}`;
      const slot =
        value.fingerprint === keys.key1.fingerprint
          ? "key1"
          : value.fingerprint === keys.key2.fingerprint
            ? "key2"
            : null;
      if (slot === null && unreconciled.has(secretKey(s.vaultUrl, s.name))) {
        notes.push(`${s.name} holds neither key, as when planned: it receives the new key at publish`);
      } else if (slot !== active) {
        mismatched++;
        notes.push(`${s.name} holds ${slot ?? "neither key"}, the plan expected ${active}`);
      }
    }
    const now = clock.now();
    const from = new Date(now.getTime() - BASELINE_MINUTES * 60_000);
    let baseline = "not available";
    try {
      const totals = await callTotals({ azure, account }, from, now);
      after.baselineCalls = String(totals.calls);
      after.baselineClientErrors = String(totals.clientErrors);
      baseline = `${after.baselineCalls} calls, ${after.baselineClientErrors} client errors in the last ${BASELINE_MINUTES} min`;
    } catch (e) {
      notes.push(`metrics baseline unavailable: ${e instanceof KeyturnError ? e.userMessage : "error"}`);
    }
    const passed = mismatched === 0;
    if (!passed && change.plan.variant !== "exposure-standby") {
      throw new KeyturnError(
        "plan_changed",
        `The keys or secrets changed since ${change.id} was planned (${notes.join("; ")}). Cancel it and request the rotation again so the plan matches Azure.`,
      );
    }
    return {
      after,
      validation: {
        query: `listKeys ${account.name}; Key Vault secrets ${
          planSecrets(change)
            .map((s) => s.name)
            .join(", ") || "(none)"
        }; metrics TotalCalls, ClientErrors ${BASELINE_MINUTES} min`,
        result: `key1 ${keys.key1.fingerprint}, key2 ${keys.key2.fingerprint}; consumers read ${active}; baseline ${baseline}`,
        passed: true,
      },
      notes,
    };
  },
};
