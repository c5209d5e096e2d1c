/**
 * An Azure whose whole state lives in ONE JSON file: accounts with their keys, Key Vault secrets
 * with versions, App Service consumers, data-plane traffic, an append-only operation log and armed
 * faults. Every call reads the file and every change rewrites it atomically (temp file, fsync,
 * rename, under a lock file), so processes that follow each other — a runner SIGKILLed in the middle
 * of an effect, then restarted — and the test process itself all see one consistent Azure.
 * It behaves: regenerating really replaces a key, old keys answer 401, secrets version on publish.
 */
import {
  closeSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { dirname } from "node:path";
import { randomBytes } from "node:crypto";
import type { Account, Consumer, KeySlot } from "../../src/core/domain.js";
import { KeyturnError, type ErrorCode } from "../../src/core/errors.js";
import type { AzurePorts, Clock, KeyPair, MetricSeries, SecretVersionInfo } from "../../src/core/ports.js";
import { fingerprintOf, SecretValue } from "../../src/core/secret.js";

export type FileAzureOp =
  | "listAccounts"
  | "getAccount"
  | "listKeys"
  | "regenerateKey"
  | "listSecrets"
  | "getSecret"
  | "publish"
  | "listVersions"
  | "metrics"
  | "activityLog"
  | "unauthorizedCallers"
  | "probe"
  | "refresh"
  | "activeVersion"
  | "inventory";

/**
 * A fault armed through the file, so a test can arm it for a child process. `hang` waits `ms`
 * (default AFTER the effect is written: Azure did it, the caller has not heard — the moment to
 * SIGKILL); `fail` throws a KeyturnError (default BEFORE the effect: Azure refused). `match` limits
 * it to targets containing that text (account id, secret name); `times` defaults to 1.
 */
export type FileAzureFault = {
  op: FileAzureOp;
  match?: string;
  phase?: "before" | "after";
  times?: number;
} & ({ kind: "hang"; ms: number } | { kind: "fail"; code: ErrorCode; message?: string });

export interface FileAccount {
  account: Account;
  key1: string;
  key2: string;
}
export interface FileSecretVersion {
  version: string;
  value: string;
  createdOn: string;
  enabled: boolean;
  tags: Record<string, string>;
}
export interface FileSecret {
  vaultUrl: string;
  name: string;
  versions: FileSecretVersion[];
}
export interface FileConsumer {
  siteName: string;
  siteId: string;
  settingName: string;
  accountId: string;
  owner?: string;
  callerIp: string;
  reference?: { vaultUrl: string; name: string; version?: string };
  literal?: string;
  /** The secret version a reference currently resolves to (App Service `activeVersion`). */
  activeVersion?: string;
}
export interface FileCall {
  at: string;
  accountId: string;
  status: number;
  callerIp: string;
  operation: string;
}
export interface FileOperation {
  seq: number;
  at: string;
  op: FileAzureOp;
  target: string;
  detail?: Record<string, string>;
}

export interface FileAzureState {
  version: 1;
  accounts: FileAccount[];
  secrets: FileSecret[];
  consumers: FileConsumer[];
  /** regenerations[accountId][slot]: how often Azure really regenerated it (a double regenerate shows here). */
  regenerations: Record<string, Record<KeySlot, number>>;
  /** Every key value ever issued, for secret scans of everything keyturn wrote. */
  issuedKeys: { accountId: string; slot: KeySlot; value: string; at: string }[];
  calls: FileCall[];
  operations: FileOperation[];
  faults: (FileAzureFault & { remaining: number })[];
}

// ------------------------------------------------------------------ the file

export function readFileAzure(path: string): FileAzureState {
  return JSON.parse(readFileSync(path, "utf8")) as FileAzureState;
}

/** Read-modify-write under the lock; `fn` mutates the state and must not await. */
export function updateFileAzure<T>(path: string, fn: (s: FileAzureState) => T): T {
  return withFileLock(path + ".lock", () => {
    const s = readFileAzure(path);
    const out = fn(s);
    writeAtomically(path, JSON.stringify(s, null, 1));
    return out;
  });
}

export function armFault(path: string, fault: FileAzureFault): void {
  updateFileAzure(path, (s) => void s.faults.push({ ...fault, remaining: fault.times ?? 1 }));
}

function writeAtomically(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, "w");
  try {
    writeSync(fd, text);
    fsyncSync(fd); // the bytes are on disk before the name points at them
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  const dir = openSync(dirname(path), "r");
  try {
    fsyncSync(dir); // and the rename itself survives
  } finally {
    closeSync(dir);
  }
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * A lock file holding the owner's pid, so read-modify-write is safe across processes. A lock left by
 * a process that died (SIGKILL) is taken over. Two waiters that both see the dead owner could race
 * to take it over; durability tests run their processes one after another, which this is for.
 */
function withFileLock<T>(lock: string, fn: () => T): T {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const fd = openSync(lock, "wx");
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      if (ownerIsGone(lock)) {
        unlinkQuietly(lock);
        continue;
      }
      if (Date.now() > deadline)
        throw new Error(`file-azure: ${lock} has been held by a live process for 10 s`, { cause: e });
      Atomics.wait(pause, 0, 0, 2); // a synchronous 2 ms nap: the whole port is synchronous file I/O
    }
  }
  try {
    return fn();
  } finally {
    unlinkQuietly(lock);
  }
}

