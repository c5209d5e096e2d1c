/**
 * The simulated tenant's state and behaviour, without HTTP: accounts whose keys really rotate,
 * vaults whose secrets really version, App Service sites that resolve Key Vault references, a
 * data plane that answers 401 to dead keys, metrics and an Activity Log fed by what happens.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import type { Scenario } from "./scenario.js";

export type Slot = "key1" | "key2";

export interface AccountState {
  id: string;
  subscriptionId: string;
  resourceGroup: string;
  name: string;
  kind: string;
  location: string;
  tags: Record<string, string>;
  disableLocalAuth: boolean;
  keyFormat: "new" | "legacy";
  keys: Record<Slot, string>;
  regenerations: Record<Slot, number>;
  createdAt: string;
}

export interface SecretVersion {
  version: string;
  value: string;
  contentType?: string;
  tags: Record<string, string>;
  enabled: boolean;
  created: number;
  updated: number;
}

export interface SiteSetting {
  reference?: { vault: string; secret: string; version?: string };
  literal?: string;
}

export interface SiteState {
  id: string;
  subscriptionId: string;
  resourceGroup: string;
  name: string;
  owner?: string;
  apiName: string;
  settings: Record<string, SiteSetting>;
  /** What the running app currently holds per setting (the resolved reference). */
  resolved: Record<string, { version?: string; value: string }>;
  lastRefresh: number;
}

export interface ExternalState {
  name: string;
  key: string;
  callerIp: string;
  apiName: string;
}

export interface ActivityRecord {
  id: string;
  at: string;
  subscriptionId: string;
  resourceId: string;
  operation: string;
  caller: string;
  callerIp: string;
  status: "Succeeded" | "Failed";
}

export interface ConsumerReport {
  name: string;
  accountId: string;
  mode: "versionless" | "pinned" | "literal" | "external";
  secretVersion?: string;
  calls: number;
  failures: number;
  lastStatus: number;
  lastFailureAt?: string;
}

interface Bucket {
  calls: number;
  ok: number;
  clientErrors: number;
  byApi: Record<
    string,
    { calls: number; ok: number; clientErrors: number; byStatus: Record<string, number> }
  >;
}

interface Persisted {
  accounts: AccountState[];
  vaults: Record<string, Record<string, SecretVersion[]>>;
  sites: SiteState[];
  external: ExternalState[];
  activity: ActivityRecord[];
  issued: string[];
}

export const accountIdOf = (sub: string, rg: string, name: string) =>
  `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.CognitiveServices/accounts/${name}`;
const siteIdOf = (sub: string, rg: string, name: string) =>
  `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Web/sites/${name}`;
const ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

export class Tenant {
  accounts: AccountState[] = [];
  vaults: Record<string, Record<string, SecretVersion[]>> = {};
  sites: SiteState[] = [];
  external: ExternalState[] = [];
  activity: ActivityRecord[] = [];
  readonly issued = new Set<string>();
  readonly reports = new Map<string, ConsumerReport>();
  readonly metrics = new Map<string, Map<number, Bucket>>(); // accountId(lower) → minute → bucket
  readonly unauthorized: { accountId: string; at: number; callerIp: string; operation: string }[] = [];
  /** Vault name → its URL (each vault listens on its own port). */
  vaultUrls: Record<string, string> = {};

  vaultUrl(name: string): string {
    return this.vaultUrls[name] ?? `https://${name}.vault.azure.net`;
  }

  vaultNameOf(url: string): string | undefined {
    const u = url.replace(/\/+$/, "").toLowerCase();
    return Object.entries(this.vaultUrls).find(([, v]) => v.toLowerCase() === u)?.[0];
  }

  constructor(
    readonly scenario: Scenario,
    private readonly stateFile?: string,
  ) {
    if (stateFile && existsSync(stateFile))
      this.#load(JSON.parse(readFileSync(stateFile, "utf8")) as Persisted);
    else this.#seed();
  }

  // ------------------------------------------------------------------ keys

  newKey(format: "new" | "legacy"): string {
    const key =
      format === "legacy"
        ? randomBytes(16).toString("hex")
        : Array.from(randomBytes(84), (b) => ALNUM[b % ALNUM.length]).join("");
    this.issued.add(key);
    return key;
  }

  account(id: string): AccountState | undefined {
    const l = id.toLowerCase();
    return this.accounts.find((a) => a.id.toLowerCase() === l);
  }

  regenerate(a: AccountState, slot: Slot, caller: string, ip: string): void {
    a.keys[slot] = this.newKey(a.keyFormat);
    a.regenerations[slot]++;
    this.record(a, "Microsoft.CognitiveServices/accounts/regenerateKey/action", caller, ip, "Succeeded");
    this.save();
  }

