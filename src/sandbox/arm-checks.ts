/**
 * What ARM refuses before a resource provider sees a request: an unknown subscription (404
 * SubscriptionNotFound), a missing resource group (404 ResourceGroupNotFound), an api-version the
 * resource type does not serve (400 InvalidApiVersionParameter, listing the supported versions, as
 * ARM words it). Also ARM's own routes: `GET /subscriptions` (the caller's subscriptions) and the
 * anonymous `GET /metadata/endpoints`.
 */
import { armError, type Reply } from "./http.js";
import type { Tenant } from "./tenant.js";

/** Published api-versions per resource type (newest first), as ARM lists them in its refusal. */
const VERSIONS: { type: RegExp; versions: string[] }[] = [
  {
    type: /\/providers\/microsoft\.insights\/metrics$/i,
    versions: [
      "2024-02-01",
      "2023-10-01",
      "2021-05-01",
      "2019-07-01",
      "2018-01-01",
      "2017-05-01-preview",
      "2016-09-01",
      "2016-06-01",
    ],
  },
  {
    type: /\/providers\/microsoft\.insights\/eventtypes\/management\/values$/i,
    versions: ["2017-03-01-preview", "2015-04-01", "2014-04-01"],
  },
  {
    type: /\/providers\/microsoft\.authorization\/permissions$/i,
    versions: [
      "2022-05-01-preview",
      "2022-04-01",
      "2018-07-01",
      "2018-01-01-preview",
      "2017-10-01-preview",
      "2015-07-01",
    ],
  },
  {
    type: /\/providers\/microsoft\.cognitiveservices\//i,
    versions: [
      "2025-09-01",
      "2025-07-01-preview",
      "2025-06-01",
      "2025-04-01-preview",
      "2024-10-01",
      "2024-06-01-preview",
      "2024-04-01-preview",
      "2023-10-01-preview",
      "2023-05-01",
      "2022-12-01",
      "2022-10-01",
      "2022-03-01",
      "2021-10-01",
      "2021-04-30",
      "2017-04-18",
      "2016-02-01-preview",
    ],
  },
  {
    type: /\/providers\/microsoft\.web\//i,
    versions: [
      "2025-05-01",
      "2024-11-01",
      "2024-04-01",
      "2023-12-01",
      "2023-01-01",
      "2022-09-01",
      "2022-03-01",
      "2021-03-01",
      "2021-02-01",
      "2021-01-15",
      "2021-01-01",
      "2020-12-01",
      "2020-10-01",
      "2020-09-01",
      "2020-06-01",
      "2019-08-01",
      "2018-11-01",
      "2018-02-01",
      "2016-08-01",
    ],
  },
  {
    // Microsoft.Resources: subscriptions and resource groups themselves
    type: /^\/subscriptions(\/[^/]+)?(\/resourcegroups(\/[^/]+)?)?$/i,
    versions: [
      "2022-12-01",
      "2021-04-01",
      "2021-01-01",
      "2020-01-01",
      "2019-11-01",
      "2019-06-01",
      "2018-06-01",
      "2016-06-01",
      "2014-04-01",
    ],
  },
];

export function supportedVersions(path: string): string[] | undefined {
  return VERSIONS.find((v) => v.type.test(path))?.versions;
}

const lower = (s: string) => s.toLowerCase();

export function knowsSubscription(t: Tenant, sub: string): boolean {
  return t.scenario.subscriptions.some((s) => lower(s.id) === lower(sub));
}

export function knowsResourceGroup(t: Tenant, sub: string, rg: string): boolean {
  const same = (x: { subscriptionId: string; resourceGroup: string }) =>
    lower(x.subscriptionId) === lower(sub) && lower(x.resourceGroup) === lower(rg);
  return t.accounts.some(same) || t.sites.some(same);
}

