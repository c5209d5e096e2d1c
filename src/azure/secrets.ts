/** Key Vault secrets on @azure/keyvault-secrets: one SecretClient per configured vault. */
import type { TokenCredential } from "@azure/core-auth";
import { SecretClient, type SecretProperties } from "@azure/keyvault-secrets";
import type { SecretLocator } from "../core/domain.js";
import { KeyturnError } from "../core/errors.js";
import type { Logger, SecretsPort, SecretVersionInfo } from "../core/ports.js";
import { SecretValue } from "../core/secret.js";
import { classifyAzureError } from "./errors.js";
import { azureCallMetrics, requestTimeout } from "./pipeline.js";

const norm = (u: string) => u.replace(/\/+$/, "");

export class VaultSecrets implements SecretsPort {
  readonly #clients = new Map<string, SecretClient>();

  constructor(
    vaultUrls: readonly string[],
    credential: TokenCredential,
    opts: {
      caPem?: string | undefined;
      disableChallengeResourceVerification?: boolean | undefined;
      requestTimeoutMs?: number | undefined;
    },
    private readonly logger: Logger,
  ) {
    for (const url of vaultUrls) {
      this.#clients.set(
        norm(url),
        new SecretClient(norm(url), credential, {
          ...(opts.disableChallengeResourceVerification
            ? { disableChallengeResourceVerification: true }
            : {}),
          ...(opts.caPem ? { tlsOptions: { ca: opts.caPem } } : {}),
          additionalPolicies: [
            { policy: requestTimeout(opts.requestTimeoutMs ?? 30_000), position: "perRetry" as const },
            { policy: azureCallMetrics(), position: "perRetry" as const },
          ],
        }),
      );
    }
  }

  vaults(): string[] {
    return [...this.#clients.keys()];
  }

  #client(vaultUrl: string): SecretClient {
    const c = this.#clients.get(norm(vaultUrl));
    if (!c)
      throw new KeyturnError(
        "config_invalid",
        `Key Vault ${vaultUrl} is not configured: add it to AZURE_KEY_VAULT_URLS.`,
      );
    return c;
  }

  async listSecrets(): Promise<SecretVersionInfo[]> {
    const out: SecretVersionInfo[] = [];
    for (const [url, client] of this.#clients) {
      await this.#call("list secrets", url, async () => {
        for await (const p of client.listPropertiesOfSecrets()) out.push(info(url, p));
      });
    }
    return out;
  }

  async getSecret(l: SecretLocator): Promise<{ value: SecretValue; info: SecretVersionInfo }> {
    return this.#call("read secret", `${l.vaultUrl}/secrets/${l.name}`, async () => {
      const s = await this.#client(l.vaultUrl).getSecret(l.name, l.version ? { version: l.version } : {});
      return { value: new SecretValue(s.value ?? ""), info: info(l.vaultUrl, s.properties) };
    });
  }

  async publish(
    l: SecretLocator,
    value: SecretValue,
    tags: Readonly<Record<string, string>>,
  ): Promise<SecretVersionInfo> {
    return this.#call("write secret", `${l.vaultUrl}/secrets/${l.name}`, async () => {
      const s = await this.#client(l.vaultUrl).setSecret(l.name, value.reveal(), {
        tags: { ...tags },
        contentType: "text/plain",
      });
      return info(l.vaultUrl, s.properties);
    });
  }

  async listVersions(l: SecretLocator): Promise<SecretVersionInfo[]> {
    return this.#call("list secret versions", `${l.vaultUrl}/secrets/${l.name}`, async () => {
      const out: SecretVersionInfo[] = [];
      for await (const p of this.#client(l.vaultUrl).listPropertiesOfSecretVersions(l.name))
        out.push(info(l.vaultUrl, p));
      return out;
    });
  }

  async #call<T>(action: string, scope: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      const err = classifyAzureError(e, { action: `Key Vault ${action}`, scope });
      this.logger.warn(
        { azure: action, scope, code: err.code, statusCode: err.details.statusCode },
        "key vault call failed",
      );
      throw err;
    }
  }
}

function info(vaultUrl: string, p: SecretProperties): SecretVersionInfo {
  return {
    locator: { vaultUrl: norm(vaultUrl), name: p.name, version: p.version ?? "" },
    enabled: p.enabled !== false,
    createdOn: p.createdOn ? p.createdOn.toISOString() : null,
    tags: { ...(p.tags ?? {}) },
  };
}
