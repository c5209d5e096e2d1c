/**
 * The blast radius of an account's keys: Key Vault secrets holding a slot, App Service references
 * and literal copies, Activity Log listKeys callers, traffic by ApiName, consumers declared by hand.
 * A source that cannot be read is listed in `unseen` with the reason, never fatal.
 */
import type {
  Account,
  Consumer,
  Inventory,
  KeyFingerprints,
  KeySlot,
  ServiceTraffic,
} from "../core/domain.js";
import { isKeyturnError } from "../core/errors.js";
import type {
  AccountsPort,
  Clock,
  DeclaredConsumer,
  InventoryPort,
  Logger,
  SecretsPort,
  SecretVersionInfo,
  TelemetryPort,
} from "../core/ports.js";
import type { SiteSetting, Sites } from "./sites.js";
import { fingerprintOf } from "../core/secret.js";
import { isKnownHolder, type KnownHolders } from "../core/known-holders.js";

const LIST_KEYS = "Microsoft.CognitiveServices/accounts/listKeys/action";
const CACHE_MS = 10_000;

export interface InventoryDeps {
  readonly accounts: AccountsPort;
  readonly secrets: SecretsPort;
  readonly telemetry: TelemetryPort;
  readonly sites: Sites;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly declared?: (accountId: string) => Promise<readonly DeclaredConsumer[]>;
  /**
   * Holders keyturn's record knows (delivered to by a completed rotation, or declared): the rest are
   * marked NEW. Absent: no holder is marked either way.
   */
  readonly known?: (accountId: string) => Promise<KnownHolders>;
  /** keyturn's own caller name in the Activity Log (its listKeys calls are not consumers). */
  readonly selfCallers?: readonly string[];
  /** How long one listing of secrets and App Service settings serves (ms, default 10 s). */
  readonly cacheMs?: number;
}

export class AzureInventory implements InventoryPort {
  #secretCache: { at: number; entries: Promise<{ info: SecretVersionInfo; fingerprint: string }[]> } | null =
    null;
  #siteCache: { at: number; settings: Promise<SiteSetting[]> } | null = null;
  /** Fingerprints of secrets' current versions, read once each: a version's value never changes. */
  readonly #fingerprints = new Map<
    string,
    { info: SecretVersionInfo; fingerprint: string; readAt: number }
  >();

  constructor(private readonly d: InventoryDeps) {}

  async take(account: Account): Promise<Inventory> {
    const takenAt = this.d.clock.now().toISOString();
    if (account.disableLocalAuth) {
      return {
        accountId: account.id,
        takenAt,
        keyFree: true,
        fingerprints: null,
        activeSlot: null,
        consumers: [],
        services: [],
        unseen: [],
      };
    }
    const unseen: string[] = [];
    const keys = await this.d.accounts.listKeys(account.id);
    const fp: KeyFingerprints = { key1: keys.key1.fingerprint, key2: keys.key2.fingerprint };
    const slotOf = (f: string): KeySlot | null => (f === fp.key1 ? "key1" : f === fp.key2 ? "key2" : null);
    const consumers: Consumer[] = [];
    const matched = new Map<string, KeySlot>(); // vaultUrl/name -> slot

    const secrets = await this.#secrets().catch(
      (e: unknown) => (unseen.push(`Key Vault secrets: ${why(e)}`), []),
    );
    for (const s of secrets) {
      const slot = slotOf(s.fingerprint);
      const tagged = s.info.tags["keyturn-account"]?.toLowerCase() === account.id.toLowerCase();
      if (!slot && !tagged) continue;
      matched.set(`${s.info.locator.vaultUrl}/${s.info.locator.name}`.toLowerCase(), slot ?? "key1");
      consumers.push({
        id: `kv:${hostOf(s.info.locator.vaultUrl)}/${s.info.locator.name}`,
        name: `Key Vault secret ${s.info.locator.name}`,
        source: slot ? "keyvault-secret" : "keyvault-tagged",
        slot: slot ?? "unknown",
        reload: "versionless",
        secret: { vaultUrl: s.info.locator.vaultUrl, name: s.info.locator.name },
        firstSeen: { createdAt: s.info.createdOn, createdBy: taggedCreator(s.info.tags) },
        evidence: slot
          ? `its current version holds ${slot} (${s.fingerprint})`
          : `tagged keyturn-account for this account, but holds neither key (${s.fingerprint})`,
      });
    }

