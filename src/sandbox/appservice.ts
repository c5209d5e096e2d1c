/**
 * App Service sites as ARM serves them: app settings (Key Vault references or literals), editing
 * them, and the Key Vault reference status whose `activeVersion` proves which version a site uses.
 */
import type { ArmRoute } from "./arm-routes.js";
import { refreshSite } from "./consumers.js";
import { armError, safeJson, type Reply } from "./http.js";
import type { SiteSetting, SiteState, Tenant } from "./tenant.js";

const SITES = /^\/subscriptions\/([^/]+)(?:\/resourcegroups\/([^/]+))?\/providers\/microsoft\.web\/sites$/i;
const SITE =
  /^\/subscriptions\/([^/]+)\/resourcegroups\/([^/]+)\/providers\/microsoft\.web\/sites\/([^/]+)(\/config\/appsettings\/list|\/config\/appsettings|\/config\/configreferences\/appsettings|\/config\/configreferences\/appsettings\/refresh)?$/i;

const eq = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

export function routeSites(t: Tenant, method: string, path: string): ArmRoute | null {
  let m = SITES.exec(path);
  if (m && method === "GET") {
    const [, sub, rg] = m;
    return {
      operation: "appSettings",
      subscription: sub!,
      write: false,
      handle: () => ({
        status: 200,
        body: {
          value: t.sites
            .filter((s) => eq(s.subscriptionId, sub!) && (!rg || eq(s.resourceGroup, rg)))
            .map(siteJson),
        },
      }),
    };
  }
  m = SITE.exec(path);
  if (!m) return null;
  const [, sub, rg, name, tailRaw] = m;
  const tail = (tailRaw ?? "").toLowerCase();
  const handle = (body: string): Reply => {
    const site = t.sites.find(
      (s) => eq(s.subscriptionId, sub!) && eq(s.resourceGroup, rg!) && eq(s.name, name!),
    );
    if (!site)
      return armError(
        404,
        "ResourceNotFound",
        `The Resource 'Microsoft.Web/sites/${name}' under resource group '${rg}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
      );
    if (tail === "" && method === "GET") return { status: 200, body: siteJson(site) };
    if (tail === "/config/appsettings/list" && method === "POST")
      return { status: 200, body: settingsDocument(t, site) };
    if (tail === "/config/appsettings" && method === "PUT") {
      const props = (safeJson(body) as { properties?: Record<string, unknown> } | null)?.properties;
      if (!props || typeof props !== "object")
        return armError(400, "BadRequest", "The request body must be { properties: { NAME: value } }.");
      // PUT replaces the whole set, as App Service does
      site.settings = Object.fromEntries(
        Object.entries(props).map(([k, v]) => [k, parseSetting(t, String(v))]),
      );
      site.resolved = Object.fromEntries(Object.entries(site.resolved).filter(([k]) => k in site.settings));
      refreshSite(t, site);
      t.save();
      return { status: 200, body: settingsDocument(t, site) };
    }
    if (tail === "/config/configreferences/appsettings" && method === "GET")
      return { status: 200, body: { value: referencesJson(t, site) } };
    if (tail === "/config/configreferences/appsettings/refresh" && method === "POST") {
      refreshSite(t, site);
      t.save();
      return { status: 200, body: { value: referencesJson(t, site) } };
    }
    return armError(405, "MethodNotAllowed", `${method} is not supported on ${path}`);
  };
  const write = method === "PUT" || tail.endsWith("/refresh");
  return { operation: "appSettings", subscription: sub!, write, handle };
}

function siteJson(s: SiteState): unknown {
  return {
    id: s.id,
    name: s.name,
    type: "Microsoft.Web/sites",
    kind: "app",
    location: "westeurope",
    tags: { ...(s.owner ? { owner: s.owner } : {}), "keyturn-sandbox": "true" },
    identity: {
      type: "SystemAssigned",
      principalId: "5a5a5a5a-0000-4000-8000-000000000001",
      tenantId: "72f988bf-86f1-41af-91ab-2d7cd011db47",
    },
    properties: {
      state: "Running",
      defaultHostName: `${s.name}.azurewebsites.net`,
      enabled: true,
      // where the app's calls come from, as ARM reports it (comma-separated)
      outboundIpAddresses: s.callerIp,
      possibleOutboundIpAddresses: s.callerIp,
      resourceGroup: s.resourceGroup,
    },
  };
}

const referenceOf = (t: Tenant, r: NonNullable<SiteSetting["reference"]>) =>
  `@Microsoft.KeyVault(SecretUri=${t.vaultUrl(r.vault)}/secrets/${r.secret}/${r.version ?? ""})`;

function settingsDocument(t: Tenant, s: SiteState): unknown {
  const properties: Record<string, string> = {};
  for (const [k, v] of Object.entries(s.settings)) {
    if (v.literal !== undefined) properties[k] = v.literal;
    else if (v.reference) properties[k] = referenceOf(t, v.reference);
  }
  return {
    id: `${s.id}/config/appsettings`,
    name: "appsettings",
    type: "Microsoft.Web/sites/config",
    location: "West Europe",
    properties,
  };
}

function parseSetting(t: Tenant, value: string): SiteSetting {
  const uri = /^@Microsoft\.KeyVault\(SecretUri=(https:\/\/[^/]+)\/secrets\/([^/)]+)\/?([^/)]*)\)$/i.exec(
    value,
  );
  if (uri)
    return {
      reference: {
        vault: t.vaultNameOf(uri[1]!) ?? uri[1]!,
        secret: uri[2]!,
        ...(uri[3] ? { version: uri[3] } : {}),
      },
    };
  const named =
    /^@Microsoft\.KeyVault\(VaultName=([^;]+);SecretName=([^;)]+)(?:;SecretVersion=([^)]+))?\)$/i.exec(value);
  if (named)
    return { reference: { vault: named[1]!, secret: named[2]!, ...(named[3] ? { version: named[3] } : {}) } };
  return { literal: value };
}

function referencesJson(t: Tenant, s: SiteState): unknown[] {
  return Object.entries(s.settings).flatMap(([k, v]) => {
    if (!v.reference) return [];
    const exists = t.secret(v.reference.vault, v.reference.secret, v.reference.version);
    return [
      {
        id: `${s.id}/config/configreferences/appsettings/${k}`,
        name: k,
        type: "Microsoft.Web/sites/config/reference",
        properties: {
          reference: referenceOf(t, v.reference),
          status: exists?.enabled ? "Resolved" : exists ? "SecretDisabled" : "SecretNotFound",
          vaultName: v.reference.vault,
          secretName: v.reference.secret,
          secretVersion: v.reference.version ?? "",
          identityType: { type: "SystemAssigned" },
          source: "KeyVault",
          activeVersion: s.resolved[k]?.version ?? "",
        },
      },
    ];
  });
}
