/**
 * Limits on how long keyturn waits for a chat platform. The platforms' own clients time out first
 * (Slack: 10 s an attempt, three attempts); these deadlines are the backstop that keeps a change's
 * chat queue moving whatever a gateway does.
 */
import { KeyturnError } from "../core/errors.js";
import type { ChatGateway } from "../core/ports.js";

export interface ChatOutOptions {
  /** Longest one gateway call may take before keyturn stops waiting for it. */
  readonly callDeadlineMs?: number;
  /** Longest a new change waits for its evidence thread before it goes on without one. */
  readonly openDeadlineMs?: number;
  /** The wait before each retry of a failed post; its length is the number of retries. */
  readonly retryDelaysMs?: readonly number[];
}

export const CHAT_DEFAULTS: Required<ChatOutOptions> = {
  callDeadlineMs: 45_000,
  openDeadlineMs: 20_000,
  retryDelaysMs: [5_000, 30_000, 120_000, 600_000],
};

/** `p`, or a `chat_failed` error once `ms` have passed (`p` itself cannot be cancelled; it is left to finish). */
export function within<T>(ms: number, p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new KeyturnError(
            "chat_failed",
            `${what} did not answer within ${Math.round(ms / 1000)} s; keyturn retries chat posts by itself, and the change goes on meanwhile.`,
            { transient: true },
          ),
        ),
      ms,
    );
    timer.unref();
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** The same gateway, every call bounded by `ms`. */
export function bounded(g: ChatGateway, ms: number): ChatGateway {
  const w = <T>(what: string, p: Promise<T>) => within(ms, p, `${g.platform} (${what})`);
  return {
    platform: g.platform,
    postRoot: (channel, message) => w("post", g.postRoot(channel, message)),
    updateRoot: (thread, message) => w("update", g.updateRoot(thread, message)),
    reply: (thread, message) => w("reply", g.reply(thread, message)),
    notify: (user, message) => w("direct message", g.notify(user, message)),
    permalink: (thread) => w("permalink", g.permalink(thread)),
    attach: (thread, attachment) => w("upload", g.attach(thread, attachment)),
  };
}

/** A failure a retry cannot fix: the platform refused outright (e.g. keyturn is not in the channel). */
export function isPermanent(e: unknown): boolean {
  return (e as { details?: { transient?: unknown } } | null)?.details?.transient === false;
}
