/** Cognitive Services accounts and keys on @azure/arm-cognitiveservices. */
import { CognitiveServicesManagementClient, type Account as ArmAccount } from "@azure/arm-cognitiveservices";
import type { TokenCredential } from "@azure/core-auth";
import type { Account, KeySlot } from "../core/domain.js";
import { azureKeyName } from "../core/domain.js";
import { isKeyturnError, KeyturnError } from "../core/errors.js";
import type { AccountsPort, KeyPair, Logger } from "../core/ports.js";
import { SecretValue } from "../core/secret.js";
import { classifyAzureError } from "./errors.js";
import type { ClientSettings } from "./pipeline.js";
import { clientOptions } from "./pipeline.js";

export function parseResourceId(id: string): { subscriptionId: string; resourceGroup: string; name: string } {
  const m =
    /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.CognitiveServices\/accounts\/([^/]+)$/i.exec(
      id,
    );
  if (!m)
    throw new KeyturnError("malformed_command", `"${id}" is not a Cognitive Services account resource id.`);
  return { subscriptionId: m[1]!, resourceGroup: m[2]!, name: m[3]! };
}

export function toAccount(a: ArmAccount): Account {
  const id = a.id ?? "";
  const { subscriptionId, resourceGroup } = parseResourceId(id);
  return {
    id,
    subscriptionId,
    resourceGroup,
    name: a.name ?? "",
    kind: a.kind ?? "unknown",
    location: a.location ?? "",
    endpoint: a.properties?.endpoint ?? "",
    disableLocalAuth: a.properties?.disableLocalAuth === true,
    provisioningState: a.properties?.provisioningState ?? "Unknown",
    tags: { ...(a.tags ?? {}) },
  };
}

export class ArmAccounts implements AccountsPort {
  readonly #clients = new Map<
    string,
    { normal: CognitiveServicesManagementClient; noRetry: CognitiveServicesManagementClient }
  >();

  constructor(
    private readonly subscriptionIds: readonly string[],
    private readonly credential: TokenCredential,
    private readonly settings: ClientSettings,
    private readonly logger: Logger,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {}

  client(subscriptionId: string, noRetry = false): CognitiveServicesManagementClient {
    let c = this.#clients.get(subscriptionId);
    if (!c) {
      c = {
        normal: new CognitiveServicesManagementClient(
          this.credential,
          subscriptionId,
          clientOptions(this.settings),
        ),
        noRetry: new CognitiveServicesManagementClient(
          this.credential,
          subscriptionId,
          clientOptions(this.settings, { noRetry: true }),
        ),
      };
      this.#clients.set(subscriptionId, c);
    }
    return noRetry ? c.noRetry : c.normal;
  }

  async listAccounts(): Promise<Account[]> {
    const lists = await Promise.all(
      this.subscriptionIds.map((sub) =>
        this.#call("list accounts", `/subscriptions/${sub}`, async () => {
          const out: Account[] = [];
          for await (const a of this.client(sub).accounts.list()) out.push(toAccount(a));
          return out;
        }),
      ),
    );
    return lists.flat();
  }

  async getAccount(accountId: string): Promise<Account> {
    const { subscriptionId, resourceGroup, name } = parseResourceId(accountId);
    return this.#call("read account", accountId, async () =>
      toAccount(await this.client(subscriptionId).accounts.get(resourceGroup, name)),
    );
  }

  async listKeys(accountId: string): Promise<KeyPair> {
    const { subscriptionId, resourceGroup, name } = parseResourceId(accountId);
    return this.#call("listKeys", accountId, async () =>
      pair(await this.client(subscriptionId).accounts.listKeys(resourceGroup, name)),
    );
  }

  /**
   * Never re-sent after a 5xx or a network error (Azure may have regenerated already; the runner
   * re-reads fingerprints). A 429 with a short Retry-After is retried here: nothing happened.
   */
  async regenerateKey(accountId: string, slot: KeySlot): Promise<KeyPair> {
    const { subscriptionId, resourceGroup, name } = parseResourceId(accountId);
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.#call("regenerateKey", accountId, async () =>
          pair(
            await this.client(subscriptionId, true).accounts.regenerateKey(
              resourceGroup,
              name,
              azureKeyName(slot),
            ),
          ),
        );
      } catch (e) {
        const wait =
          isKeyturnError(e) && e.code === "azure_throttled" ? e.details.retryAfterSeconds : undefined;
        if (wait === undefined || wait > this.settings.maxRetryAfterSeconds || attempt >= 3) throw e;
        await this.sleep(wait * 1000);
      }
    }
  }

  /**
   * PATCH of the account with only `properties.disableLocalAuth` (Accounts_Update; the SDK's
   * long-running update ends at once on ARM's synchronous 200). The account is read back: what ARM
   * now says, not what was asked.
   */
  async setLocalAuth(accountId: string, disableLocalAuth: boolean): Promise<Account> {
    const { subscriptionId, resourceGroup, name } = parseResourceId(accountId);
    return this.#call("update account", accountId, async () => {
      await this.client(subscriptionId).accounts.beginUpdateAndWait(resourceGroup, name, {
        properties: { disableLocalAuth },
      });
      return toAccount(await this.client(subscriptionId).accounts.get(resourceGroup, name));
    });
  }

  async #call<T>(action: string, scope: string, fn: () => Promise<T>): Promise<T> {
    const started = Date.now();
    try {
      const r = await fn();
      this.logger.debug({ azure: action, scope, ms: Date.now() - started }, "azure call");
      return r;
    } catch (e) {
      const err = classifyAzureError(e, { action: actionName(action), scope });
      this.logger.warn(
        {
          azure: action,
          scope,
          ms: Date.now() - started,
          code: err.code,
          statusCode: err.details.statusCode,
          requestId: err.details.requestId,
        },
        "azure call failed",
      );
      throw err;
    }
  }
}

function actionName(action: string): string {
  if (action === "listKeys") return "Microsoft.CognitiveServices/accounts/listKeys/action";
  if (action === "regenerateKey") return "Microsoft.CognitiveServices/accounts/regenerateKey/action";
  if (action === "update account") return "Microsoft.CognitiveServices/accounts/write";
  return "Microsoft.CognitiveServices/accounts/read";
}

function pair(k: { key1?: string; key2?: string }): KeyPair {
  if (!k.key1 || !k.key2) throw new KeyturnError("azure_internal", "Azure returned no keys for the account.");
  return { key1: new SecretValue(k.key1), key2: new SecretValue(k.key2) };
}
