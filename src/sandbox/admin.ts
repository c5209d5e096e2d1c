/** The simulator's admin operations, in-process and as JSON under /_admin (no auth: loopback only). */
import { refreshSite, tick, useEntra } from "./consumers.js";
import type { Fault, Faults } from "./faults.js";
import { safeJson, type Reply } from "./http.js";
import type { ConsumerReport, Tenant } from "./tenant.js";
import type { TokenBuckets } from "./throttle.js";

export interface SimulatorAdmin {
  /** Every key value ever issued, live or dead (tests scan outputs for them). */
  keyValues(): string[];
  currentKeys(accountId: string): { key1: string; key2: string };
  /** How many times regenerateKey really executed, per account and slot. */
  regenerations(): Record<string, { key1: number; key2: number }>;
  injectFault(f: Fault): void;
  clearFaults(): void;
  consumers(): ConsumerReport[];
  repin(siteName: string, version: string): void;
  /** One round of consumer calls and due refreshes, now. */
  tick(): void;
  refreshAll(): void;
  /** An app moves to its managed identity: its key settings go, it calls with an Entra token. */
  useEntra(siteName: string): { settings: string[] };
  /** Deletes a Key Vault secret (all versions): it no longer holds a key anywhere. */
  deleteSecret(vault: string, name: string): void;
  /** ARM requests granted per subscription (benchmarks). */
  requestCounts(): Record<string, { reads: number; writes: number }>;
}

export function createAdmin(t: Tenant, faults: Faults, buckets: TokenBuckets): SimulatorAdmin {
  return {
    keyValues: () => [...t.issued],
    currentKeys: (id) => {
      const a = t.account(id);
      if (!a) throw new Error(`no account ${id}`);
      return { ...a.keys };
    },
    regenerations: () => Object.fromEntries(t.accounts.map((a) => [a.id, { ...a.regenerations }])),
    injectFault: (f) => faults.add(f),
    clearFaults: () => faults.clear(),
    consumers: () => Object.values(t.reports).map((r) => ({ ...r })),
    repin: (siteName, version) => {
      const site = t.sites.find((s) => s.name === siteName);
      if (!site) throw new Error(`no site ${siteName}`);
      const refs = Object.values(site.settings).filter((s) => s.reference);
      if (refs.length === 0) throw new Error(`site ${siteName} has no Key Vault reference to pin`);
      for (const s of refs) s.reference!.version = version;
      refreshSite(t, site);
      t.save();
    },
    tick: () => {
      tick(t);
      t.save();
    },
    refreshAll: () => {
      for (const s of t.sites) refreshSite(t, s);
      t.save();
    },
    useEntra: (siteName) => {
      const site = t.sites.find((s) => s.name === siteName);
      if (!site) throw new Error(`no site ${siteName}`);
      const settings = useEntra(t, site);
      t.save();
      return { settings };
    },
    deleteSecret: (vault, name) => {
      const secrets = t.vaults[vault];
      const found = secrets && Object.keys(secrets).find((n) => n.toLowerCase() === name.toLowerCase());
      if (!found) throw new Error(`no secret ${name} in vault ${vault}`);
      delete secrets[found];
      t.save();
    },
    requestCounts: () => Object.fromEntries(buckets.counts),
  };
}

export function adminRoute(
  admin: SimulatorAdmin,
  faults: Faults,
): (method: string, path: string, body: string) => Reply {
  return (method, path, body) => {
    const json = () => (safeJson(body || "{}") ?? {}) as Record<string, unknown>;
    try {
      if (method === "GET" && path === "/keys") return { status: 200, body: { values: admin.keyValues() } };
      if (method === "GET" && path === "/regenerations") return { status: 200, body: admin.regenerations() };
      if (method === "GET" && path === "/consumers")
        return { status: 200, body: { consumers: admin.consumers() } };
      if (method === "GET" && path === "/faults") return { status: 200, body: { faults: faults.list() } };
      if (method === "POST" && path === "/faults")
        return (admin.injectFault(json() as unknown as Fault), { status: 204 });
      if (method === "DELETE" && path === "/faults") return (admin.clearFaults(), { status: 204 });
      if (method === "POST" && path === "/repin") {
        const b = json();
        admin.repin(String(b.site), String(b.version));
        return { status: 204 };
      }
      if (method === "POST" && path === "/tick") return (admin.tick(), { status: 204 });
      if (method === "POST" && path === "/use-entra")
        return { status: 200, body: admin.useEntra(String(json().site)) };
      if (method === "POST" && path === "/delete-secret") {
        const b = json();
        admin.deleteSecret(String(b.vault), String(b.secret));
        return { status: 204 };
      }
      if (method === "POST" && path === "/refresh") return (admin.refreshAll(), { status: 204 });
      if (method === "GET" && path === "/requests") return { status: 200, body: admin.requestCounts() };
    } catch (e) {
      return { status: 400, body: { error: e instanceof Error ? e.message : String(e) } };
    }
    return { status: 404, body: { error: `no admin route ${method} ${path}` } };
  };
}
