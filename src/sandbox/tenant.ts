/**
 * The simulated tenant's state and behaviour, without HTTP: accounts whose keys really rotate,
 * vaults whose secrets really version, App Service sites that resolve Key Vault references, a
 * data plane that answers 401 to dead keys, metrics and an Activity Log fed by what happens.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { refreshSite } from "./consumers.js";
import type { Bucket } from "./dataplane.js";
import type { Scenario } from "./scenario.js";
import { readState, writeState, type PersistedState } from "./state.js";
import { FAST_TIMING, type SimTiming } from "./timing.js";

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
  nbf?: number;
  exp?: number;
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
  callerIp: string;
  settings: Record<string, SiteSetting>;
  /** Accounts the app calls with its managed identity (a Microsoft Entra token), no key. */
  entra?: string[];
  /** The object id of the app's managed identity. */
  objectId?: string;
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
  mode: "versionless" | "pinned" | "literal" | "external" | "entra";
  secretVersion?: string;
  calls: number;
  failures: number;
  lastStatus: number;
  lastFailureAt?: string;
}

/** One data-plane call as AzureDiagnostics records it (the 401s are kept across restarts). */
export interface UnauthorizedCall {
  accountId: string;
  /** TimeGenerated (ms). */
  at: number;
  /** When the row became queryable in Log Analytics (`ingestion_time()`); absent: at once. */
  ingestedAt?: number;
  callerIp: string;
  operation: string;
  apiName?: string;
  durationMs?: number;
  /** The HTTP status (absent in rows recorded before it was kept: 401 for refused, 200 for accepted). */
  status?: number;
  /** The Entra object id of a token call; "" for a key call (absent in older rows). */
  objectId?: string;
}

export const accountIdOf = (sub: string, rg: string, name: string) =>
  `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.CognitiveServices/accounts/${name}`;
const siteIdOf = (sub: string, rg: string, name: string) =>
  `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Web/sites/${name}`;
const ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/** Uniform alphanumerics: bytes at or above 248 (= 4 × 62) are dropped so `% 62` has no bias. */
function alphanumeric(length: number): string {
  let out = "";
  while (out.length < length)
    for (const b of randomBytes(length)) if (b < 248 && out.length < length) out += ALNUM[b % 62];
  return out;
}

export class Tenant {
  accounts: AccountState[] = [];
  vaults: Record<string, Record<string, SecretVersion[]>> = {};
  sites: SiteState[] = [];
  external: ExternalState[] = [];
  activity: ActivityRecord[] = [];
  readonly issued = new Set<string>();
  /** Which account each key was issued for (dead keys too: their holders keep calling that account). */
  readonly keyOwner = new Map<string, string>();
  reports: Record<string, ConsumerReport> = {};
  metrics: Record<string, Record<string, Bucket>> = {}; // accountId (lower case) → minute → counts
  unauthorized: UnauthorizedCall[] = [];
  /** Accepted calls' diagnostic rows (in memory only, the newest 20,000). */
  accepted: UnauthorizedCall[] = [];
  /**
   * How long a regenerated key keeps working on the data plane (Azure propagates a regeneration over
   * a while; 0 = at once). Old keys still accepted, with the time they stop.
   */
  keyInvalidationMs = 0;
  /** How late monitoring is, and how often App Service re-reads references by itself (see timing.ts). */
  timing: SimTiming = FAST_TIMING;

  /** When a call made at `at` becomes visible in the metrics or in Log Analytics. */
  ingestAt(kind: "metrics" | "logs", at: number): number {
    const delay = kind === "metrics" ? this.timing.metricsDelaySeconds : this.timing.logsDelaySeconds;
    if (delay <= 0 && this.timing.jitterSeconds <= 0) return at;
    return at + Math.round((delay + Math.random() * this.timing.jitterSeconds) * 1000);
  }

