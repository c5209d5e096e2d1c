/**
 * The evidence thread through the Slack Web API: root post and in-place updates, thread replies, DMs,
 * permalinks and file uploads. Posts go through one FIFO queue per channel at about one message a
 * second, so a thread reads in order; the WebClient waits out a 429's Retry-After inside the queue,
 * which delays later posts instead of dropping or reordering them.
 */
import type { WebClient } from "@slack/web-api";
import type { ThreadRef } from "../../src/core/domain.js";
import { KeyturnError } from "../../src/core/errors.js";
import type { Attachment } from "../../src/core/messages.js";
import type { ChatGateway, Logger } from "../../src/core/ports.js";
import { SerialQueues } from "../../src/runner/serial.js";
import { toBlocks } from "./render.js";
import { isNoAnswer, isTransientSlackError } from "./web-client.js";

/** Slack tolerates short bursts; over ten seconds it expects about one message a second per channel. */
const WINDOW_MS = 10_000;
const PER_WINDOW = 10;
/** A 429 asking for longer than this fails the call (the caller retries later) rather than hold its queue. */
const MAX_RATE_WAIT_S = 30;
const RATE_ATTEMPTS = 4;

export interface SlackGateway extends ChatGateway {
  /** Files into a channel (or thread), e.g. an evidence export asked for by a command. */
  upload(channel: string, threadTs: string | undefined, files: readonly Attachment[]): Promise<void>;
  /** Resolves when every queued post has been sent or has failed. */
  idle(): Promise<void>;
}

export function slackErrorCode(e: unknown): string {
  const err = e as { data?: { error?: string }; code?: string; message?: string };
  return err.data?.error ?? err.code ?? err.message ?? "unknown_error";
}

function rateLimitWait(e: unknown): number | null {
  const err = e as { code?: unknown; retryAfter?: unknown };
  return err.code === "slack_webapi_rate_limited_error" && typeof err.retryAfter === "number"
    ? err.retryAfter
    : null;
}

/** Slack's failure as keyturn's `chat_failed`, saying whether Slack refused or did not answer. */
function chatFailed(what: string, e: unknown, log: Logger): KeyturnError {
  const code = slackErrorCode(e);
  const transient = isTransientSlackError(e);
  log.warn({ slack: what, error: code, transient }, "Slack call failed");
  const message = isNoAnswer(e)
    ? `Slack did not answer ${what} in time. keyturn retries chat posts by itself; if this persists, check that keyturn can reach Slack (SLACK_API_URL, proxy, firewall).`
    : rateLimitWait(e) !== null
      ? `Slack rate-limited ${what} for longer than keyturn waits in line; keyturn retries chat posts later by itself.`
      : `Slack refused ${what} (${code}). Check that keyturn is in the channel and has the scopes in manifest/slack.yaml, then try again.`;
  return new KeyturnError("chat_failed", message, { slackError: code, transient }, { cause: e });
}

