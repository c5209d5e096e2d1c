/**
 * The simulated consumers: App Service sites that resolve Key Vault references (versionless ones
 * re-read the latest version only when the refresh endpoint is called or, by themselves, every
 * `appServiceRefreshSeconds` — Azure: within 24 h; pinned ones keep theirs), literal copies, and
 * external holders nobody declared. Each round, every one of them calls its account's data plane.
 */
import type { ConsumerReport, SiteState, Tenant } from "./tenant.js";
import { callDataPlane } from "./dataplane.js";

/** Re-reads a site's settings: references resolve to their version (or the latest), literals stay. */
export function refreshSite(t: Tenant, site: SiteState): void {
  for (const [name, setting] of Object.entries(site.settings)) {
    if (setting.reference) {
      const s = t.secret(setting.reference.vault, setting.reference.secret, setting.reference.version);
      // a missing or disabled version leaves the app on what it already holds, as App Service does
      if (s && s.enabled) site.resolved[name] = { version: s.version, value: s.value };
    } else if (setting.literal !== undefined) {
      site.resolved[name] = { value: setting.literal };
    }
  }
  site.lastRefresh = Date.now();
}

export function tick(t: Tenant): void {
  const now = Date.now();
  for (const site of t.sites) {
    if (now - site.lastRefresh >= t.appServiceRefreshMs) refreshSite(t, site);
    for (const [name, held] of Object.entries(site.resolved)) {
      const account = accountOfKey(t, held.value);
      if (!account) continue;
      const setting = site.settings[name];
      const mode =
        setting?.literal !== undefined ? "literal" : setting?.reference?.version ? "pinned" : "versionless";
      const status = callDataPlane(t, account, held.value, {
        apiName: site.apiName,
        operation: site.apiName,
        callerIp: site.callerIp,
      });
      report(t, site.name, account, mode, status, held.version);
    }
    for (const account of site.entra ?? []) {
      const status = callDataPlane(t, account, "", {
        apiName: site.apiName,
        operation: site.apiName,
        callerIp: site.callerIp,
        objectId: site.objectId ?? "",
      });
      report(t, site.name, account, "entra", status);
    }
  }
  for (const ext of t.external) {
    const account = accountOfKey(t, ext.key);
    if (!account) continue;
    report(
      t,
      ext.name,
      account,
      "external",
      callDataPlane(t, account, ext.key, {
        apiName: ext.apiName,
        operation: ext.apiName,
        callerIp: ext.callerIp,
      }),
    );
  }
}

/** The account a key was issued for, even after it died: its holder keeps calling that endpoint. */
function accountOfKey(t: Tenant, key: string): string | undefined {
  const live = t.accounts.find((a) => a.keys.key1 === key || a.keys.key2 === key);
  if (live) {
    t.keyOwner.set(key, live.id);
    return live.id;
  }
  return t.keyOwner.get(key);
}

function report(
  t: Tenant,
  name: string,
  accountId: string,
  mode: ConsumerReport["mode"],
  status: number,
  version?: string,
): void {
  const r =
    t.reports[name] ?? (t.reports[name] = { name, accountId, mode, calls: 0, failures: 0, lastStatus: 0 });
  r.calls++;
  r.lastStatus = status;
  r.mode = mode;
  r.accountId = accountId;
  if (version) r.secretVersion = version;
  if (status >= 400) {
    r.failures++;
    r.lastFailureAt = new Date().toISOString();
  }
}

/**
 * The app moves to its managed identity: every setting that holds one of an account's keys (a Key
 * Vault reference or a literal) is removed, and from now on the app calls that account with a token.
 */
export function useEntra(t: Tenant, site: SiteState): string[] {
  const moved: string[] = [];
  for (const [name, held] of Object.entries(site.resolved)) {
    const account = t.accounts.find((a) => a.keys.key1 === held.value || a.keys.key2 === held.value);
    if (!account) continue;
    delete site.settings[name];
    delete site.resolved[name];
    site.entra = [...new Set([...(site.entra ?? []), account.id])];
    moved.push(name);
  }
  site.objectId ??= `0000${Buffer.from(site.name).toString("hex").padEnd(28, "0").slice(0, 28)}`.replace(
    /^(.{8})(.{4})(.{4})(.{4})(.{12})$/,
    "$1-$2-$3-$4-$5",
  );
  return moved;
}
