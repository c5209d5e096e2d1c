/** ARM's per-subscription token buckets: reads 250 burst refilled 25/s, writes 200 refilled 10/s. */
export class TokenBuckets {
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  readonly counts = new Map<string, { reads: number; writes: number }>();

  /** Takes a token; -1 when granted, otherwise the seconds until one is available (Retry-After). */
  take(subscription: string, write: boolean): number {
    const [cap, rate] = write ? [200, 10] : [250, 25];
    const key = `${subscription.toLowerCase()}|${write ? "w" : "r"}`;
    const now = Date.now();
    const b = this.#buckets.get(key) ?? { tokens: cap, at: now };
    b.tokens = Math.min(cap, b.tokens + ((now - b.at) / 1000) * rate);
    b.at = now;
    this.#buckets.set(key, b);
    const c = this.counts.get(subscription) ?? { reads: 0, writes: 0 };
    this.counts.set(subscription, c);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      if (write) c.writes++;
      else c.reads++;
      return -1;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / rate));
  }

  remaining(subscription: string, write: boolean): number {
    return Math.floor(
      this.#buckets.get(`${subscription.toLowerCase()}|${write ? "w" : "r"}`)?.tokens ?? (write ? 200 : 250),
    );
  }
}
