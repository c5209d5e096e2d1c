/** Cognitive Services accounts and keys as ARM serves them at api-version 2025-09-01. */
import type { ArmContext, ArmRoute } from "./arm-routes.js";
import { armError, safeJson } from "./http.js";
import { accountIdOf, type AccountState, type Tenant } from "./tenant.js";

const ACCOUNTS =
  /^\/subscriptions\/([^/]+)(?:\/resourcegroups\/([^/]+))?\/providers\/microsoft\.cognitiveservices\/accounts$/i;
const ACCOUNT =
  /^\/subscriptions\/([^/]+)\/resourcegroups\/([^/]+)\/providers\/microsoft\.cognitiveservices\/accounts\/([^/]+)(?:\/(listkeys|regeneratekey))?$/i;

const eq = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

export function routeAccounts(
  t: Tenant,
  ctx: ArmContext,
  method: string,
  path: string,
  query: URLSearchParams,
): ArmRoute | null {
  let m = ACCOUNTS.exec(path);
  if (m && method === "GET") {
    const [, sub, rg] = m;
    return {
      operation: "listAccounts",
      subscription: sub!,
      write: false,
      handle: () => {
        const all = t.accounts.filter((a) => eq(a.subscriptionId, sub!) && (!rg || eq(a.resourceGroup, rg)));
        const skip = Math.max(0, Number(query.get("$skiptoken") ?? "0") || 0);
        const page = all.slice(skip, skip + ctx.pageSize);
        const next =
          skip + ctx.pageSize < all.length
            ? `${ctx.armEndpoint()}${path}?api-version=${query.get("api-version")}&$skiptoken=${skip + ctx.pageSize}`
            : undefined;
        return {
          status: 200,
          body: {
            value: page.map((a) => accountJson(a, ctx.armEndpoint())),
            ...(next ? { nextLink: next } : {}),
          },
        };
      },
    };
  }
  m = ACCOUNT.exec(path);
  if (!m) return null;
  const [, sub, rg, name, action] = m;
  const find = () =>
    t.accounts.find((a) => eq(a.subscriptionId, sub!) && eq(a.resourceGroup, rg!) && eq(a.name, name!));
  const missing = () =>
    armError(
      404,
      "ResourceNotFound",
      `The Resource 'Microsoft.CognitiveServices/accounts/${name}' under resource group '${rg}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
    );
  const verb = action?.toLowerCase();
  if (!verb && method === "GET") {
    return {
      operation: "getAccount",
      subscription: sub!,
      write: false,
      handle: () => {
        const a = find();
        return a ? { status: 200, body: accountJson(a, ctx.armEndpoint()) } : missing();
      },
    };
  }
  if (!verb && method === "PATCH") {
    // Accounts_Update: whoever holds …/accounts/write can change the tags and properties.disableLocalAuth;
    // a synchronous 200 ends the SDK's poll; the Activity Log records the write
    return {
      operation: "updateAccount",
      subscription: sub!,
      write: true,
      handle: (body, caller) => {
        const a = find();
        if (!a) return missing();
        const patch = safeJson(body) as {
          tags?: unknown;
          properties?: { disableLocalAuth?: unknown };
        } | null;
        const disable = patch?.properties?.disableLocalAuth;
        if (disable !== undefined && typeof disable !== "boolean")
          return armError(
            400,
            "InvalidRequestContent",
            "The request content was invalid and could not be deserialized: 'properties.disableLocalAuth' must be a boolean.",
          );
        if (patch?.tags !== undefined) {
          if (
            !patch.tags ||
            typeof patch.tags !== "object" ||
            Array.isArray(patch.tags) ||
            !Object.values(patch.tags).every((v) => typeof v === "string")
          )
            return armError(
              400,
              "InvalidRequestContent",
              "The request content was invalid and could not be deserialized: 'tags' must be an object of strings.",
            );
          a.tags = { ...(patch.tags as Record<string, string>) };
        }
        // turning keys off or on: the data plane answers keys with 403 AuthenticationTypeDisabled while off
        if (typeof disable === "boolean") a.disableLocalAuth = disable;
        t.record(a, "Microsoft.CognitiveServices/accounts/write", caller.name, caller.ip, "Succeeded");
        return { status: 200, body: accountJson(a, ctx.armEndpoint()) };
      },
    };
  }
  if (!verb && method === "PUT") {
    // Accounts_Create (create or update): a PUT replaces the account's mutable parts, so a body without
    // properties.disableLocalAuth turns keys back on (the default, false) — as in Azure
    return {
      operation: "updateAccount",
      subscription: sub!,
      write: true,
      handle: (body, caller) => {
        const put = safeJson(body) as {
          kind?: unknown;
          location?: unknown;
          tags?: unknown;
          properties?: { disableLocalAuth?: unknown };
        } | null;
        const bad = (what: string) =>
          armError(
            400,
            "InvalidRequestContent",
            `The request content was invalid and could not be deserialized: ${what}.`,
          );
        if (!put || typeof put !== "object") return bad("the body must be an account");
        const disable = put.properties?.disableLocalAuth ?? false;
        if (typeof disable !== "boolean") return bad("'properties.disableLocalAuth' must be a boolean");
        const tags = put.tags ?? {};
        if (
          !tags ||
          typeof tags !== "object" ||
          Array.isArray(tags) ||
          !Object.values(tags).every((v) => typeof v === "string")
        )
          return bad("'tags' must be an object of strings");
        let a = find();
        const created = !a;
        if (!a) {
          if (typeof put.kind !== "string" || typeof put.location !== "string")
            return bad("'kind' and 'location' are required to create an account");
          const id = accountIdOf(sub!, rg!, name!);
          a = {
            id,
            subscriptionId: sub!,
            resourceGroup: rg!,
            name: name!,
            kind: put.kind,
            location: put.location,
            tags: {},
            disableLocalAuth: false,
            keyFormat: "new",
            keys: { key1: "", key2: "" },
            regenerations: { key1: 0, key2: 0 },
            createdAt: new Date().toISOString(),
          };
          a.keys = { key1: t.newKey(a), key2: t.newKey(a) };
          t.accounts.push(a);
        }
        // everything the simulated tenant holds stays marked as the sandbox's
        a.tags = { ...(tags as Record<string, string>), "keyturn-sandbox": "true" };
        a.disableLocalAuth = disable;
        t.record(a, "Microsoft.CognitiveServices/accounts/write", caller.name, caller.ip, "Succeeded");
        return { status: created ? 201 : 200, body: accountJson(a, ctx.armEndpoint()) };
      },
    };
  }
  if (verb === "listkeys" && method === "POST") {
    return {
      operation: "listKeys",
      subscription: sub!,
      write: true,
      handle: (_b, caller) => {
        const a = find();
        if (!a) return missing();
        if (a.disableLocalAuth) {
          t.record(
            a,
            "Microsoft.CognitiveServices/accounts/listKeys/action",
            caller.name,
            caller.ip,
            "Failed",
          );
          return armError(400, "BadRequest", "Failed to list key. disableLocalAuth is set to be true");
        }
        t.record(
          a,
          "Microsoft.CognitiveServices/accounts/listKeys/action",
          caller.name,
          caller.ip,
          "Succeeded",
        );
        return { status: 200, body: { key1: a.keys.key1, key2: a.keys.key2 } };
      },
    };
  }
  if (verb === "regeneratekey" && method === "POST") {
    return {
      operation: "regenerateKey",
      subscription: sub!,
      write: true,
      handle: (body, caller) => {
        const a = find();
        if (!a) return missing();
        const keyName = (safeJson(body) as { keyName?: string } | null)?.keyName;
        if (keyName !== "Key1" && keyName !== "Key2")
          return armError(
            400,
            "InvalidRequestContent",
            "The request content was invalid and could not be deserialized: 'keyName' must be 'Key1' or 'Key2'.",
          );
        if (a.disableLocalAuth)
          return armError(400, "BadRequest", "Failed to regenerate key. disableLocalAuth is set to be true");
        t.regenerate(a, keyName === "Key1" ? "key1" : "key2", caller.name, caller.ip);
        return { status: 200, body: { key1: a.keys.key1, key2: a.keys.key2 } };
      },
    };
  }
  return null;
}

export function accountJson(a: AccountState, armEndpoint: string): unknown {
  const endpoint = `${armEndpoint}/dataplane/${a.subscriptionId}/${a.name}/`;
  const changed = a.regenerations.key1 + a.regenerations.key2;
  return {
    id: a.id,
    name: a.name,
    type: "Microsoft.CognitiveServices/accounts",
    location: a.location,
    sku: { name: "S0" },
    kind: a.kind,
    tags: a.tags,
    etag: `"${(0x1000 + changed).toString(16)}-sandbox"`,
    properties: {
      endpoint,
      endpoints: { [a.kind === "OpenAI" ? "OpenAI Language Model Instance API" : `${a.kind} API`]: endpoint },
      internalId: a.id.length.toString(16).padStart(32, "0"),
      dateCreated: a.createdAt,
      provisioningState: "Succeeded",
      customSubDomainName: a.name,
      publicNetworkAccess: "Enabled",
      disableLocalAuth: a.disableLocalAuth,
      isMigrated: false,
      capabilities: [{ name: "VirtualNetworks" }, { name: "CustomerManagedKey" }],
    },
    systemData: {
      createdBy: "sandbox@contoso.com",
      createdByType: "User",
      createdAt: a.createdAt,
      lastModifiedBy: "sandbox@contoso.com",
      lastModifiedByType: "User",
      lastModifiedAt: a.createdAt,
    },
  };
}