function ownerIsGone(lock: string): boolean {
  try {
    const pid = Number(readFileSync(lock, "utf8"));
    // no pid yet: being created now, or its creator died between open and write
    if (!pid) return Date.now() - statSync(lock).mtimeMs > 1000;
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "ESRCH";
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone: nothing to release
  }
}

// ------------------------------------------------------------------ seeding

const BASE62 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/** 84 characters like a current Azure AI services key. */
export const newKey = (): string => [...randomBytes(84)].map((b) => BASE62[b % 62]).join("");
const newVersion = (): string => randomBytes(16).toString("hex");

export const SUB_PROD = "00000000-0000-4000-8000-0000000000a1";
export const SUB_DEV = "00000000-0000-4000-8000-0000000000b2";
export const VAULT = "https://contoso-kv.vault.azure.net";
export const accountIdOf = (sub: string, rg: string, name: string): string =>
  `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.CognitiveServices/accounts/${name}`;

/**
 * Two accounts and their consumers: contoso-translator (key1 in translator-key, read by site
 * translator-web through a versionless, refreshable reference) and fabrikam-ai (key1 in
 * fabrikam-key, and a literal copy in site fabrikam-app that someone must update by hand).
 */
export function seedFileAzure(path: string, opts: { now?: Date } = {}): FileAzureState {
  const at = (opts.now ?? new Date()).toISOString();
  const acc = (
    sub: string,
    rg: string,
    name: string,
    kind: string,
    tags: Record<string, string>,
  ): FileAccount => ({
    account: {
      id: accountIdOf(sub, rg, name),
      subscriptionId: sub,
      resourceGroup: rg,
      name,
      kind,
      location: "westeurope",
      endpoint: `https://${name}.cognitiveservices.azure.com/`,
      disableLocalAuth: false,
      provisioningState: "Succeeded",
      tags,
    },
    key1: newKey(),
    key2: newKey(),
  });
  const translator = acc(SUB_PROD, "rg-ai-prod", "contoso-translator", "TextTranslation", {
    environment: "production",
    owner: "team-lang@contoso.com",
  });
  const fabrikam = acc(SUB_DEV, "rg-ai-dev", "fabrikam-ai", "AIServices", {
    environment: "dev",
    owner: "team-fab@contoso.com",
  });
  const secret = (name: string, value: string): FileSecret => ({
    vaultUrl: VAULT,
    name,
    versions: [{ version: newVersion(), value, createdOn: at, enabled: true, tags: {} }],
  });
  const secrets = [secret("translator-key", translator.key1), secret("fabrikam-key", fabrikam.key1)];
  const site = (sub: string, name: string) =>
    `/subscriptions/${sub}/resourceGroups/rg-apps/providers/Microsoft.Web/sites/${name}`;
  const state: FileAzureState = {
    version: 1,
    accounts: [translator, fabrikam],
    secrets,
    consumers: [
      {
        siteName: "translator-web",
        siteId: site(SUB_PROD, "translator-web"),
        settingName: "TRANSLATOR_KEY",
        accountId: translator.account.id,
        owner: "team-lang@contoso.com",
        callerIp: "10.0.1.4",
        reference: { vaultUrl: VAULT, name: "translator-key" },
        activeVersion: secrets[0]!.versions[0]!.version,
      },
      {
        siteName: "fabrikam-app",
        siteId: site(SUB_DEV, "fabrikam-app"),
        settingName: "FABRIKAM_KEY",
        accountId: fabrikam.account.id,
        owner: "team-fab@contoso.com",
        callerIp: "10.0.2.7",
        literal: fabrikam.key1,
      },
    ],
    regenerations: Object.fromEntries(
      [translator, fabrikam].map((a) => [a.account.id, { key1: 0, key2: 0 }]),
    ),
    issuedKeys: [translator, fabrikam].flatMap((a) =>
      (["key1", "key2"] as const).map((slot) => ({ accountId: a.account.id, slot, value: a[slot], at })),
    ),
    calls: [],
    operations: [],
    faults: [],
  };
  updateFileAzureInit(path, state);
  return state;
}

