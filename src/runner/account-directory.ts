/**
 * Resolves what people type to one account: a name, `resource-group/name`,
 * `subscription/resource-group/name` or a full resource id. A short cache of the account list keeps
 * a burst of commands from listing every subscription each time.
 */
import type { Account } from "../core/domain.js";
import { KeyturnError } from "../core/errors.js";
import type { AccountsPort, Clock } from "../core/ports.js";
import { closest } from "../core/suggest.js";

export class AccountDirectory {
  #cache: { at: number; accounts: Account[] } | null = null;
  #inflight: Promise<Account[]> | null = null;

  constructor(
    private readonly accounts: AccountsPort,
    private readonly clock: Clock,
    private readonly ttlMs = 60_000,
  ) {}

  async list(fresh = false): Promise<Account[]> {
    const now = this.clock.now().getTime();
    if (!fresh && this.#cache && now - this.#cache.at < this.ttlMs) return this.#cache.accounts;
    this.#inflight ??= this.accounts.listAccounts().finally(() => (this.#inflight = null));
    const accounts = await this.#inflight;
    this.#cache = { at: now, accounts };
    return accounts;
  }

  async resolve(nameOrId: string): Promise<Account> {
    const wanted = nameOrId.trim();
    if (wanted.startsWith("/subscriptions/")) {
      const cached = (await this.list()).find((a) => a.id.toLowerCase() === wanted.toLowerCase());
      return cached ?? this.accounts.getAccount(wanted);
    }
    const all = await this.list();
    const parts = wanted.toLowerCase().split("/");
    const name = parts[parts.length - 1]!;
    const [sub, rg] = parts.length === 3 ? parts : [undefined, parts.length === 2 ? parts[0] : undefined];
    const matches = all.filter(
      (a) =>
        a.name.toLowerCase() === name &&
        (rg === undefined || a.resourceGroup.toLowerCase() === rg) &&
        (sub === undefined || a.subscriptionId.toLowerCase() === sub),
    );
    if (matches.length === 1) return matches[0]!;
    if (matches.length > 1) {
      const forms = matches.map((a) => shortName(a, all));
      throw new KeyturnError(
        "ambiguous_account",
        `"${wanted}" names ${matches.length} accounts. Name the one you mean as resource-group/name:\n` +
          matches.map((a, i) => `• ${forms[i]} (subscription ${a.subscriptionId})`).join("\n"),
        { candidates: forms },
      );
    }
    if (parts.length > 1) {
      const named = all.filter((a) => a.name.toLowerCase() === name);
      if (named.length)
        throw new KeyturnError(
          "unknown_account",
          `No account "${name}" in ${parts.slice(0, -1).join("/")}. Accounts with that name: ${named.map((a) => shortName(a, all)).join(", ")}.`,
          { candidates: named.map((a) => shortName(a, all)) },
        );
    }
    const near = closest(name, [...new Set(all.map((a) => a.name))], 3);
    throw new KeyturnError(
      "unknown_account",
      `No AI services account named "${name}" in the configured subscriptions.` +
        (near.length ? ` Did you mean ${near.map((n) => `"${n}"`).join(" or ")}?` : "") +
        " Run `list` to see every account keyturn can reach.",
      { candidates: near },
    );
  }
}

/** The shortest form that names `a` alone: resource-group/name, or subscription/resource-group/name. */
export function shortName(a: Account, all: readonly Account[]): string {
  const same = (x: Account) =>
    x.name.toLowerCase() === a.name.toLowerCase() &&
    x.resourceGroup.toLowerCase() === a.resourceGroup.toLowerCase();
  return all.filter(same).length > 1
    ? `${a.subscriptionId}/${a.resourceGroup}/${a.name}`
    : `${a.resourceGroup}/${a.name}`;
}