  record(
    a: AccountState,
    operation: string,
    caller: string,
    ip: string,
    status: "Succeeded" | "Failed",
  ): void {
    this.activity.push({
      id: randomUUID(),
      at: new Date().toISOString(),
      subscriptionId: a.subscriptionId,
      resourceId: a.id,
      operation,
      caller,
      callerIp: ip,
      status,
    });
  }

  // ------------------------------------------------------------------ Key Vault

  setSecret(
    vault: string,
    name: string,
    value: string,
    contentType: string | undefined,
    tags: Record<string, string>,
  ): SecretVersion {
    const v = (this.vaults[vault] ??= {});
    const now = Math.floor(Date.now() / 1000);
    const version: SecretVersion = {
      version: randomBytes(16).toString("hex"),
      value,
      tags,
      enabled: true,
      created: now,
      updated: now,
      ...(contentType ? { contentType } : {}),
    };
    (v[name] ??= []).push(version);
    this.save();
    return version;
  }

  secret(vault: string, name: string, version?: string): SecretVersion | undefined {
    const versions = this.vaults[vault]?.[name];
    if (!versions?.length) return undefined;
    return version ? versions.find((x) => x.version === version) : versions.at(-1);
  }

  // ------------------------------------------------------------------ consumers

  /** Re-reads a site's Key Vault references (versionless ones move to the latest version). */
  refreshSite(site: SiteState): void {
    for (const [name, setting] of Object.entries(site.settings)) {
      if (setting.reference) {
        const s = this.secret(setting.reference.vault, setting.reference.secret, setting.reference.version);
        if (s && s.enabled) site.resolved[name] = { version: s.version, value: s.value };
      } else if (setting.literal !== undefined) {
        site.resolved[name] = { value: setting.literal };
      }
    }
    site.lastRefresh = Date.now();
  }

