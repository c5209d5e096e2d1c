/**
 * Resolves what people type (a name or a full resource id) to one account, with a short cache of
 * the account list so that a burst of commands does not list every subscription each time.
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
    const matches = all.filter((a) => a.name.toLowerCase() === wanted.toLowerCase());
    if (matches.length === 1) return matches[0]!;
    if (matches.length > 1) {
      throw new KeyturnError(
        "ambiguous_account",
        `"${wanted}" names ${matches.length} accounts. Use the full resource id of the one you mean:\n` +
          matches.map((a) => `• ${a.id}`).join("\n"),
        { candidates: matches.map((a) => a.id) },
      );
    }
    const near = closest(wanted, [...new Set(all.map((a) => a.name))], 3);
    throw new KeyturnError(
      "unknown_account",
      `No AI services account named "${wanted}" in the configured subscriptions.` +
        (near.length ? ` Did you mean ${near.map((n) => `"${n}"`).join(" or ")}?` : "") +
        " Run `list` to see every account keyturn can reach.",
      { candidates: near },
    );
  }
}