/** ARM's refusal of a configuration mistake in `path`, or null when ARM would pass it on. */
export function armRefusal(t: Tenant, path: string, apiVersion: string): Reply | null {
  const m = /^\/subscriptions\/([^/]+)(?:\/resourcegroups\/([^/]+))?/i.exec(path);
  if (m) {
    const [, sub, rg] = m;
    if (!knowsSubscription(t, sub!))
      return armError(404, "SubscriptionNotFound", `The subscription '${sub}' could not be found.`);
    if (rg && !knowsResourceGroup(t, sub!, rg))
      return armError(404, "ResourceGroupNotFound", `Resource group '${rg}' could not be found.`);
  }
  const versions = supportedVersions(path);
  if (versions && !versions.includes(apiVersion))
    return armError(
      400,
      "InvalidApiVersionParameter",
      `The api-version '${apiVersion}' is invalid. The supported versions are '${versions.join(",")}'.`,
    );
  return null;
}

/** `GET /subscriptions` and `GET /subscriptions/{id}` (Microsoft.Resources, 2022-12-01 shape). */
export function subscriptionsRoute(t: Tenant, path: string): Reply | null {
  const json = (s: { id: string; displayName: string }) => ({
    id: `/subscriptions/${s.id}`,
    authorizationSource: "RoleBased",
    managedByTenants: [],
    subscriptionId: s.id,
    tenantId: t.scenario.tenantId,
    displayName: s.displayName,
    state: "Enabled",
    subscriptionPolicies: {
      locationPlacementId: "Public_2014-09-01",
      quotaId: "PayAsYouGo_2014-09-01",
      spendingLimit: "Off",
    },
  });
  if (/^\/subscriptions$/i.test(path))
    return {
      status: 200,
      body: {
        value: t.scenario.subscriptions.map(json),
        count: { type: "Total", value: t.scenario.subscriptions.length },
      },
    };
  const m = /^\/subscriptions\/([^/]+)$/i.exec(path);
  if (m) {
    const s = t.scenario.subscriptions.find((x) => lower(x.id) === lower(m[1]!));
    return s ? { status: 200, body: json(s) } : null;
  }
  return null;
}

/** The cloud's metadata as Azure public cloud publishes it, with ARM pointing at the simulator. */
export function metadataEndpoints(armEndpoint: string): Reply {
  const arm = armEndpoint.replace(/\/+$/, "") + "/";
  return {
    status: 200,
    body: {
      portal: "https://portal.azure.com",
      authentication: {
        loginEndpoint: "https://login.microsoftonline.com",
        audiences: ["https://management.core.windows.net/", "https://management.azure.com/"],
        tenant: "common",
        identityProvider: "AAD",
      },
      media: "https://rest.media.azure.net",
      graphAudience: "https://graph.windows.net/",
      graph: "https://graph.windows.net/",
      name: "AzureCloud",
      suffixes: {
        azureDataLakeStoreFileSystem: "azuredatalakestore.net",
        acrLoginServer: "azurecr.io",
        sqlServerHostname: "database.windows.net",
        azureDataLakeAnalyticsCatalogAndJob: "azuredatalakeanalytics.net",
        keyVaultDns: "vault.azure.net",
        storage: "core.windows.net",
        azureFrontDoorEndpointSuffix: "azurefd.net",
        storageSyncEndpointSuffix: "afs.azure.net",
        mhsmDns: "managedhsm.azure.net",
        mysqlServerEndpoint: "mysql.database.azure.com",
        postgresqlServerEndpoint: "postgres.database.azure.com",
        mariadbServerEndpoint: "mariadb.database.azure.com",
        synapseAnalytics: "dev.azuresynapse.net",
        attestationEndpoint: "attest.azure.net",
      },
      batch: "https://batch.core.windows.net/",
      resourceManager: arm,
      vmImageAliasDoc:
        "https://raw.githubusercontent.com/Azure/azure-rest-api-specs/main/arm-compute/quickstart-templates/aliases.json",
      activeDirectoryDataLake: "https://datalake.azure.net/",
      sqlManagement: "https://management.core.windows.net:8443/",
      gallery: "https://gallery.azure.com/",
      microsoftGraphResourceId: "https://graph.microsoft.com/",
      appInsightsResourceId: "https://api.applicationinsights.io",
      appInsightsTelemetryChannelResourceId: "https://dc.applicationinsights.azure.com/v2/track",
      attestationResourceId: "https://attest.azure.net",
      synapseAnalyticsResourceId: "https://dev.azuresynapse.net",
      logAnalyticsResourceId: "https://api.loganalytics.io",
      ossrDbmsResourceId: "https://ossrdbms-aad.database.windows.net",
    },
  };
}
