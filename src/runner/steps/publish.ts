import type { StepExecutor } from "./context.js";
import { planSecrets, secretKey } from "./context.js";

/**
 * Publishes the new key as a new version of every Key Vault secret the plan's consumers read.
 * Idempotent: a secret whose current version already holds the new key is left alone.
 */
export const publish: StepExecutor = {
  async act({ change, index, account, azure }) {
    const slot = change.plan.steps[index]?.slot;
    if (!slot) throw new Error(`${change.id}: step ${index + 1} has no slot`);
    const keys = await azure.accounts.listKeys(account.id);
    const value = keys[slot];
    const before: Record<string, string> = {};
    const after: Record<string, string> = {};
    const notes: string[] = [];
    const secrets = planSecrets(change);
    for (const s of secrets) {
      const k = secretKey(s.vaultUrl, s.name);
      const current = await azure.secrets.getSecret({ vaultUrl: s.vaultUrl, name: s.name });
      before[k] = `${current.info.locator.version} ${current.value.fingerprint}`;
      if (current.value.fingerprint === value.fingerprint) {
        after[k] = `${current.info.locator.version} ${value.fingerprint}`;
        notes.push(
          `${s.name}: version ${current.info.locator.version} already holds ${slot}; not published again`,
        );
        continue;
      }
      const published = await azure.secrets.publish({ vaultUrl: s.vaultUrl, name: s.name }, value, {
        "keyturn-account": account.id,
        "keyturn-slot": slot,
        "keyturn-change": change.id,
      });
      after[k] = `${published.locator.version} ${value.fingerprint}`;
    }
    return {
      before,
      after,
      validation: {
        query: `Key Vault: current version of ${secrets.map((s) => s.name).join(", ") || "(no secret)"}`,
        result: secrets.length
          ? `${secrets.length} secret(s) now hold ${slot} (${value.fingerprint})`
          : "no consumer reads the key from Key Vault: nothing to publish",
        passed: true,
      },
      notes,
    };
  },
};

/** The version `publish` made (or found) for a secret: what consumers must move to. */
export function publishedVersion(
  after: Readonly<Record<string, string>> | undefined,
  key: string,
): { version: string; fingerprint: string } | undefined {
  const v = after?.[key];
  if (!v) return undefined;
  const [version, fingerprint] = v.split(" ");
  return version && fingerprint ? { version, fingerprint } : undefined;
}