    const settings = await this.#sites().catch(
      (e: unknown) => (unseen.push(`App Service settings: ${why(e)}`), []),
    );
    for (const s of settings) {
      const id = `site:${s.siteName}/${s.name}`;
      if (s.reference) {
        const key = `${s.reference.vaultUrl.replace(/\/+$/, "")}/${s.reference.name}`.toLowerCase();
        if (!matched.has(key)) continue;
        let slot: KeySlot | "unknown" = matched.get(key)!;
        if (s.reference.version) {
          const v = await this.d.secrets.getSecret(s.reference).catch(() => null);
          slot = v ? (slotOf(v.value.fingerprint) ?? "unknown") : "unknown";
        }
        consumers.push({
          id,
          name: s.siteName,
          source: "app-setting-reference",
          slot,
          reload: s.reference.version ? "pinned" : "refreshable",
          ...(s.owner ? { owner: s.owner } : {}),
          secret: s.reference,
          siteId: s.siteId,
          settingName: s.name,
          ...(s.callerIps ? { callerIps: s.callerIps } : {}),
          evidence: `app setting ${s.name} references ${s.reference.name}${s.reference.version ? ` pinned to version ${s.reference.version}` : " (versionless)"}`,
        });
      } else if (s.literal) {
        const slot = slotOf(fingerprintOf(s.literal));
        if (!slot) continue;
        consumers.push({
          id,
          name: s.siteName,
          source: "app-setting-literal",
          slot,
          reload: "manual",
          ...(s.owner ? { owner: s.owner } : {}),
          siteId: s.siteId,
          settingName: s.name,
          ...(s.callerIps ? { callerIps: s.callerIps } : {}),
          evidence: `app setting ${s.name} holds a literal copy of ${slot}: it must be updated by hand`,
        });
      }
    }

    const now = this.d.clock.now();
    try {
      const events = await this.d.telemetry.activityLog(account.id, {
        from: new Date(now.getTime() - 90 * 86_400_000),
        to: now,
        operations: [LIST_KEYS],
      });
      const self = new Set((this.d.selfCallers ?? []).map((x) => x.toLowerCase()));
      const callers = new Map<string, { at: string; ip?: string | undefined }>();
      for (const e of events)
        if (!self.has(e.caller.toLowerCase())) callers.set(e.caller, { at: e.at, ip: e.callerIp });
      for (const [caller, last] of callers) {
        consumers.push({
          id: `caller:${caller}`,
          name: caller,
          source: "listkeys-caller",
          slot: "unknown",
          reload: "unknown",
          evidence: `called listKeys on ${last.at.slice(0, 10)}${last.ip ? ` from ${last.ip}` : ""}: may hold an unmanaged copy`,
        });
      }
    } catch (e) {
      unseen.push(`Activity Log (listKeys callers, 90 days): ${why(e)}`);
    }

    let services: ServiceTraffic[] = [];
    try {
      const series = await this.d.telemetry.metrics(account.id, {
        from: new Date(now.getTime() - 86_400_000),
        to: now,
        names: ["TotalCalls"],
        splitBy: "ApiName",
        intervalMinutes: 60,
      });
      const by = new Map<string, number>();
      for (const s of series) {
        const api = Object.values(s.dimension ?? {})[0] ?? "all";
        by.set(api, (by.get(api) ?? 0) + s.points.reduce((a, p) => a + p.total, 0));
      }
      services = [...by.entries()]
        .map(([apiName, calls]) => ({ apiName, calls }))
        .sort((a, b) => b.calls - a.calls);
    } catch (e) {
      unseen.push(`Traffic by ApiName (metrics): ${why(e)}`);
    }

    for (const c of (await this.d.declared?.(account.id)) ?? []) {
      consumers.push({
        id: `declared:${c.name}`,
        name: c.name,
        source: "declared",
        slot: "unknown",
        reload: c.reload,
        owner: c.owner,
        ...(c.secret ? { secret: c.secret } : {}),
        evidence: `declared by ${c.addedBy} on ${c.addedAt.slice(0, 10)}`,
      });
    }

    const used = new Set(
      consumers.map((c) => c.slot).filter((s): s is KeySlot => s === "key1" || s === "key2"),
    );
    const activeSlot = used.size === 1 ? [...used][0]! : null;
    const known = await this.d.known?.(account.id);
    return {
      accountId: account.id,
      takenAt,
      keyFree: false,
      fingerprints: fp,
      activeSlot,
      consumers: known ? consumers.map((c) => markKnown(c, known)) : consumers,
      services,
      unseen,
    };
  }

  #secrets(): Promise<{ info: SecretVersionInfo; fingerprint: string }[]> {
    const now = Date.now();
    if (this.#secretCache && now - this.#secretCache.at < (this.d.cacheMs ?? CACHE_MS))
      return this.#secretCache.entries;
    const entries = (async () => {
      const list = await this.d.secrets.listSecrets();
      const out: { info: SecretVersionInfo; fingerprint: string }[] = [];
      const read = async (info: SecretVersionInfo) => {
        const key = secretKey(info);
        const known = this.#fingerprints.get(key);
        if (known && unchangedSince(info, known))
          return {
            info: { ...known.info, tags: info.tags, enabled: info.enabled },
            fingerprint: known.fingerprint,
          };
        const readAt = Date.now();
        const s = await this.d.secrets
          .getSecret({ vaultUrl: info.locator.vaultUrl, name: info.locator.name })
          .catch(() => null);
        if (!s) return null;
        this.#fingerprints.set(key, { info: s.info, fingerprint: s.value.fingerprint, readAt });
        return { info: s.info, fingerprint: s.value.fingerprint };
      };
      for (let i = 0; i < list.length; i += 8) {
        const batch = await Promise.all(list.slice(i, i + 8).map(read));
        for (const b of batch) if (b) out.push(b);
      }
      const listed = new Set(list.map(secretKey));
      for (const k of this.#fingerprints.keys()) if (!listed.has(k)) this.#fingerprints.delete(k);
      return out;
    })();
    this.#secretCache = { at: now, entries };
    entries.catch(() => (this.#secretCache = null));
    return entries;
  }

  #sites(): Promise<SiteSetting[]> {
    const now = Date.now();
    if (this.#siteCache && now - this.#siteCache.at < (this.d.cacheMs ?? CACHE_MS))
      return this.#siteCache.settings;
    const settings = this.d.sites.settings();
    this.#siteCache = { at: now, settings };
    settings.catch(() => (this.#siteCache = null));
    return settings;
  }

  /** Forget cached listings (after keyturn itself changed secrets). */
  invalidate(): void {
    this.#secretCache = null;
    this.#siteCache = null;
  }
}

/** Holders that can receive a key (a secret, a literal copy, a declared consumer) are known or NEW. */
function markKnown(c: Consumer, known: KnownHolders): Consumer {
  if (!c.secret && c.source !== "app-setting-literal" && c.source !== "declared") return c;
  return { ...c, known: c.source === "declared" || isKnownHolder(known, c) };
}

/**
 * Key Vault does not record who wrote a secret (only its diagnostic logs do): a `created-by` tag is
 * shown when present, as what it is, a claim anyone with tag-write can make.
 */
function taggedCreator(tags: Readonly<Record<string, string>>): string | null {
  const by = tags["created-by"] ?? tags.createdBy;
  return by ? `${by.slice(0, 120)} (per its created-by tag, unverified)` : null;
}

const secretKey = (info: SecretVersionInfo) => `${info.locator.vaultUrl}/${info.locator.name}`.toLowerCase();

/**
 * A listed secret whose current version has the creation time of the one read before is that version,
 * unless both were created within the same second: a value read well after its version's creation
 * time (a minute covers clock skew) cannot belong to an older version with the same timestamp.
 */
function unchangedSince(
  listed: SecretVersionInfo,
  known: { info: SecretVersionInfo; readAt: number },
): boolean {
  if (!listed.createdOn || listed.createdOn !== known.info.createdOn) return false;
  return known.readAt - Date.parse(listed.createdOn) > 60_000;
}

const hostOf = (url: string) => {
  try {
    const u = new URL(url);
    return u.hostname.split(".")[0] === "127" || u.hostname === "localhost"
      ? `${u.hostname}:${u.port}`
      : u.hostname.split(".")[0]!;
  } catch {
    return url;
  }
};

const why = (e: unknown) => (isKeyturnError(e) ? e.userMessage : e instanceof Error ? e.message : String(e));