export function createSlackGateway(client: WebClient, log: Logger): SlackGateway {
  const queues = new SerialQueues();
  const sent = new Map<string, number[]>();

  const paced = <T>(channel: string, task: () => Promise<T>): Promise<T> =>
    queues.run(channel, async () => {
      const now = Date.now();
      const recent = (sent.get(channel) ?? []).filter((t) => now - t < WINDOW_MS);
      const oldest = recent[0];
      if (recent.length >= PER_WINDOW && oldest !== undefined)
        await new Promise((r) => setTimeout(r, WINDOW_MS - (now - oldest)));
      recent.push(Date.now());
      sent.set(channel, recent.slice(-PER_WINDOW));
      return task();
    });

  const call = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        const wait = rateLimitWait(e);
        // inside the channel's queue: later posts wait their turn instead of overtaking this one
        if (wait !== null && wait <= MAX_RATE_WAIT_S && attempt < RATE_ATTEMPTS) {
          log.info({ slack: what, retryAfter: wait }, "Slack rate limit: waiting");
          await new Promise((r) => setTimeout(r, wait * 1000));
          continue;
        }
        throw chatFailed(what, e, log);
      }
    }
  };

  /** `slack:T…:U…`, `slack:U…`, `U…` or an e-mail address → a Slack user id. */
  const userIdOf = async (who: string): Promise<string | null> => {
    const w = who.trim();
    const m = /^(?:slack:(?:[A-Z0-9]+:)?)?([UW][A-Z0-9]+)$/i.exec(w);
    if (m) return m[1]!.toUpperCase();
    if (/^[^@\s]+@[^@\s]+$/.test(w)) {
      try {
        const r = await client.users.lookupByEmail({ email: w });
        return r.user?.id ?? null;
      } catch (e) {
        // Slack down is not "nobody has that address": the caller retries the DM later
        if (isTransientSlackError(e)) throw chatFailed("users.lookupByEmail", e, log);
        log.info(
          { error: slackErrorCode(e) },
          "no Slack user for an e-mail address (scope users:read.email?)",
        );
        return null;
      }
    }
    return null;
  };

  const upload = async (
    channel: string,
    threadTs: string | undefined,
    files: readonly Attachment[],
  ): Promise<void> => {
    for (const f of files) {
      await paced(channel, () =>
        call("files.uploadV2", () =>
          client.files.uploadV2(
            threadTs
              ? {
                  channel_id: channel,
                  thread_ts: threadTs,
                  filename: f.filename,
                  title: f.filename,
                  content: f.content,
                }
              : { channel_id: channel, filename: f.filename, title: f.filename, content: f.content },
          ),
        ),
      );
    }
  };

  return {
    platform: "slack",
    async postRoot(channel, message) {
      const r = await paced(channel.id, () =>
        call("chat.postMessage", () =>
          client.chat.postMessage({
            channel: channel.id,
            ...toBlocks(message),
            unfurl_links: false,
            unfurl_media: false,
          }),
        ),
      );
      if (!r.ts)
        throw new KeyturnError(
          "chat_failed",
          "Slack accepted the message but returned no timestamp; try again.",
        );
      return { platform: "slack", channel: r.channel ?? channel.id, root: r.ts };
    },
    async updateRoot(thread, message) {
      await paced(thread.channel, () =>
        call("chat.update", () =>
          client.chat.update({ channel: thread.channel, ts: thread.root, ...toBlocks(message) }),
        ),
      );
    },
    async reply(thread, message) {
      await paced(thread.channel, () =>
        call("chat.postMessage", () =>
          client.chat.postMessage({
            channel: thread.channel,
            thread_ts: thread.root,
            ...toBlocks(message),
            unfurl_links: false,
            unfurl_media: false,
          }),
        ),
      );
    },
    async notify(user, message) {
      const id = await userIdOf(typeof user === "string" ? user : user.id);
      if (!id) return null;
      try {
        // a user id as channel opens (or reuses) the DM with the bot; the answer names the DM channel
        const r = await paced(id, () =>
          call("chat.postMessage", () =>
            client.chat.postMessage({ channel: id, ...toBlocks(message), unfurl_links: false }),
          ),
        );
        // the user it went to: an approval from this Slack user answers this DM
        return { platform: "slack", channel: r.channel ?? id, root: r.ts ?? "", data: { user: id } };
      } catch (e) {
        if ((e as KeyturnError).details?.transient === true) throw e;
        return null;
      }
    },
    async permalink(thread: ThreadRef) {
      const r = await call("chat.getPermalink", () =>
        client.chat.getPermalink({ channel: thread.channel, message_ts: thread.root }),
      );
      return r.permalink;
    },
    async attach(thread, attachment) {
      await upload(thread.channel, thread.root, [attachment]);
    },
    upload,
    idle: () => queues.idle(),
  };
}
