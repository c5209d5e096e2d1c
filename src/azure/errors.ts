/**
 * Azure failures, classified (auth, permission, throttled, not_found, conflict, transient,
 * internal) into KeyturnErrors whose message says what to do. Never includes a response body:
 * a listKeys response holds keys.
 */
import { KeyturnError } from "../core/errors.js";

interface RestErrorLike {
  name?: string;
  code?: string;
  statusCode?: number;
  message?: string;
  response?: { headers?: { get(name: string): string | undefined } };
}

export const RETRY_AFTER_HEADER = "x-keyturn-retry-after";

export function classifyAzureError(e: unknown, ctx: { action: string; scope: string }): KeyturnError {
  if (e instanceof KeyturnError) return e;
  const r = (e ?? {}) as RestErrorLike;
  const isRest = r.name === "RestError" || typeof r.statusCode === "number";
  const status = r.statusCode;
  const requestId = r.response?.headers?.get("x-ms-request-id");
  const details = {
    ...(status !== undefined ? { statusCode: status } : {}),
    ...(requestId ? { requestId } : {}),
    scope: ctx.scope,
  };
  const code = r.code ?? "";
  const message = (r.message ?? "").slice(0, 400);
  if (!isRest || status === undefined) {
    const net = /ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|socket hang up|aborted|timeout/i.test(
      `${code} ${message}`,
    );
    return new KeyturnError(
      net ? "azure_transient" : "azure_internal",
      net
        ? `Azure could not be reached for ${ctx.action} (${code || "network error"}). Nothing changed that keyturn cannot see; resume to try again.`
        : `Unexpected failure during ${ctx.action}: ${message || code || "unknown error"}.`,
      details,
      { cause: e },
    );
  }
  if (status === 401) {
    const audience = wrongAudience(code, message);
    if (audience)
      return new KeyturnError("azure_auth", audienceFix(audience, ctx.action), {
        ...details,
        refusal: "wrong_audience",
      });
    return new KeyturnError(
      "azure_auth",
      `keyturn could not authenticate to Azure for ${ctx.action}: check the managed identity or the AZURE_* credential variables (keyturn doctor shows which).`,
      details,
    );
  }
  if (status === 403) {
    const action = /perform action '([^']+)'/.exec(message)?.[1] ?? ctx.action;
    const scope = /over scope '([^']+)'/.exec(message)?.[1] ?? ctx.scope;
    return new KeyturnError(
      "azure_permission",
      `keyturn's identity lacks ${action} on ${scope}: grant Cognitive Services Contributor (or the custom role keyturn-rotator from the README) on that scope, then resume.`,
      { ...details, scope },
    );
  }
  if (status === 404 && code === "SubscriptionNotFound")
    return new KeyturnError(
      "azure_not_found",
      `Azure does not know ${ctx.scope.split("/").slice(0, 3).join("/")} (SubscriptionNotFound): check AZURE_SUBSCRIPTION_IDS for a typo, and that keyturn's identity has a role in that subscription (keyturn doctor lists the subscriptions it can see).`,
      details,
    );
  if (status === 404 && code === "ResourceGroupNotFound")
    return new KeyturnError(
      "azure_not_found",
      `Azure has no such resource group for ${ctx.scope} (ResourceGroupNotFound): was it deleted, renamed or moved to another subscription? Check the name and subscription.`,
      details,
    );
  if (status === 400 && code === "InvalidApiVersionParameter") {
    const supported = /supported versions are '([^']*)'/.exec(message)?.[1];
    return new KeyturnError(
      "azure_internal",
      `Azure refused the api-version keyturn used for ${ctx.action} (InvalidApiVersionParameter)${supported ? `; it supports ${supported.split(",").slice(0, 5).join(", ")}${supported.split(",").length > 5 ? ", …" : ""}` : ""}: this keyturn build targets another cloud or API generation; upgrade keyturn or check AZURE_ARM_ENDPOINT points at Azure Resource Manager.`,
      details,
    );
  }
  if (status === 404)
    return new KeyturnError(
      "azure_not_found",
      `Azure does not know ${ctx.scope} (${code || "NotFound"}): was it deleted or moved? Check the name and subscription.`,
      details,
    );
  if (status === 409 || status === 412)
    return new KeyturnError(
      "azure_conflict",
      `Azure refused ${ctx.action} on ${ctx.scope} because of a conflicting operation (${code}); wait for it to finish, then resume.`,
      details,
    );
  if (status === 429) {
    const header = r.response?.headers?.get(RETRY_AFTER_HEADER) ?? r.response?.headers?.get("retry-after");
    const retryAfterSeconds = header && /^\d+$/.test(header) ? Number(header) : undefined;
    return new KeyturnError(
      "azure_throttled",
      `Azure is throttling keyturn (${code || "TooManyRequests"})${retryAfterSeconds !== undefined ? ` and asks to wait ${retryAfterSeconds} s` : ""}. Nothing is lost; resume${retryAfterSeconds !== undefined ? " after that" : " in a minute"}.`,
      { ...details, ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}) },
    );
  }
  if (status === 400 && /disableLocalAuth/i.test(message))
    return new KeyturnError("key_free", `${ctx.scope} has disableLocalAuth=true: it has no keys.`, details);
  if (status === 408 || status >= 500)
    return new KeyturnError(
      "azure_transient",
      `Azure failed temporarily during ${ctx.action} (HTTP ${status} ${code}). keyturn re-checks the live state before repeating anything; resume to continue.`,
      details,
    );
  return new KeyturnError(
    "azure_internal",
    `Azure answered HTTP ${status} ${code} to ${ctx.action} on ${ctx.scope}.`,
    details,
  );
}

/** Which service refused a token issued for another audience (Azure's words for it), if that is the refusal. */
export function wrongAudience(
  code: string,
  message: string,
): { service: "arm" | "keyVault" | "logAnalytics" | "other"; found?: string } | null {
  const found = /(?:audience or resource|found:?|token audience) '?([^'\s,]+?)'?[.,]?(?:\s|$)/i.exec(
    message,
  )?.[1];
  const withFound = found ? { found } : {};
  if (code === "InvalidAuthenticationTokenAudience") return { service: "arm", ...withFound };
  if (/AKV10022/.test(message)) return { service: "keyVault", ...withFound };
  if (/audience/i.test(message))
    return { service: code === "InvalidTokenError" ? "logAnalytics" : "other", ...withFound };
  return null;
}

const AUDIENCE_FIX: Record<"arm" | "keyVault" | "logAnalytics" | "other", string> = {
  arm: "Azure Resource Manager accepts only tokens for https://management.azure.com: remove AZURE_ARM_SCOPE or set it to https://management.azure.com/.default, then run keyturn doctor again",
  keyVault:
    "Key Vault accepts only tokens for https://vault.azure.net: keyturn takes that scope from the vault's challenge, so check that every URL in AZURE_KEY_VAULT_URLS is a vault (https://<name>.vault.azure.net), then run keyturn doctor again",
  logAnalytics:
    "Log Analytics accepts only tokens for https://api.loganalytics.io: check AZURE_LOG_ANALYTICS_ENDPOINT points at https://api.loganalytics.io/v1 and leave its scope at https://api.loganalytics.io/.default",
  other:
    "check that the endpoint keyturn calls is the service it expects, and that keyturn asks for that service's scope",
};

function audienceFix(a: { service: keyof typeof AUDIENCE_FIX; found?: string }, action: string): string {
  return `Azure refused keyturn's token for ${action}: it was issued for another service${a.found ? ` (audience ${a.found})` : ""}. ${AUDIENCE_FIX[a.service]}.`;
}
