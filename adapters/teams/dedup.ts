/**
 * Teams redelivers an activity it thinks was not received (a slow answer, a dropped connection), with
 * the same activity id. A message must run once: the ids of recent messages are kept in the store
 * (across restarts and by every process sharing it), newest last, the oldest dropped past a bound.
 * Card clicks are deduplicated by the service's idempotency keys instead (the press is recorded).
 */
import { createHash } from "node:crypto";
import type { AsyncStore } from "../../src/core/ports.js";

const NS = "teams.seen";
const KEY = "messages";
/** Far more than Teams redelivers within its retry window, small enough to rewrite on every message. */
export const SEEN_MESSAGES_LIMIT = 2000;

export interface MessageDedup {
  /** True the first time an activity id is seen; false for a redelivery. An activity without id always runs. */
  firstDelivery(activityId: string | undefined): Promise<boolean>;
}

export function messageDedup(store: AsyncStore, limit = SEEN_MESSAGES_LIMIT): MessageDedup {
  // one read-and-write at a time: this process sees and records an id atomically
  let tail: Promise<unknown> = Promise.resolve();
  const check = async (activityId: string): Promise<boolean> => {
    // kept as a digest: an id is the sender's string, the list's size must not depend on it
    const id = createHash("sha256").update(activityId).digest("base64url").slice(0, 22);
    const seen = (await store.getKv<string[]>(NS, KEY)) ?? [];
    if (seen.includes(id)) return false;
    seen.push(id);
    await store.putKv(NS, KEY, seen.length > limit ? seen.slice(seen.length - limit) : seen);
    return true;
  };
  return {
    firstDelivery(activityId) {
      if (!activityId) return Promise.resolve(true);
      const answer = tail.then(() => check(activityId));
      tail = answer.catch(() => undefined);
      return answer;
    },
  };
}