function updateFileAzureInit(path: string, state: FileAzureState): void {
  withFileLock(path + ".lock", () => writeAtomically(path, JSON.stringify(state, null, 1)));
}

/** Every key value Azure ever issued, every secret version and literal copy: what a scan must not find. */
export function allKeyValues(s: FileAzureState): string[] {
  return [
    ...new Set([
      ...s.issuedKeys.map((k) => k.value),
      ...s.secrets.flatMap((x) => x.versions.map((v) => v.value)),
      ...s.consumers.flatMap((c) => (c.literal ? [c.literal] : [])),
    ]),
  ];
}

/**
 * One round of traffic: every consumer calls its account with the key it holds now (the secret
 * version its reference resolves to, or its literal copy). A consumer left on a dead key gets 401s.
 */
export function simulateTraffic(path: string, at: Date = new Date()): void {
  updateFileAzure(path, (s) => {
    for (const c of s.consumers) {
      const acc = s.accounts.find((a) => sameId(a.account.id, c.accountId));
      if (!acc) continue;
      const held =
        c.literal ??
        (c.reference
          ? findVersion(s, c.reference.vaultUrl, c.reference.name, c.reference.version ?? c.activeVersion)
              ?.value
          : undefined);
      const status = held !== undefined && (held === acc.key1 || held === acc.key2) ? 200 : 401;
      s.calls.push({
        at: at.toISOString(),
        accountId: acc.account.id,
        status,
        callerIp: c.callerIp,
        operation: "Translate",
      });
    }
  });
}

// ------------------------------------------------------------------ the ports