  /** Milliseconds between App Service's own re-reads of a versionless reference. */
  get appServiceRefreshMs(): number {
    return (this.timing.appServiceRefreshSeconds ?? this.scenario.refreshSeconds) * 1000;
  }
  readonly retiring = new Map<string, number>();
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
    const saved = readState(stateFile);
    if (saved) this.#load(saved);
    else this.#seed();
  }

  // ------------------------------------------------------------------ keys

  newKey(a: Pick<AccountState, "id" | "keyFormat">): string {
    const key = a.keyFormat === "legacy" ? randomBytes(16).toString("hex") : alphanumeric(84);
    this.issued.add(key);
    this.keyOwner.set(key, a.id);
    return key;
  }

  account(id: string): AccountState | undefined {
    const l = id.toLowerCase();
    return this.accounts.find((a) => a.id.toLowerCase() === l);
  }

  regenerate(a: AccountState, slot: Slot, caller: string, ip: string): void {
    if (this.keyInvalidationMs > 0) this.retiring.set(a.keys[slot], Date.now() + this.keyInvalidationMs);
    a.keys[slot] = this.newKey(a);
    a.regenerations[slot]++;
    this.record(a, "Microsoft.CognitiveServices/accounts/regenerateKey/action", caller, ip, "Succeeded");
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
    this.save();
  }

  // ------------------------------------------------------------------ Key Vault

  setSecret(
    vault: string,
    name: string,
    value: string,
    contentType: string | undefined,
    tags: Record<string, string>,
    attrs: { enabled?: boolean; nbf?: number; exp?: number; created?: number } = {},
  ): SecretVersion {
    const v = (this.vaults[vault] ??= {});
    const now = attrs.created ?? Math.floor(Date.now() / 1000);
    const version: SecretVersion = {
      version: randomBytes(16).toString("hex"),
      value,
      tags,
      enabled: attrs.enabled ?? true,
      created: now,
      updated: now,
      ...(contentType ? { contentType } : {}),
      ...(attrs.nbf !== undefined ? { nbf: attrs.nbf } : {}),
      ...(attrs.exp !== undefined ? { exp: attrs.exp } : {}),
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

  // ------------------------------------------------------------------ persistence

  save(): void {
    if (!this.stateFile) return;
    writeState(this.stateFile, {
      accounts: this.accounts,
      vaults: this.vaults,
      sites: this.sites,
      external: this.external,
      activity: this.activity,
      issued: [...this.issued],
      keyOwner: [...this.keyOwner],
      reports: this.reports,
      metrics: this.metrics,
      unauthorized: this.unauthorized,
    });
  }

  #load(p: PersistedState): void {
    this.accounts = p.accounts;
    this.vaults = p.vaults;
    this.sites = p.sites;
    this.external = p.external;
    this.activity = p.activity;
    this.reports = p.reports;
    this.metrics = p.metrics;
    this.unauthorized = p.unauthorized;
    for (const k of p.issued) this.issued.add(k);
    for (const [k, v] of p.keyOwner) this.keyOwner.set(k, v);
  }

  #seed(): void {
    const sc = this.scenario;
    for (const a of sc.accounts) {
      const id = accountIdOf(a.subscription, a.resourceGroup, a.name);
      this.accounts.push({
        id,
        subscriptionId: a.subscription,
        resourceGroup: a.resourceGroup,
        name: a.name,
        kind: a.kind,
        location: a.location,
        tags: { ...a.tags, "keyturn-sandbox": "true" },
        disableLocalAuth: a.disableLocalAuth,
        keyFormat: a.keyFormat,
        keys: {
          key1: this.newKey({ id, keyFormat: a.keyFormat }),
          key2: this.newKey({ id, keyFormat: a.keyFormat }),
        },
        regenerations: { key1: 0, key2: 0 },
        createdAt: new Date(Date.now() - 200 * 86_400_000).toISOString(),
      });
    }
    for (const v of sc.vaults) {
      this.vaults[v.name] = {};
      for (const s of v.secrets)
        // the tenant's secrets predate keyturn: their versions were written when the keys were last set
        this.setSecret(v.name, s.name, this.resolveRef(s.value), "text/plain", s.tags, {
          created: Math.floor(Date.now() / 1000) - 30 * 86_400,
        });
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
        callerIp: s.callerIp,
        settings,
        resolved: {},
        lastRefresh: 0,
        ...(s.owner ? { owner: s.owner } : {}),
      };
      refreshSite(this, site);
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
