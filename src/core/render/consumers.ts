/**
 * Consumers in words, for chat: what each one is ("Key Vault secret translator-key in contoso-kv",
 * "App Service translator-web, setting TRANSLATOR_KEY"), which key it holds and how it moves to a new
 * one, said as sentences rather than inventory codes. The evidence pack keeps the ids; chat never
 * shows them. A consumer declared by hand that is the very secret the inventory found is shown once.
 */
import type { Consumer, Inventory } from "../domain.js";
import { versionLabel } from "./plain.js";

const SOVEREIGN_VAULT_HOSTS = /\.vault\.(azure\.net|azure\.cn|usgovcloudapi\.net|microsoftazure\.de)$/i;

/** A vault's name from its URL (`https://contoso-kv.vault.azure.net` → contoso-kv); null for a bare address. */
export function vaultName(vaultUrl: string): string | null {
  try {
    const host = new URL(vaultUrl).hostname;
    if (SOVEREIGN_VAULT_HOSTS.test(host)) return host.split(".")[0]!;
    if (host === "localhost" || /^[\d.]+$/.test(host) || host.includes(":")) return null;
    return host;
  } catch {
    return null;
  }
}

/** "Key Vault secret translator-key in contoso-kv" (the vault left out where it has no name). */
export function secretInWords(vaultUrl: string, name: string): string {
  const vault = vaultName(vaultUrl);
  return `Key Vault secret ${name}${vault ? ` in ${vault}` : ""}`;
}

/** What a consumer is, by name and kind. */
export function consumerInWords(c: Consumer): string {
  switch (c.source) {
    case "keyvault-secret":
    case "keyvault-tagged":
      return c.secret ? secretInWords(c.secret.vaultUrl, c.secret.name) : c.name;
    case "app-setting-reference":
    case "app-setting-literal":
      return `App Service ${c.name}${c.settingName ? `, setting ${c.settingName}` : ""}`;
    case "listkeys-caller":
      return `${c.name} (called listKeys)`;
    case "declared":
      return `${c.name} (declared by hand)`;
  }
}

/** Which key it holds or reads, as a sentence part. */
function keyInWords(c: Consumer): string {
  if (c.slot === "unknown") {
    if (c.source === "keyvault-tagged") return "tagged for this account, holds neither key";
    if (c.source === "listkeys-caller") return "may hold a copy of either key";
    return "which key it holds is not known yet";
  }
  switch (c.source) {
    case "app-setting-reference":
      return `reads ${c.slot}${c.secret ? ` from ${c.secret.name}` : ""}`;
    case "app-setting-literal":
      return `holds a literal copy of ${c.slot}`;
    default:
      return `holds ${c.slot}`;
  }
}

/** How it moves to the new key. */
function reloadInWords(c: Consumer): string {
  switch (c.reload) {
    case "versionless":
      return c.source === "keyvault-secret" || c.source === "keyvault-tagged"
        ? "readers take its latest version by themselves"
        : "re-reads the latest version by itself";
    case "refreshable":
      return "keyturn refreshes it";
    case "pinned":
      return `pinned to ${c.secret?.version ? versionLabel(c.secret.version) : "one version"}: must be re-pinned`;
    case "manual":
      return `updated by hand${c.owner ? ` (${c.owner})` : ""}`;
    case "unknown":
      return "how it picks up a new key is not known";
  }
}

/** One consumer as a line: what it is, the key it holds, how it moves. */
export function consumerLine(c: Consumer): string {
  return `${consumerInWords(c)} — ${keyInWords(c)}; ${reloadInWords(c)}`;
}

const sameSecret = (a: Consumer, b: Consumer): boolean =>
  !!a.secret &&
  !!b.secret &&
  a.secret.vaultUrl.replace(/\/+$/, "").toLowerCase() ===
    b.secret.vaultUrl.replace(/\/+$/, "").toLowerCase() &&
  a.secret.name.toLowerCase() === b.secret.name.toLowerCase();

/**
 * The consumers to show, each once: a declared consumer that stands for a secret the inventory found
 * (reads it as its latest version, as the secret's own readers do) is folded into the found secret,
 * which is then "declared and found"; `also` lists the ids folded in (waivers, marks).
 */
export function shownConsumers(
  inv: Pick<Inventory, "consumers">,
): { consumer: Consumer; declared: string | null; also: string[] }[] {
  const found = inv.consumers.filter((c) => c.source === "keyvault-secret" || c.source === "keyvault-tagged");
  const folded = new Map<string, Consumer[]>();
  const shown: Consumer[] = [];
  for (const c of inv.consumers) {
    const into =
      c.source === "declared" && c.reload === "versionless" ? found.find((f) => sameSecret(f, c)) : undefined;
    if (into) folded.set(into.id, [...(folded.get(into.id) ?? []), c]);
    else shown.push(c);
  }
  return shown.map((c) => {
    const decl = folded.get(c.id) ?? [];
    const plain = (d: Consumer) => {
      const n = d.name.toLowerCase().replace(/\s*\(key vault\)$/, "");
      return n === c.secret?.name.toLowerCase() ? null : d.name;
    };
    const named = decl.map(plain).filter((n): n is string => !!n);
    return {
      consumer: c,
      declared: decl.length
        ? named.length
          ? `declared as ${named.join(", ")} and found`
          : "declared and found"
        : null,
      also: decl.map((d) => d.id),
    };
  });
}

/** A consumer id (or a `secret:` evidence key) as people read it; null when it names no consumer. */
export function evidenceKeyInWords(inv: Pick<Inventory, "consumers">, key: string): string | null {
  const c = inv.consumers.find((x) => x.id === key);
  if (c) return consumerInWords(c);
  const secret = /^secret:(https?:\/\/[^/]+(?:\/[^/]+)*?)\/([^/]+)$/i.exec(key);
  if (secret) return secretInWords(secret[1]!, secret[2]!);
  return null;
}
