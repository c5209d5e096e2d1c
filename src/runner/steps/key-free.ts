/**
 * The steps of a `disable-local-auth` change and its rollback. Turning keys off is an ARM PATCH of
 * `properties.disableLocalAuth`; the proof is a data-plane call with a key that the service turns
 * away (403 `AuthenticationTypeDisabled` on Azure OpenAI / AI Services). After the PATCH `listKeys`
 * is refused too, so the key for the proof is read just before and held in memory only, until the
 * proof step drops it.
 */
import type { Account, Finding, StepEvidence } from "../../core/domain.js";
import { KeyturnError } from "../../core/errors.js";
import { assertNoKeyHolder, trafficText } from "../../core/key-free-plan.js";
import type { KeyAuthTraffic } from "../../core/domain.js";
import type { SecretValue } from "../../core/secret.js";
import { probeWithBackoff } from "./probe-backoff.js";
import type { StepContext, StepExecutor, StepResult } from "./context.js";
import { GateFailed } from "./verify-cutover.js";

const TRAFFIC_HOURS = 24;

/** Keys held between the PATCH and the proof (one per change, in this process only). */
const held = new Map<string, SecretValue>();

/** The port's write, or a clear error where the Azure side cannot set it. */
async function setLocalAuth(ctx: StepContext, disabled: boolean): Promise<Account> {
  const set = ctx.azure.accounts.setLocalAuth?.bind(ctx.azure.accounts);
  if (!set)
    throw new KeyturnError(
      "config_invalid",
      "This keyturn's Azure connection cannot update accounts (no setLocalAuth): upgrade keyturn, then resume.",
    );
  await ctx.fence();
  return set(ctx.account.id, disabled);
}

export async function readTraffic(
  ctx: Pick<StepContext, "azure" | "account" | "clock">,
): Promise<KeyAuthTraffic | null> {
  const read = ctx.azure.telemetry.keyAuthTraffic?.bind(ctx.azure.telemetry);
  if (!read) return null;
  const to = ctx.clock.now();
  try {
    return await read(ctx.account, { from: new Date(to.getTime() - TRAFFIC_HOURS * 3_600_000), to });
  } catch (e) {
    return {
      known: false,
      why: `the logs could not be read (${e instanceof KeyturnError ? e.userMessage : "error"})`,
    };
  }
}

export const keyFreePreflight: StepExecutor = {
  async act(ctx) {
    const { account, azure, change } = ctx;
    if (account.disableLocalAuth)
      throw new KeyturnError(
        "key_free",
        `${account.name} already has disableLocalAuth=true: keys are off. Cancel ${change.id}.`,
      );
    // the plan was re-checked on approval; a holder that appeared since still stops the change here
    try {
      assertNoKeyHolder(account, await azure.inventory.take(account));
    } catch (e) {
      if (e instanceof KeyturnError && e.code === "key_holders_remain")
        throw new KeyturnError(
          "key_holders_remain",
          `${e.userMessage.replace(/\s*Once none remains[\s\S]*$/, "")}\nThen resume ${change.id}, or cancel it.`,
        );
      throw e;
    }
    const keys = await azure.accounts.listKeys(account.id);
    const traffic = await readTraffic(ctx);
    const after: Record<string, string> = {
      disableLocalAuth: "false",
      key1: keys.key1.fingerprint,
      key2: keys.key2.fingerprint,
      keyHolders: "0",
    };
    if (traffic?.known) {
      after.keyCalls = String(traffic.keyCalls);
      after.tokenCalls = String(traffic.tokenCalls);
      if (traffic.lastKeyCall) after.lastKeyCall = traffic.lastKeyCall;
    }
    return {
      after,
      validation: {
        query: `GET ${account.name}; inventory of key holders; listKeys; key-authenticated traffic ${TRAFFIC_HOURS} h`,
        result: `no key holder remains; key1 ${keys.key1.fingerprint}, key2 ${keys.key2.fingerprint}; ${trafficText(traffic)}`,
        passed: true,
      },
    };
  },
};

export const disableLocalAuthStep: StepExecutor = {
  async act(ctx) {
    const { account, azure, change } = ctx;
    if (!account.disableLocalAuth) {
      const keys = await azure.accounts.listKeys(account.id);
      held.set(change.id, keys[change.plan.activeSlot]);
      await ctx.recordIntent("disable_local_auth", { account: account.id, disableLocalAuth: "true" });
    }
    const now = account.disableLocalAuth ? account : await setLocalAuth(ctx, true);
    if (!now.disableLocalAuth) {
      held.delete(change.id);
      throw new KeyturnError(
        "azure_internal",
        `ARM accepted the update of ${account.name} but still reads disableLocalAuth=false. Check the account (an Azure Policy may deny the change), then resume ${change.id}.`,
      );
    }
    return {
      before: { disableLocalAuth: account.disableLocalAuth ? "true" : "false" },
      after: { disableLocalAuth: "true" },
      validation: {
        query: `PATCH ${account.name} properties.disableLocalAuth=true; GET ${account.name}`,
        result: account.disableLocalAuth
          ? "disableLocalAuth was already true (set before a restart): not sent again"
          : "ARM reads disableLocalAuth=true",
        passed: true,
      },
    };
  },
};

