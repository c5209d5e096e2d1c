/**
 * A declared consumer's secret is checked when it is declared, not after approval: a vault keyturn
 * is not configured for would stop the rotation at its publish step. Returns a note for the reply,
 * or refuses with the fix.
 */
import { isKeyturnError, KeyturnError } from "../core/errors.js";
import type { SecretsPort } from "../core/ports.js";

export async function checkDeclaredSecret(
  secrets: Pick<SecretsPort, "listVersions">,
  secret: { readonly vaultUrl: string; readonly name: string },
  consumer: string,
  sandbox: boolean,
): Promise<string> {
  try {
    await secrets.listVersions(secret);
    return "";
  } catch (e) {
    if (!isKeyturnError(e)) throw e;
    if (e.code === "config_invalid")
      throw new KeyturnError(
        "config_invalid",
        `Not declared: ${secret.vaultUrl} is not a Key Vault keyturn is configured for, so a rotation could not publish to ${secret.name} and would stop after approval. ` +
          (sandbox
            ? "In the sandbox, use a vault of the simulated tenant (`inventory <account>` shows their secret URLs)."
            : `Add ${secret.vaultUrl} to AZURE_KEY_VAULT_URLS, give keyturn's identity the Key Vault Secrets Officer role on it, restart keyturn, then declare ${consumer} again.`),
      );
    if (e.code === "azure_permission")
      throw new KeyturnError(
        "azure_permission",
        `Not declared: keyturn may not read ${secret.name} in ${secret.vaultUrl}, so a rotation could not publish to it. ${e.userMessage} Then declare ${consumer} again.`,
      );
    if (e.code === "azure_not_found")
      return ` Note: ${secret.name} does not exist yet in ${secret.vaultUrl}; the rotation creates it.`;
    return ` Note: ${secret.name} could not be checked now (${e.userMessage}); the rotation checks it again.`;
  }
}