  /** One round: versionless references past their refresh interval re-read; every consumer calls its account. */
  tick(call: (accountId: string, key: string, apiName: string, callerIp: string) => number): void {
    const now = Date.now();
    for (const site of this.sites) {
      if (now - site.lastRefresh >= this.scenario.refreshSeconds * 1000) this.refreshSite(site);
      for (const [name, held] of Object.entries(site.resolved)) {
        const account = this.accountForKey(held.value) ?? this.#accountOfSetting(site, name);
        if (!account) continue;
        const status = call(account.id, held.value, site.apiName, "10.1.0.4");
        const setting = site.settings[name]!;
        this.#report(
          `${site.name}`,
          account.id,
          setting.literal !== undefined ? "literal" : setting.reference?.version ? "pinned" : "versionless",
          status,
          held.version,
        );
      }
    }
    for (const ext of this.external) {
      const account = this.#originalAccount(ext.key);
      if (!account) continue;
      this.#report(ext.name, account.id, "external", call(account.id, ext.key, ext.apiName, ext.callerIp));
    }
  }

  accountForKey(key: string): AccountState | undefined {
    return this.accounts.find((a) => a.keys.key1 === key || a.keys.key2 === key);
  }

  /** Which account a key was issued for, even after it died (consumers keep calling that endpoint). */
  readonly #keyOwner = new Map<string, string>();
  #originalAccount(key: string): AccountState | undefined {
    const live = this.accountForKey(key);
    if (live) {
      this.#keyOwner.set(key, live.id);
      return live;
    }
    const id = this.#keyOwner.get(key);
    return id ? this.account(id) : undefined;
  }

  #accountOfSetting(site: SiteState, name: string): AccountState | undefined {
    const held = site.resolved[name];
    return held ? this.#originalAccount(held.value) : undefined;
  }

  #report(
    name: string,
    accountId: string,
    mode: ConsumerReport["mode"],
    status: number,
    version?: string,
  ): void {
    const r = this.reports.get(name) ?? { name, accountId, mode, calls: 0, failures: 0, lastStatus: 0 };
    r.calls++;
    r.lastStatus = status;
    r.mode = mode;
    if (version) r.secretVersion = version;
    if (status >= 400) {
      r.failures++;
      r.lastFailureAt = new Date().toISOString();
    }
    this.reports.set(name, r);
  }

  // ------------------------------------------------------------------ data plane and metrics

  /** The data plane's answer to a key: 200 live, 401 dead (or local auth disabled). Recorded in metrics. */
  dataPlane(accountId: string, key: string, apiName: string, callerIp: string): number {
    const a = this.account(accountId);
    if (!a) return 404;
    const ok = !a.disableLocalAuth && (a.keys.key1 === key || a.keys.key2 === key);
    if (ok) this.#keyOwner.set(key, a.id);
    const status = ok ? 200 : 401;
    const minute = Math.floor(Date.now() / 60_000) * 60_000;
    const perAccount = this.metrics.get(a.id.toLowerCase()) ?? new Map<number, Bucket>();
    this.metrics.set(a.id.toLowerCase(), perAccount);
    const b = perAccount.get(minute) ?? { calls: 0, ok: 0, clientErrors: 0, byApi: {} };
    perAccount.set(minute, b);
    const api = (b.byApi[apiName] ??= { calls: 0, ok: 0, clientErrors: 0, byStatus: {} });
    b.calls++;
    api.calls++;
    api.byStatus[String(status)] = (api.byStatus[String(status)] ?? 0) + 1;
    if (ok) {
      b.ok++;
      api.ok++;
    } else {
      b.clientErrors++;
      api.clientErrors++;
      this.unauthorized.push({ accountId: a.id, at: Date.now(), callerIp, operation: apiName });
    }
    return status;
  }

  buckets(accountId: string, from: number, to: number): [number, Bucket][] {
    const m = this.metrics.get(accountId.toLowerCase());
    if (!m) return [];
    return [...m.entries()].filter(([t]) => t + 60_000 > from && t <= to).sort((x, y) => x[0] - y[0]);
  }

  // ------------------------------------------------------------------ persistence

  save(): void {
    if (!this.stateFile) return;
    const data: Persisted = {
      accounts: this.accounts,
      vaults: this.vaults,
      sites: this.sites,
      external: this.external,
      activity: this.activity,
      issued: [...this.issued],
    };
    const tmp = `${this.stateFile}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(data));
    renameSync(tmp, this.stateFile);
  }

  #load(p: Persisted): void {
    this.accounts = p.accounts;
    this.vaults = p.vaults;
    this.sites = p.sites;
    this.external = p.external;
    this.activity = p.activity;
    for (const k of p.issued) this.issued.add(k);
  }

  #seed(): void {
    const sc = this.scenario;
    for (const a of sc.accounts) {
      this.accounts.push({
        id: accountIdOf(a.subscription, a.resourceGroup, a.name),
        subscriptionId: a.subscription,
        resourceGroup: a.resourceGroup,
        name: a.name,
        kind: a.kind,
        location: a.location,
        tags: { ...a.tags, "keyturn-sandbox": "true" },
        disableLocalAuth: a.disableLocalAuth,
        keyFormat: a.keyFormat,
        keys: { key1: this.newKey(a.keyFormat), key2: this.newKey(a.keyFormat) },
        regenerations: { key1: 0, key2: 0 },
        createdAt: new Date(Date.now() - 200 * 86_400_000).toISOString(),
      });
    }
    for (const v of sc.vaults) {
      this.vaults[v.name] = {};
      for (const s of v.secrets)
        this.setSecret(v.name, s.name, this.resolveRef(s.value), "text/plain", s.tags);
    }
    for (const s of sc.sites) {
      const settings: Record<string, SiteSetting> = {};
      for (const [name, def] of Object.entries(s.settings)) {
        if ("reference" in def) {
          const current = this.secret(def.reference.vault, def.reference.secret);
          settings[name] = {
            reference: {
              vault: def.reference.vault,
              secret: def.reference.secret,
              ...(def.reference.pinned && current ? { version: current.version } : {}),
            },
          };
        } else settings[name] = { literal: this.resolveRef(def.literal) };
      }
      const site: SiteState = {
        id: siteIdOf(s.subscription, s.resourceGroup, s.name),
        subscriptionId: s.subscription,
        resourceGroup: s.resourceGroup,
        name: s.name,
        apiName: s.apiName,
        settings,
        resolved: {},
        lastRefresh: 0,
        ...(s.owner ? { owner: s.owner } : {}),
      };
      this.refreshSite(site);
      this.sites.push(site);
    }
    this.external = sc.external.map((e) => ({
      name: e.name,
      key: this.resolveRef(e.key),
      callerIp: e.callerIp,
      apiName: e.apiName,
    }));
    for (const h of sc.activityHistory) {
      const [sub, name] = h.account.split("/");
      const a = this.accounts.find((x) => x.subscriptionId === sub && x.name === name);
      if (!a) continue;
      this.activity.push({
        id: randomUUID(),
        at: new Date(Date.now() - h.daysAgo * 86_400_000).toISOString(),
        subscriptionId: a.subscriptionId,
        resourceId: a.id,
        operation: h.operation,
        caller: h.caller,
        callerIp: h.callerIp,
        status: "Succeeded",
      });
    }
    this.save();
  }

  resolveRef(value: string): string {
    const m = /^\$key:([^/]+)\/([^/]+)\/(key1|key2)$/.exec(value);
    if (!m) return value;
    const a = this.accounts.find((x) => x.subscriptionId === m[1] && x.name === m[2]);
    if (!a) throw new Error(`scenario refers to unknown account ${m[1]}/${m[2]}`);
    return a.keys[m[3] as Slot];
  }
}