export function createFileAzure(
  path: string,
  opts: { clock?: Clock; caller?: string; label?: string } = {},
): AzurePorts {
  const clock = opts.clock ?? { now: () => new Date() };
  const caller = opts.caller ?? "keyturn";
  const now = () => clock.now().toISOString();
  const log = (s: FileAzureState, op: FileAzureOp, target: string, detail?: Record<string, string>) =>
    s.operations.push({ seq: s.operations.length + 1, at: now(), op, target, ...(detail ? { detail } : {}) });

  /** Runs one call: faults armed for `before`, the effect (written only if it writes), faults for `after`. */
  async function call<T>(
    op: FileAzureOp,
    target: string,
    effect: (s: FileAzureState) => T,
    writes: boolean,
  ): Promise<T> {
    await fault(op, target, "before");
    const out = writes ? updateFileAzure(path, effect) : effect(readFileAzure(path));
    await fault(op, target, "after");
    return out;
  }

  async function fault(op: FileAzureOp, target: string, phase: "before" | "after"): Promise<void> {
    const applies = (f: FileAzureFault & { remaining: number }) =>
      f.op === op &&
      f.remaining > 0 &&
      (f.phase ?? (f.kind === "hang" ? "after" : "before")) === phase &&
      (!f.match || target.toLowerCase().includes(f.match.toLowerCase()));
    if (!readFileAzure(path).faults.some(applies)) return; // no lock, no write on the common path
    const f = updateFileAzure(path, (s) => {
      const hit = s.faults.find(applies);
      if (!hit) return undefined;
      hit.remaining -= 1;
      log(s, op, target, {
        fault: hit.kind,
        phase,
        ...(hit.kind === "hang" ? { ms: String(hit.ms) } : { code: hit.code }),
      });
      return { ...hit };
    });
    if (f?.kind === "hang") await new Promise((r) => setTimeout(r, f.ms));
    if (f?.kind === "fail")
      throw new KeyturnError(
        f.code,
        f.message ??
          `Azure failed ${op} on ${target} (a fault armed in the test's Azure); resume to try again.`,
      );
  }

  const accountIn = (s: FileAzureState, id: string): FileAccount => {
    const a = s.accounts.find((x) => sameId(x.account.id, id));
    if (!a)
      throw new KeyturnError(
        "azure_not_found",
        `Azure does not know ${id}: was it deleted or moved? Check the name and subscription.`,
      );
    return a;
  };
  const keysOf = (a: FileAccount): KeyPair => ({
    key1: new SecretValue(a.key1),
    key2: new SecretValue(a.key2),
  });
  const secretIn = (s: FileAzureState, vaultUrl: string, name: string): FileSecret => {
    const x = s.secrets.find(
      (y) => sameVault(y.vaultUrl, vaultUrl) && y.name.toLowerCase() === name.toLowerCase(),
    );
    if (!x)
      throw new KeyturnError(
        "azure_not_found",
        `Key Vault ${vaultUrl} has no secret ${name}: check the name, or declare where the key lives.`,
      );
    return x;
  };
  const info = (x: FileSecret, v: FileSecretVersion): SecretVersionInfo => ({
    locator: { vaultUrl: x.vaultUrl, name: x.name, version: v.version },
    enabled: v.enabled,
    createdOn: v.createdOn,
    tags: v.tags,
  });
  const site = (s: FileAzureState, c: Consumer) =>
    s.consumers.find((x) => x.siteId === c.siteId && x.settingName === c.settingName);

  return {
    ...(opts.label ? { label: opts.label } : {}),
    accounts: {
      listAccounts: () => call("listAccounts", "*", (s) => s.accounts.map((a) => a.account), false),
      getAccount: (id) => call("getAccount", id, (s) => accountIn(s, id).account, false),
      listKeys: (id) =>
        call(
          "listKeys",
          id,
          (s) => {
            const a = accountIn(s, id);
            if (a.account.disableLocalAuth)
              throw new KeyturnError(
                "key_free",
                `${a.account.name} has disableLocalAuth=true: there are no keys to list.`,
              );
            log(s, "listKeys", a.account.id, { caller });
            return keysOf(a);
          },
          true,
        ),
      regenerateKey: (id, slot) =>
        call(
          "regenerateKey",
          id,
          (s) => {
            const a = accountIn(s, id);
            const before = fingerprintOf(a[slot]);
            a[slot] = newKey();
            s.issuedKeys.push({ accountId: a.account.id, slot, value: a[slot], at: now() });
            const counts = (s.regenerations[a.account.id] ??= { key1: 0, key2: 0 });
            counts[slot] += 1;
            log(s, "regenerateKey", a.account.id, { caller, slot, before, after: fingerprintOf(a[slot]) });
            return keysOf(a);
          },
          true,
        ),
    },
    secrets: {
      listSecrets: () =>
        call("listSecrets", "*", (s) => s.secrets.map((x) => info(x, x.versions.at(-1)!)), false),
      getSecret: (loc) =>
        call(
          "getSecret",
          loc.name,
          (s) => {
            const x = secretIn(s, loc.vaultUrl, loc.name);
            const v = loc.version ? x.versions.find((y) => y.version === loc.version) : x.versions.at(-1);
            if (!v)
              throw new KeyturnError(
                "azure_not_found",
                `Secret ${loc.name} has no version ${loc.version}: check the reference.`,
              );
            return { value: new SecretValue(v.value), info: info(x, v) };
          },
          false,
        ),
      publish: (loc, value, tags) =>
        call(
          "publish",
          loc.name,
          (s) => {
            let x = s.secrets.find(
              (y) => sameVault(y.vaultUrl, loc.vaultUrl) && y.name.toLowerCase() === loc.name.toLowerCase(),
            );
            if (!x)
              s.secrets.push(
                (x = { vaultUrl: loc.vaultUrl.replace(/\/+$/, ""), name: loc.name, versions: [] }),
              );
            const v: FileSecretVersion = {
              version: newVersion(),
              value: value.reveal(),
              createdOn: now(),
              enabled: true,
              tags: { ...tags },
            };
            x.versions.push(v);
            log(s, "publish", x.name, { version: v.version, fingerprint: value.fingerprint });
            return info(x, v);
          },
          true,
        ),
      listVersions: (loc) =>
        call(
          "listVersions",
          loc.name,
          (s) => {
            const x = secretIn(s, loc.vaultUrl, loc.name);
            return x.versions.map((v) => info(x, v));
          },
          false,
        ),
    },
    telemetry: {
      metrics: (id, q) =>
        call(
          "metrics",
          id,
          (s) =>
            metricsOf(
              s.calls.filter((c) => sameId(c.accountId, id)),
              q,
            ),
          false,
        ),
      activityLog: (id, q) =>
        call(
          "activityLog",
          id,
          (s) =>
            s.operations
              .filter(
                (o) =>
                  (o.op === "listKeys" || o.op === "regenerateKey") &&
                  !o.detail?.fault &&
                  sameId(o.target, id) &&
                  inRange(o.at, q),
              )
              .map((o) => ({
                at: o.at,
                operation: `Microsoft.CognitiveServices/accounts/${o.op}/action`,
                caller: o.detail?.caller ?? "unknown",
                callerIp: "127.0.0.1",
                status: "Succeeded",
              }))
              .filter((e) => !q.operations || q.operations.includes(e.operation)),
          false,
        ),
      unauthorizedCallers: (id, q) =>
        call(
          "unauthorizedCallers",
          id,
          (s) => {
            const by = new Map<string, { callerIp: string; operation: string; count: number }>();
            for (const c of s.calls) {
              if (c.status !== 401 || !sameId(c.accountId, id) || !inRange(c.at, q)) continue;
              const k = `${c.callerIp} ${c.operation}`;
              const e = by.get(k) ?? { callerIp: c.callerIp, operation: c.operation, count: 0 };
              e.count += 1;
              by.set(k, e);
            }
            return [...by.values()];
          },
          false,
        ),
    },
    dataPlane: {
      probe: (account, key) =>
        call(
          "probe",
          account.id,
          (s) => {
            const a = s.accounts.find((x) => sameId(x.account.id, account.id));
            if (!a) return { unreachable: "ENOTFOUND" };
            const status = key.reveal() === a.key1 || key.reveal() === a.key2 ? 200 : 401;
            s.calls.push({
              at: now(),
              accountId: a.account.id,
              status,
              callerIp: "127.0.0.1",
              operation: "Probe",
            });
            return { status };
          },
          true,
        ),
    },
    consumers: {
      refresh: (c) =>
        call(
          "refresh",
          c.siteId ?? c.id,
          (s) => {
            const x = site(s, c);
            if (!x?.reference) return false;
            x.activeVersion =
              x.reference.version ??
              secretIn(s, x.reference.vaultUrl, x.reference.name).versions.at(-1)!.version;
            log(s, "refresh", x.siteId, { setting: x.settingName, activeVersion: x.activeVersion });
            return true;
          },
          true,
        ),
      activeVersion: (c) =>
        call(
          "activeVersion",
          c.siteId ?? c.id,
          (s) => (site(s, c)?.reference ? site(s, c)?.activeVersion : undefined),
          false,
        ),
    },
    inventory: {
      take: (account) => call("inventory", account.id, (s) => inventoryOf(s, account, now()), false),
    },
  };
}

