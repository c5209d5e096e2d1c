/**
 * Every route the simulated tenant serves, with the published operation it answers for (Azure's
 * OpenAPI definitions in Azure/azure-rest-api-specs) or why none applies. The contract tests drive
 * each entry and validate its answers against that operation; they fail when the simulator answers a
 * request no entry names, or when an entry is never exercised.
 */
export type ServedService = "arm" | "keyVault" | "logAnalytics" | "dataPlane" | "anonymous";

export interface ServedRoute {
  readonly id: string;
  readonly service: ServedService;
  readonly method: "GET" | "POST" | "PUT" | "PATCH";
  /** Matched against the decoded path, case-insensitively (vault paths are relative to the vault URL). */
  readonly path: RegExp;
  /** `<spec file under specification/>#<operationId>`, or why the route has no published operation. */
  readonly spec: { readonly file: string; readonly operationId: string } | { readonly none: string };
}

const CS =
  "cognitiveservices/resource-manager/Microsoft.CognitiveServices/stable/2023-05-01/cognitiveservices.json";
const WEB = "web/resource-manager/Microsoft.Web/stable/2023-12-01/WebApps.json";
const KV = "keyvault/data-plane/Microsoft.KeyVault/stable/7.5/secrets.json";
const SUB = "[^/]+";
const ACCOUNT = `/subscriptions/${SUB}/resourcegroups/${SUB}/providers/microsoft\\.cognitiveservices/accounts/${SUB}`;
const SITE = `/subscriptions/${SUB}/resourcegroups/${SUB}/providers/microsoft\\.web/sites/${SUB}`;
const re = (s: string) => new RegExp(`^${s}$`, "i");

