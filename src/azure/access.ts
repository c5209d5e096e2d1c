/** `keyturn doctor`: can keyturn's identity do its job? Checked without changing anything. */
import type { TokenCredential } from "@azure/core-auth";
import { isKeyturnError, type KeyturnError } from "../core/errors.js";
import type { Logger } from "../core/ports.js";
import { ArmAccounts } from "./accounts.js";
import { ArmRest } from "./arm-rest.js";
import { classifyAzureError } from "./errors.js";
import type { AzureConfig } from "./index.js";
import { settingsOf } from "./index.js";
import { VaultSecrets } from "./secrets.js";

export interface AccessCheck {
  readonly check: string;
  readonly scope: string;
  readonly ok: boolean;
  readonly detail: string;
  readonly fix?: string;
}

const NEEDED = [
  "Microsoft.CognitiveServices/accounts/read",
  "Microsoft.CognitiveServices/accounts/listKeys/action",
  "Microsoft.CognitiveServices/accounts/regenerateKey/action",
];
const ROLE_FIX =
  "grant Cognitive Services Contributor, or the custom role keyturn-rotator from the README, on this scope";

function allowed(action: string, perms: { actions?: string[]; notActions?: string[] }[]): boolean {
  const match = (pattern: string) =>
    new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")}$`, "i").test(action);
  return perms.some((p) => (p.actions ?? []).some(match) && !(p.notActions ?? []).some(match));
}

/** The fix for a refusal: a token for the wrong service names the scope to set, not a role to grant. */
function fixOf(err: KeyturnError, otherwise: string): string {
  if (err.details.refusal === "wrong_audience") return err.userMessage.replace(/^[^.]*\.\s*/, "");
  if (err.code === "azure_permission" || err.code === "azure_auth") return otherwise;
  // SubscriptionNotFound, ResourceGroupNotFound, InvalidApiVersionParameter: the message carries its own fix
  return err.userMessage.split(": ").slice(1).join(": ") || otherwise;
}

interface VisibleSubscription {
  subscriptionId: string;
  displayName?: string;
}

/** The subscriptions keyturn's identity can see (`GET /subscriptions`), or why they could not be listed. */
async function visibleSubscriptions(
  accounts: ArmAccounts,
  config: AzureConfig,
  armEndpoint: string,
): Promise<VisibleSubscription[] | { error: unknown }> {
  const first = config.subscriptionIds[0];
  if (!first) return [];
  try {
    const arm = new ArmRest(() => accounts.client(first), armEndpoint);
    return await arm.list<VisibleSubscription>("/subscriptions", "2022-12-01");
  } catch (e) {
    return { error: e };
  }
}

function subscriptionMissing(sub: string, visible: readonly VisibleSubscription[] | undefined): AccessCheck {
  const seen = visible?.length
    ? visible
        .map((s) => (s.displayName ? `${s.subscriptionId} (${s.displayName})` : s.subscriptionId))
        .join(", ")
    : "none";
  return {
    check: "subscription",
    scope: `/subscriptions/${sub}`,
    ok: false,
    detail: `subscription ${sub} not found for keyturn's identity (SubscriptionNotFound)`,
    fix: `check AZURE_SUBSCRIPTION_IDS for a typo; the identity can see: ${seen}${visible?.length ? "" : " (grant it a role in the subscription)"}`,
  };
}

export async function checkAccess(
  config: AzureConfig,
  credential: TokenCredential,
  logger: Logger,
): Promise<AccessCheck[]> {
  const settings = settingsOf(config);
  const out: AccessCheck[] = [];
  try {
    await credential.getToken(settings.armScope);
    out.push({ check: "credential", scope: settings.armScope, ok: true, detail: "token acquired" });
  } catch (e) {
    out.push({
      check: "credential",
      scope: settings.armScope,
      ok: false,
      detail: e instanceof Error ? e.message.split("\n")[0]! : String(e),
      fix: "configure a managed identity or AZURE_CLIENT_ID / AZURE_TENANT_ID / AZURE_FEDERATED_TOKEN_FILE",
    });
    return out;
  }
  const accounts = new ArmAccounts(config.subscriptionIds, credential, settings, logger);
  const visible = await visibleSubscriptions(accounts, config, settings.armEndpoint);
  for (const sub of config.subscriptionIds) {
    const scope = `/subscriptions/${sub}`;
    if (
      Array.isArray(visible) &&
      !visible.some((s) => s.subscriptionId.toLowerCase() === sub.toLowerCase())
    ) {
      out.push(subscriptionMissing(sub, visible));
      continue;
    }
    try {
      let n = 0;
      for await (const _ of accounts.client(sub).accounts.list()) n++;
      out.push({ check: "list accounts", scope, ok: true, detail: `${n} AI services account(s)` });
    } catch (e) {
      if ((e as { code?: string }).code === "SubscriptionNotFound") {
        out.push(subscriptionMissing(sub, Array.isArray(visible) ? visible : undefined));
        continue;
      }
      const err = classifyAzureError(e, { action: NEEDED[0]!, scope });
      out.push({
        check: "list accounts",
        scope,
        ok: false,
        detail: err.userMessage,
        fix: fixOf(err, ROLE_FIX),
      });
      continue;
    }
    try {
      const arm = new ArmRest(() => accounts.client(sub), settings.armEndpoint);
      const perms = await arm.list<{ actions?: string[]; notActions?: string[] }>(
        `${scope}/providers/Microsoft.Authorization/permissions`,
        "2022-04-01",
      );
      for (const action of NEEDED.slice(1)) {
        const ok = allowed(action, perms);
        out.push({
          check: action.split("/").pop()!.replace("/action", ""),
          scope,
          ok,
          detail: ok ? `${action} allowed` : `${action} NOT allowed`,
          ...(ok ? {} : { fix: ROLE_FIX }),
        });
      }
    } catch (e) {
      out.push({
        check: "permissions",
        scope,
        ok: false,
        detail: classifyAzureError(e, { action: "Microsoft.Authorization/permissions/read", scope })
          .userMessage,
        fix: "grant Reader (to read permissions) or check manually",
      });
    }
  }
  const vaults = new VaultSecrets(
    config.vaultUrls,
    credential,
    {
      caPem: config.caPem,
      disableChallengeResourceVerification: config.disableChallengeResourceVerification,
    },
    logger,
  );
  for (const url of config.vaultUrls) {
    try {
      const all = await vaults.listSecrets();
      out.push({
        check: "key vault",
        scope: url,
        ok: true,
        detail: `${all.filter((s) => s.locator.vaultUrl === url.replace(/\/+$/, "")).length} secret(s) listed`,
      });
    } catch (e) {
      const grant = "grant Key Vault Secrets Officer on the vault (or an access policy with get, list, set)";
      out.push({
        check: "key vault",
        scope: url,
        ok: false,
        detail: isKeyturnError(e) ? e.userMessage : String(e),
        fix: isKeyturnError(e) ? fixOf(e, grant) : grant,
      });
    }
  }
  return out;
}