export const proveKeysRefused: StepExecutor = {
  async act(ctx) {
    const { account, change } = ctx;
    const key = held.get(change.id);
    held.delete(change.id);
    if (!key) {
      const finding: Finding = {
        stepIndex: ctx.index,
        kind: "prove_keys_refused",
        what: `The key held for the proof was lost (keyturn restarted between the steps): keys being refused is not proven on ${account.name}'s data plane.`,
        next: `Call ${account.name}'s endpoint with a key copy you hold: a 403 (AuthenticationTypeDisabled) proves keys are off. ARM reads disableLocalAuth=${String(account.disableLocalAuth)}.`,
      };
      return {
        validation: {
          query: "data-plane call with a key",
          result: "not made: no key held after a restart",
          passed: false,
        },
        findings: [finding],
      };
    }
    const r = await probeUntil(ctx, key, "refused");
    if (r.outcome === "unreachable") {
      return {
        validation: { query: r.query, result: r.result, passed: false },
        findings: [
          {
            stepIndex: ctx.index,
            kind: "prove_keys_refused",
            what: `keyturn could not make a keyed data-plane call to ${account.name} (${r.result}).`,
            next: `Call ${account.name}'s endpoint with a key: a 403 proves keys are off. ARM reads disableLocalAuth=true.`,
          },
        ],
      };
    }
    if (r.outcome !== "matched")
      throw new GateFailed(
        `A key of ${account.name} still works ${r.waited} s after disableLocalAuth=true (Azure: "allow a few minutes"). Resume ${change.id} to check again, or roll it back.`,
        { validation: { query: r.query, result: r.result, passed: false } },
      );
    return { validation: { query: r.query, result: r.result, passed: true } };
  },
};

export const keyFreeComplete: StepExecutor = {
  async act(ctx) {
    const a = await ctx.azure.accounts.getAccount(ctx.account.id);
    if (!a.disableLocalAuth)
      throw new KeyturnError(
        "azure_conflict",
        `${a.name} reads disableLocalAuth=false again: someone turned keys back on. Check the Activity Log (Microsoft.CognitiveServices/accounts/write), then resume or roll back ${ctx.change.id}.`,
      );
    return {
      after: { disableLocalAuth: "true", keyFree: "true" },
      validation: {
        query: `GET ${a.name}`,
        result: `disableLocalAuth=true: ${a.name} is key-free (Microsoft Entra ID only); nothing left to rotate`,
        passed: true,
      },
    };
  },
};

/** The rollback of a disable-local-auth change: keys on again, and proven to work. */
export async function enableLocalAuth(ctx: StepContext): Promise<StepEvidence> {
  const { change, account, azure, clock } = ctx;
  const startedAt = clock.now().toISOString();
  held.delete(change.id);
  await ctx.recordIntent("enable_local_auth", { account: account.id, disableLocalAuth: "false" });
  const now = account.disableLocalAuth ? await setLocalAuth(ctx, false) : account;
  if (now.disableLocalAuth)
    throw new KeyturnError(
      "azure_internal",
      `ARM accepted the update of ${account.name} but still reads disableLocalAuth=true. Check the account (an Azure Policy may enforce it), then try rollback again.`,
    );
  const keys = await azure.accounts.listKeys(account.id);
  const r = await probeUntil(ctx, keys[change.plan.activeSlot], "accepted");
  const notes = [`Rollback of ${change.id}`];
  if (r.outcome !== "matched")
    notes.push(
      `Keys not yet proven to work: ${r.result}. Call the endpoint with a key again in a few minutes.`,
    );
  return {
    index: change.plan.steps.length,
    kind: "enable_local_auth",
    startedAt,
    finishedAt: clock.now().toISOString(),
    outcome: "succeeded",
    before: { disableLocalAuth: account.disableLocalAuth ? "true" : "false" },
    after: { disableLocalAuth: "false", key1: keys.key1.fingerprint, key2: keys.key2.fingerprint },
    validation: {
      query: `PATCH ${account.name} properties.disableLocalAuth=false; listKeys; ${r.query}`,
      result: `ARM reads disableLocalAuth=false; ${r.result}`,
      passed: r.outcome === "matched",
    },
    rollback: "none: this is the rollback",
    actor: "keyturn",
    notes,
  };
}

export const enableLocalAuthStep: StepExecutor = {
  async act(ctx): Promise<StepResult> {
    const e = await enableLocalAuth(ctx);
    return {
      ...(e.after ? { after: { ...e.after } } : {}),
      ...(e.validation ? { validation: e.validation } : {}),
    };
  },
};

/**
 * Calls the data plane with a key until it is refused (401/403) or accepted (2xx), with backoff up
 * to the proof's bound: disabling or enabling local auth "doesn't take effect immediately".
 */
async function probeUntil(
  ctx: StepContext,
  key: SecretValue,
  want: "refused" | "accepted",
): Promise<{
  outcome: "matched" | "timeout" | "unreachable";
  query: string;
  result: string;
  waited: number;
}> {
  const { account } = ctx;
  const query = `data-plane call to ${account.endpoint} with ${ctx.change.plan.activeSlot}`;
  const r = await probeWithBackoff(ctx, account, key, (status) =>
    want === "refused" ? status === 401 || status === 403 : status >= 200 && status < 300,
  );
  const { waited } = r;
  switch (r.kind) {
    case "unreachable":
      return { outcome: "unreachable", query, result: r.reason, waited };
    case "matched": {
      const after = r.attempts > 1 ? ` after ${r.attempts} calls, ${waited} s` : "";
      const how = want === "refused" ? "refused" : "works again";
      return { outcome: "matched", query, result: `key → ${r.status} (${how})${after}`, waited };
    }
    case "timeout":
      return {
        outcome: "timeout",
        query,
        result: `key → ${r.last} still after ${waited} s (the bound is ${Math.round(r.boundMs / 1000)} s)`,
        waited,
      };
  }
}