export const SERVED_ROUTES: readonly ServedRoute[] = [
  {
    id: "metadata-endpoints",
    service: "anonymous",
    method: "GET",
    path: re("/metadata/endpoints"),
    spec: { none: "ARM's cloud metadata has no OpenAPI definition; its shape is `az cloud show`'s" },
  },
  {
    id: "subscriptions-list",
    service: "arm",
    method: "GET",
    path: re("/subscriptions"),
    spec: {
      file: "resources/resource-manager/Microsoft.Resources/stable/2022-12-01/subscriptions.json",
      operationId: "Subscriptions_List",
    },
  },
  {
    id: "subscriptions-get",
    service: "arm",
    method: "GET",
    path: re(`/subscriptions/${SUB}`),
    spec: {
      file: "resources/resource-manager/Microsoft.Resources/stable/2022-12-01/subscriptions.json",
      operationId: "Subscriptions_Get",
    },
  },
  {
    id: "accounts-list",
    service: "arm",
    method: "GET",
    path: re(`/subscriptions/${SUB}/providers/microsoft\\.cognitiveservices/accounts`),
    spec: { file: CS, operationId: "Accounts_List" },
  },
  {
    id: "accounts-list-rg",
    service: "arm",
    method: "GET",
    path: re(`/subscriptions/${SUB}/resourcegroups/${SUB}/providers/microsoft\\.cognitiveservices/accounts`),
    spec: { file: CS, operationId: "Accounts_ListByResourceGroup" },
  },
  {
    id: "account-get",
    service: "arm",
    method: "GET",
    path: re(ACCOUNT),
    spec: { file: CS, operationId: "Accounts_Get" },
  },
  {
    id: "account-update",
    service: "arm",
    method: "PATCH",
    path: re(ACCOUNT),
    spec: { file: CS, operationId: "Accounts_Update" },
  },
  {
    id: "account-create",
    service: "arm",
    method: "PUT",
    path: re(ACCOUNT),
    spec: { file: CS, operationId: "Accounts_Create" },
  },
  {
    id: "list-keys",
    service: "arm",
    method: "POST",
    path: re(`${ACCOUNT}/listkeys`),
    spec: { file: CS, operationId: "Accounts_ListKeys" },
  },
  {
    id: "regenerate-key",
    service: "arm",
    method: "POST",
    path: re(`${ACCOUNT}/regeneratekey`),
    spec: { file: CS, operationId: "Accounts_RegenerateKey" },
  },
  {
    id: "metrics",
    service: "arm",
    method: "GET",
    path: re(`${ACCOUNT}/providers/microsoft\\.insights/metrics`),
    spec: {
      file: "monitor/resource-manager/Microsoft.Insights/stable/2018-01-01/metrics_API.json",
      operationId: "Metrics_List",
    },
  },
  {
    id: "activity-log",
    service: "arm",
    method: "GET",
    path: re(`/subscriptions/${SUB}/providers/microsoft\\.insights/eventtypes/management/values`),
    spec: {
      file: "monitor/resource-manager/Microsoft.Insights/stable/2015-04-01/activityLogs_API.json",
      operationId: "ActivityLogs_List",
    },
  },
  {
    id: "permissions-subscription",
    service: "arm",
    method: "GET",
    path: re(`/subscriptions/${SUB}/providers/microsoft\\.authorization/permissions`),
    // published at resource-group and resource scope only; the answer is the same PermissionGetResult
    spec: {
      file: "authorization/resource-manager/Microsoft.Authorization/stable/2022-04-01/authorization-RoleDefinitionsCalls.json",
      operationId: "Permissions_ListForResourceGroup",
    },
  },
  {
    id: "permissions-resource-group",
    service: "arm",
    method: "GET",
    path: re(`/subscriptions/${SUB}/resourcegroups/${SUB}/providers/microsoft\\.authorization/permissions`),
    spec: {
      file: "authorization/resource-manager/Microsoft.Authorization/stable/2022-04-01/authorization-RoleDefinitionsCalls.json",
      operationId: "Permissions_ListForResourceGroup",
    },
  },
  {
    id: "sites-list",
    service: "arm",
    method: "GET",
    path: re(`/subscriptions/${SUB}/providers/microsoft\\.web/sites`),
    spec: { file: WEB, operationId: "WebApps_List" },
  },
  {
    id: "sites-list-rg",
    service: "arm",
    method: "GET",
    path: re(`/subscriptions/${SUB}/resourcegroups/${SUB}/providers/microsoft\\.web/sites`),
    spec: { file: WEB, operationId: "WebApps_ListByResourceGroup" },
  },
  {
    id: "site-get",
    service: "arm",
    method: "GET",
    path: re(SITE),
    spec: { file: WEB, operationId: "WebApps_Get" },
  },
  {
    id: "site-appsettings-list",
    service: "arm",
    method: "POST",
    path: re(`${SITE}/config/appsettings/list`),
    spec: { file: WEB, operationId: "WebApps_ListApplicationSettings" },
  },
  {
    id: "site-appsettings-put",
    service: "arm",
    method: "PUT",
    path: re(`${SITE}/config/appsettings`),
    spec: { file: WEB, operationId: "WebApps_UpdateApplicationSettings" },
  },
  {
    id: "site-references",
    service: "arm",
    method: "GET",
    path: re(`${SITE}/config/configreferences/appsettings`),
    spec: { file: WEB, operationId: "WebApps_GetAppSettingsKeyVaultReferences" },
  },
  {
    id: "site-references-refresh",
    service: "arm",
    method: "POST",
    path: re(`${SITE}/config/configreferences/appsettings/refresh`),
    spec: {
      none: "the refresh of Key Vault references is documented (App Service Key Vault references page) but has no published OpenAPI operation; its answer is validated as the references collection",
    },
  },
  {
    id: "logs-query",
    service: "logAnalytics",
    method: "POST",
    path: re(`/loganalytics/v1/workspaces/${SUB}/query`),
    spec: {
      file: "operationalinsights/data-plane/Microsoft.OperationalInsights/stable/v1/OperationalInsights.json",
      operationId: "Query_Execute",
    },
  },
  {
    id: "secret-set",
    service: "keyVault",
    method: "PUT",
    path: re(`/secrets/${SUB}`),
    spec: { file: KV, operationId: "SetSecret" },
  },
  {
    id: "secret-get",
    service: "keyVault",
    method: "GET",
    path: re(`/secrets/(?!.*/versions$)${SUB}(/${SUB})?/?`),
    spec: { file: KV, operationId: "GetSecret" },
  },
  {
    id: "secrets-list",
    service: "keyVault",
    method: "GET",
    path: re("/secrets/?"),
    spec: { file: KV, operationId: "GetSecrets" },
  },
  {
    id: "secret-versions",
    service: "keyVault",
    method: "GET",
    path: re(`/secrets/${SUB}/versions`),
    spec: { file: KV, operationId: "GetSecretVersions" },
  },
  {
    id: "secret-update",
    service: "keyVault",
    method: "PATCH",
    path: re(`/secrets/${SUB}/${SUB}`),
    spec: { file: KV, operationId: "UpdateSecret" },
  },
  {
    id: "translator-languages",
    service: "dataPlane",
    method: "GET",
    path: re(`/dataplane/${SUB}/${SUB}/languages`),
    spec: { none: "Translator v3 Languages: anonymous by its documentation (checked: 200 with no key)" },
  },
  {
    id: "sts-issue-token",
    service: "dataPlane",
    method: "POST",
    path: re(`/dataplane/${SUB}/${SUB}/sts/v1\\.0/issuetoken`),
    spec: {
      none: "the token exchange is documented on the authentication page, not in an OpenAPI definition",
    },
  },
  {
    id: "data-plane-call",
    service: "dataPlane",
    method: "GET",
    path: re(`/dataplane/${SUB}/${SUB}/.+`),
    spec: {
      none: "a keyed call to the account's endpoint (e.g. GET openai/models): 200 with the key, 401 without",
    },
  },
  {
    id: "data-plane-post",
    service: "dataPlane",
    method: "POST",
    path: re(`/dataplane/${SUB}/${SUB}/.+`),
    spec: { none: "a keyed call to the account's endpoint: 200 with the key, 401 without" },
  },
];

export function servedRouteOf(service: ServedService, method: string, path: string): ServedRoute | undefined {
  const m = method.toUpperCase();
  return SERVED_ROUTES.find(
    (r) =>
      (r.service === service || (service === "arm" && r.service === "anonymous")) &&
      r.method === m &&
      r.path.test(path),
  );
}