// ------------------------------------------------------------------ reading the state

function inventoryOf(s: FileAzureState, account: Account, takenAt: string) {
  const a = s.accounts.find((x) => sameId(x.account.id, account.id));
  if (!a || a.account.disableLocalAuth) {
    return {
      accountId: account.id,
      takenAt,
      keyFree: !!a,
      fingerprints: null,
      activeSlot: null,
      consumers: [],
      services: [],
      unseen: a ? [] : ["the account no longer exists"],
    };
  }
  const fp = { key1: fingerprintOf(a.key1), key2: fingerprintOf(a.key2) };
  const slotOf = (value: string | undefined): KeySlot | null =>
    value === a.key1 ? "key1" : value === a.key2 ? "key2" : null;
  const consumers: Consumer[] = [];
  const matched = new Map<string, KeySlot>();
  for (const x of s.secrets) {
    const cur = x.versions.at(-1);
    const slot = slotOf(cur?.value);
    if (!slot || !cur) continue;
    matched.set(`${x.vaultUrl}/${x.name}`.toLowerCase(), slot);
    consumers.push({
      id: `kv:${new URL(x.vaultUrl).host}/${x.name}`,
      name: `Key Vault secret ${x.name}`,
      source: "keyvault-secret",
      slot,
      reload: "versionless",
      secret: { vaultUrl: x.vaultUrl, name: x.name },
      evidence: `its current version holds ${slot} (${fingerprintOf(cur.value)})`,
    });
  }
  for (const c of s.consumers) {
    const base = {
      id: `site:${c.siteName}/${c.settingName}`,
      name: c.siteName,
      siteId: c.siteId,
      settingName: c.settingName,
      ...(c.owner ? { owner: c.owner } : {}),
    };
    if (c.reference) {
      const slot = c.reference.version
        ? slotOf(findVersion(s, c.reference.vaultUrl, c.reference.name, c.reference.version)?.value)
        : matched.get(`${c.reference.vaultUrl}/${c.reference.name}`.toLowerCase());
      if (!slot && !c.reference.version) continue;
      consumers.push({
        ...base,
        source: "app-setting-reference",
        slot: slot ?? "unknown",
        reload: c.reference.version ? "pinned" : "refreshable",
        secret: c.reference,
        evidence: `app setting ${c.settingName} references ${c.reference.name}${c.reference.version ? ` pinned to version ${c.reference.version}` : " (versionless)"}`,
      });
    } else if (c.literal) {
      const slot = slotOf(c.literal);
      if (slot)
        consumers.push({
          ...base,
          source: "app-setting-literal",
          slot,
          reload: "manual",
          evidence: `app setting ${c.settingName} holds a literal copy of ${slot}: it must be updated by hand`,
        });
    }
  }
  const known = new Set(consumers.map((c) => c.slot).filter((x): x is KeySlot => x !== "unknown"));
  const since = Date.parse(takenAt) - 86_400_000;
  const calls = s.calls.filter(
    (c) => sameId(c.accountId, a.account.id) && c.operation !== "Probe" && Date.parse(c.at) >= since,
  );
  const services = [...new Set(calls.map((c) => c.operation))].map((apiName) => ({
    apiName,
    calls: calls.filter((c) => c.operation === apiName).length,
  }));
  return {
    accountId: a.account.id,
    takenAt,
    keyFree: false,
    fingerprints: fp,
    activeSlot: known.size === 1 ? [...known][0]! : null,
    consumers,
    services,
    unseen: [],
  };
}

