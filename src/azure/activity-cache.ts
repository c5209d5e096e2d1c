/**
 * One Activity Log read per account serves every question asked of it for a few seconds. A `status`
 * asks twice (the inventory: listKeys callers; the status: regenerations outside keyturn), and a
 * burst of `status` commands asks the same account's 90 days again and again — each read parsing
 * every page, and each of keyturn's own listKeys making the log longer. Concurrent questions share
 * one read in flight (single flight); a read answers any question whose window it covers for
 * `ttlMs`. Azure itself writes Activity Log events minutes late, so a few seconds of reuse show
 * nothing Azure would have shown; keyturn's own writes to an account drop its entry at once
 * (`invalidate`), so what keyturn did is never hidden by what it read before doing it.
 */
import type { ActivityEvent } from "../core/ports.js";

/** How long one read of an account's Activity Log answers (ms). */
export const ACTIVITY_CACHE_MS = 10_000;

export type ActivityRead = (accountId: string, window: { from: Date; to: Date }) => Promise<ActivityEvent[]>;

interface Entry {
  readonly startedAt: number;
  readonly from: number;
  readonly to: number;
  readonly events: Promise<ActivityEvent[]>;
}

export class ActivityCache {
  readonly #entries = new Map<string, Entry>();

  constructor(
    private readonly read: ActivityRead,
    private readonly ttlMs = ACTIVITY_CACHE_MS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The account's events in [from, to], every operation: from a read that covers the window, else a new one. */
  async events(accountId: string, window: { from: Date; to: Date }): Promise<ActivityEvent[]> {
    const key = accountId.toLowerCase();
    const from = window.from.getTime();
    const to = window.to.getTime();
    const t = this.now();
    let entry = this.#entries.get(key);
    // a read covers a window that starts no earlier than it did and ends at most ttlMs after it
    if (!entry || t - entry.startedAt > this.ttlMs || from < entry.from || to - entry.to > this.ttlMs) {
      this.#sweep(t);
      const started: Entry = { startedAt: t, from, to, events: this.read(accountId, window) };
      this.#entries.set(key, started);
      started.events.catch(() => {
        // a failed read is not kept: the next question asks Azure again
        if (this.#entries.get(key) === started) this.#entries.delete(key);
      });
      entry = started;
    }
    const all = await entry.events;
    return all.filter((e) => {
      const at = Date.parse(e.at);
      return at >= from && at <= to;
    });
  }

  /** Forget what was read of an account (keyturn wrote to it: the next question reads again). */
  invalidate(accountId: string): void {
    this.#entries.delete(accountId.toLowerCase());
  }

  /** Entries held (tests and benchmarks). */
  get size(): number {
    return this.#entries.size;
  }

  #sweep(t: number): void {
    if (this.#entries.size < 64) return;
    for (const [k, e] of this.#entries) if (t - e.startedAt > this.ttlMs) this.#entries.delete(k);
  }
}
