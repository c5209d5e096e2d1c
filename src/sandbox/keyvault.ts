/**
 * Key Vault secrets as @azure/keyvault-secrets calls them (api-version 2025-07-01): versions with
 * 32-hex ids, latest or by version, paged listings without values, attribute updates.
 */
import { safeJson, type Reply } from "./http.js";
import type { SecretVersion, Tenant } from "./tenant.js";

const kvError = (status: number, code: string, message: string, inner?: string): Reply => ({
  status,
  body: { error: { code, message, ...(inner ? { innererror: { code: inner } } : {}) } },
});

function attributes(v: SecretVersion) {
  return {
    enabled: v.enabled,
    ...(v.nbf !== undefined ? { nbf: v.nbf } : {}),
    ...(v.exp !== undefined ? { exp: v.exp } : {}),
    created: v.created,
    updated: v.updated,
    recoveryLevel: "Recoverable+Purgeable",
    recoverableDays: 90,
  };
}

const PAGE = 25;

/** One page of a listing; nextLink absolute, like Key Vault's. */
function page<T>(
  items: T[],
  baseUrl: string,
  path: string,
  query: URLSearchParams,
): { value: T[]; nextLink: string | null } {
  const size = Math.max(1, Number(query.get("maxresults") ?? PAGE) || PAGE);
  const skip = Math.max(0, Number(query.get("$skiptoken") ?? "0") || 0);
  const next =
    skip + size < items.length
      ? `${baseUrl}${path}?api-version=${query.get("api-version") ?? "2025-07-01"}&maxresults=${size}&$skiptoken=${skip + size}`
      : null;
  return { value: items.slice(skip, skip + size), nextLink: next };
}

const NAME = /^[0-9a-zA-Z-]{1,127}$/;

function vaultRefusal(query: URLSearchParams, name: string | undefined): Reply | null {
  if (!query.get("api-version"))
    return kvError(400, "BadParameter", "The request is missing the required api-version query parameter.");
  const max = query.get("maxresults");
  if (max !== null && !(/^\d+$/.test(max) && Number(max) >= 1 && Number(max) <= 25))
    return kvError(400, "BadParameter", "The value of the maxresults parameter must be between 1 and 25.");
  if (name !== undefined && !NAME.test(name))
    return kvError(400, "BadParameter", `The request URI contains an invalid name: ${name.slice(0, 130)}`);
  return null;
}

export function routeVault(
  t: Tenant,
  vault: string,
  baseUrl: string,
  method: string,
  path: string,
  query: URLSearchParams,
  body: string,
): { operation: "setSecret" | "getSecret" | "listSecrets"; reply: () => Reply } | null {
  const parts = path.split("/").filter(Boolean);
  if (parts[0] !== "secrets") return null;
  const asked = parts[1];
  const version = parts[2];
  // Key Vault refuses a request without api-version, a page larger than 25 and a name outside its rule
  const refusal = vaultRefusal(query, asked);
  if (refusal) return { operation: asked ? "getSecret" : "listSecrets", reply: () => refusal };
  // names are case-insensitive: a request in any case reaches the secret as it was first written
  const name = asked
    ? (Object.keys(t.vaults[vault] ?? {}).find((n) => n.toLowerCase() === asked.toLowerCase()) ?? asked)
    : undefined;
  const bundle = (n: string, v: SecretVersion, withValue: boolean) => ({
    ...(withValue ? { value: v.value } : {}),
    id: `${baseUrl}/secrets/${n}/${v.version}`,
    attributes: attributes(v),
    tags: v.tags,
    ...(v.contentType ? { contentType: v.contentType } : {}),
  });
  if (!name && method === "GET") {
    return {
      operation: "listSecrets",
      reply: () => ({
        status: 200,
        body: page(
          Object.entries(t.vaults[vault] ?? {}).map(([n, vs]) => {
            const v = vs.at(-1)!;
            return {
              id: `${baseUrl}/secrets/${n}`,
              attributes: attributes(v),
              tags: v.tags,
              ...(v.contentType ? { contentType: v.contentType } : {}),
            };
          }),
          baseUrl,
          "/secrets",
          query,
        ),
      }),
    };
  }
  if (!name) return null;
  if (method === "PUT" && !version) {
    return {
      operation: "setSecret",
      reply: () => {
        let parsed: {
          value?: unknown;
          contentType?: string;
          tags?: Record<string, string>;
          attributes?: { enabled?: boolean; nbf?: number; exp?: number };
        };
        try {
          parsed = JSON.parse(body) as typeof parsed;
        } catch {
          return kvError(400, "BadParameter", "The request body is not valid JSON.");
        }
        if (typeof parsed.value !== "string")
          return kvError(400, "BadParameter", "Property 'value' is required.");
        if (parsed.value.length > 25 * 1024)
          return kvError(400, "BadParameter", "The secret value exceeds 25 KB.");
        const v = t.setSecret(
          vault,
          name,
          parsed.value,
          parsed.contentType,
          parsed.tags ?? {},
          parsed.attributes ?? {},
        );
        return { status: 200, body: bundle(name, v, true) };
      },
    };
  }
  if (method === "GET" && version === "versions") {
    return {
      operation: "listSecrets",
      reply: () => {
        const vs = t.vaults[vault]?.[name];
        if (!vs)
          return kvError(
            404,
            "SecretNotFound",
            `A secret with (name/id) ${name} was not found in this key vault.`,
          );
        return {
          status: 200,
          body: page(
            vs.map((v) => bundle(name, v, false)),
            baseUrl,
            `/secrets/${name}/versions`,
            query,
          ),
        };
      },
    };
  }
  if (method === "GET") {
    return {
      operation: "getSecret",
      reply: () => {
        const v = t.secret(vault, name, version || undefined);
        if (!v)
          return kvError(
            404,
            "SecretNotFound",
            `A secret with (name/id) ${name}${version ? `/${version}` : ""} was not found in this key vault.`,
          );
        if (!v.enabled)
          return kvError(
            403,
            "Forbidden",
            "Operation get is not allowed on a disabled secret.",
            "SecretDisabled",
          );
        return { status: 200, body: bundle(name, v, true) };
      },
    };
  }
  if (method === "PATCH" && version) {
    return {
      operation: "setSecret",
      reply: () => {
        const v = t.secret(vault, name, version);
        if (!v)
          return kvError(
            404,
            "SecretNotFound",
            `A secret with (name/id) ${name}/${version} was not found in this key vault.`,
          );
        const p = (safeJson(body || "{}") ?? {}) as {
          attributes?: { enabled?: boolean; nbf?: number; exp?: number };
          tags?: Record<string, string>;
          contentType?: string;
        };
        if (p.attributes?.enabled !== undefined) v.enabled = p.attributes.enabled;
        if (p.attributes?.nbf !== undefined) v.nbf = p.attributes.nbf;
        if (p.attributes?.exp !== undefined) v.exp = p.attributes.exp;
        if (p.tags) v.tags = p.tags;
        if (p.contentType) v.contentType = p.contentType;
        v.updated = Math.floor(Date.now() / 1000);
        t.save();
        return { status: 200, body: bundle(name, v, false) };
      },
    };
  }
  return null;
}