function metricsOf(
  calls: FileCall[],
  q: { from: Date; to: Date; names: readonly string[]; splitBy?: string; intervalMinutes?: number },
): MetricSeries[] {
  const counts: Record<string, (c: FileCall) => boolean> = {
    TotalCalls: () => true,
    SuccessfulCalls: (c) => c.status < 400,
    TotalErrors: (c) => c.status >= 400,
    ClientErrors: (c) => c.status >= 400 && c.status < 500,
    ServerErrors: (c) => c.status >= 500,
  };
  const step = (q.intervalMinutes ?? 1) * 60_000;
  const inside = calls.filter((c) => inRange(c.at, q));
  const groups = q.splitBy ? [...new Set(inside.map((c) => c.operation))] : [undefined];
  return q.names.flatMap((name) =>
    groups.map((g) => {
      const by = new Map<number, number>();
      for (const c of inside) {
        if ((g === undefined || c.operation === g) && counts[name]?.(c)) {
          const bucket = Math.floor(Date.parse(c.at) / step) * step;
          by.set(bucket, (by.get(bucket) ?? 0) + 1);
        }
      }
      const points = [...by.entries()]
        .sort((x, y) => x[0] - y[0])
        .map(([t, total]) => ({ at: new Date(t).toISOString(), total }));
      return { name, ...(g !== undefined && q.splitBy ? { dimension: { [q.splitBy]: g } } : {}), points };
    }),
  );
}

function findVersion(
  s: FileAzureState,
  vaultUrl: string,
  name: string,
  version: string | undefined,
): FileSecretVersion | undefined {
  const x = s.secrets.find(
    (y) => sameVault(y.vaultUrl, vaultUrl) && y.name.toLowerCase() === name.toLowerCase(),
  );
  return version ? x?.versions.find((v) => v.version === version) : x?.versions.at(-1);
}

const sameId = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();
const sameVault = (a: string, b: string) =>
  a.replace(/\/+$/, "").toLowerCase() === b.replace(/\/+$/, "").toLowerCase();
const inRange = (at: string, q: { from: Date; to: Date }) => {
  const t = Date.parse(at);
  return t >= q.from.getTime() && t <= q.to.getTime();
};
