import type { StepEvidence } from "../../core/domain.js";
import { isKeyturnError } from "../../core/errors.js";
import type { StepContext } from "./context.js";
import { planConsumers, stepOf } from "./context.js";
import { publishedVersion } from "./publish.js";
import { isDisableLocalAuth } from "../../core/domain.js";
import { enableLocalAuth } from "./key-free.js";
import { isLeaseLost } from "../runner-lease.js";

/**
 * Points consumers back at the key they used before: each secret the change published gets a new
 * version holding the previous value (read from the previous version, never stored), and refreshable
 * consumers are refreshed. Only possible before the point of no return: the old key still works.
 */
export async function rollbackSecrets(ctx: StepContext): Promise<StepEvidence> {
  // a disable-local-auth change changed no secret: its rollback turns keys back on
  if (isDisableLocalAuth(ctx.change)) return enableLocalAuth(ctx);
  const { change, azure, clock } = ctx;
  const startedAt = clock.now().toISOString();
  const published = stepOf(change, "publish");
  const before: Record<string, string> = {};
  const after: Record<string, string> = {};
  const notes: string[] = [];
  for (const [key, value] of Object.entries(published?.before ?? {})) {
    const prev = publishedVersion({ [key]: value }, key);
    const now = publishedVersion(published?.after, key);
    if (!prev || !now || prev.version === now.version) continue;
    const [vaultUrl, name] = splitSecretKey(key);
    const current = await azure.secrets.getSecret({ vaultUrl, name });
    before[key] = `${current.info.locator.version} ${current.value.fingerprint}`;
    if (current.value.fingerprint === prev.fingerprint) {
      after[key] = before[key];
      continue;
    }
    const old = await azure.secrets.getSecret({ vaultUrl, name, version: prev.version });
    const v = await azure.secrets.publish({ vaultUrl, name }, old.value, {
      "keyturn-change": change.id,
      "keyturn-rollback": "true",
    });
    after[key] = `${v.locator.version} ${old.value.fingerprint}`;
  }
  for (const c of planConsumers(change)) {
    if (c.reload !== "refreshable") continue;
    try {
      await azure.consumers.refresh(c);
    } catch (e) {
      // refused by fencing: this process is no longer the runner, it goes no further
      if (isLeaseLost(e)) throw e;
      notes.push(
        `${c.name}: refresh failed (${isKeyturnError(e) ? e.userMessage : "error"}); it re-reads within its own window`,
      );
    }
  }
  const secretsTouched = Object.keys(after).length;
  return {
    index: change.plan.steps.length,
    kind: "publish",
    startedAt,
    finishedAt: clock.now().toISOString(),
    outcome: "succeeded",
    before,
    after,
    validation: {
      query: "Key Vault: publish the previous value as a new version; refresh App Service references",
      result: secretsTouched
        ? `${secretsTouched} secret(s) hold the previous key again`
        : "no secret had been changed: nothing to restore",
      passed: true,
    },
    rollback: "none: this is the rollback",
    actor: "keyturn",
    notes: [`Rollback of ${change.id}`, ...notes],
  };
}

function splitSecretKey(key: string): [string, string] {
  const body = key.replace(/^secret:/, "");
  const i = body.lastIndexOf("/");
  return [body.slice(0, i), body.slice(i + 1)];
}
