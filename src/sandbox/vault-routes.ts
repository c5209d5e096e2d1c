/** Key Vault secrets as @azure/keyvault-secrets calls them (api-version 2025-07-01 / 7.x). */
import type { Reply } from "./http.js";
import type { SecretVersion, Tenant } from "./tenant.js";

const kvError = (status: number, code: string, message: string, inner?: string): Reply => ({
  status,
  body: { error: { code, message, ...(inner ? { innererror: { code: inner } } : {}) } },
});

function attributes(v: SecretVersion) {
  return {
    enabled: v.enabled,
    created: v.created,
    updated: v.updated,
    recoveryLevel: "Recoverable+Purgeable",
    recoverableDays: 90,
  };
}

export function routeVault(
  t: Tenant,
  vault: string,
  baseUrl: string,
  method: string,
  path: string,
  body: string,
): { operation: "setSecret" | "getSecret" | "listSecrets"; reply: () => Reply } | null {
  const parts = path.split("/").filter(Boolean);
  if (parts[0] !== "secrets") return null;
  const name = parts[1];
  const version = parts[2];
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
        body: {
          value: Object.entries(t.vaults[vault] ?? {}).map(([n, vs]) => {
            const v = vs.at(-1)!;
            return {
              id: `${baseUrl}/secrets/${n}`,
              attributes: attributes(v),
              tags: v.tags,
              ...(v.contentType ? { contentType: v.contentType } : {}),
            };
          }),
          nextLink: null,
        },
      }),
    };
  }
  if (!name) return null;
  if (method === "PUT" && !version) {
    return {
      operation: "setSecret",
      reply: () => {
        let parsed: { value?: unknown; contentType?: string; tags?: Record<string, string> };
        try {
          parsed = JSON.parse(body) as typeof parsed;
        } catch {
          return kvError(400, "BadParameter", "The request body is not valid JSON.");
        }
        if (typeof parsed.value !== "string")
          return kvError(400, "BadParameter", "Property 'value' is required.");
        if (parsed.value.length > 25 * 1024)
          return kvError(400, "BadParameter", "The secret value exceeds 25 KB.");
        const v = t.setSecret(vault, name, parsed.value, parsed.contentType, parsed.tags ?? {});
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
        return { status: 200, body: { value: vs.map((v) => bundle(name, v, false)), nextLink: null } };
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
        const p = JSON.parse(body || "{}") as {
          attributes?: { enabled?: boolean };
          tags?: Record<string, string>;
          contentType?: string;
        };
        if (p.attributes?.enabled !== undefined) v.enabled = p.attributes.enabled;
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
