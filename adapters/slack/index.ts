/**
 * keyturn in Slack, on Bolt: the slash command, buttons (with a reason modal where one is needed),
 * and the evidence thread through the Web API. Transport only: every decision is the service's.
 */
import {
  App,
  ExpressReceiver,
  LogLevel,
  SocketModeReceiver,
  type BlockAction,
  type ButtonAction,
  type RespondFn,
} from "@slack/bolt";
import { WebClient } from "@slack/web-api";
import express, { type NextFunction, type Request, type Response, type Router } from "express";
import type { ThreadRef } from "../../src/core/domain.js";
import { KeyturnError } from "../../src/core/errors.js";
import type { ActionRequest, Reply } from "../../src/core/messages.js";
import type { ChatGateway, Clock, KeyturnService, Logger, Store } from "../../src/core/ports.js";
import { SerialQueues } from "../../src/runner/serial.js";
import { SlackIdentity } from "./identity.js";
import { toBlocks } from "./render.js";

export interface SlackConfig {
  botToken: string;
  signingSecret: string;
  appToken?: string;
  socketMode: boolean;
  apiUrl?: string;
  command: string;
  botUserId?: string;
  botId?: string;
  teamId?: string;
}

export interface SlackAdapter {
  readonly gateway: ChatGateway;
  readonly router: Router;
  start(): Promise<void>;
  stop(): Promise<void>;
}

const FUTURE_SKEW_S = 300;

/** Bolt refuses stale timestamps but not future ones: refuse those too, before Bolt runs. */
export function refuseFutureTimestamps(clock: Clock) {
  return (req: Request, res: Response, next: NextFunction) => {
    const ts = Number(req.headers["x-slack-request-timestamp"]);
    if (Number.isFinite(ts) && ts > clock.now().getTime() / 1000 + FUTURE_SKEW_S) {
      res.status(401).send("request timestamp is in the future");
      return;
    }
    next();
  };
}

export function createSlackAdapter(deps: {
  service: KeyturnService;
  store: Store;
  logger: Logger;
  clock: Clock;
  config: SlackConfig;
  policyGroups: readonly string[];
}): SlackAdapter {
  const { service, logger, clock, config } = deps;
  const log = logger.child({ component: "slack" });
  const clientOptions = config.apiUrl ? { slackApiUrl: config.apiUrl } : {};
  const receiver = config.socketMode
    ? new SocketModeReceiver({ appToken: config.appToken ?? "", logLevel: LogLevel.ERROR })
    : new ExpressReceiver({
        signingSecret: config.signingSecret,
        endpoints: "/slack/events",
        processBeforeResponse: false,
        logLevel: LogLevel.ERROR,
      });
  let auth: { botUserId: string; botId: string; teamId: string } | null = config.botUserId
    ? { botUserId: config.botUserId, botId: config.botId ?? config.botUserId, teamId: config.teamId ?? "" }
    : null;
  const app: App = new App({
    receiver,
    clientOptions,
    logLevel: LogLevel.ERROR,
    authorize: async (): Promise<{ botToken: string; botUserId: string; botId: string; teamId: string }> => {
      if (!auth) {
        const r: { user_id?: string; bot_id?: string; team_id?: string } = await app.client.auth.test({
          token: config.botToken,
        });
        auth = {
          botUserId: String(r.user_id ?? ""),
          botId: String(r.bot_id ?? ""),
          teamId: String(r.team_id ?? ""),
        };
      }
      return { botToken: config.botToken, botUserId: auth.botUserId, botId: auth.botId, teamId: auth.teamId };
    },
  });
  // the gateway's own client: Bolt's app.client carries no token when `authorize` is used
  const client = new WebClient(config.botToken, {
    ...clientOptions,
    retryConfig: { retries: 5, factor: 2, minTimeout: 500, maxTimeout: 10_000 },
  });
  const identity = new SlackIdentity(client, deps.policyGroups, clock, log);
  const queues = new SerialQueues();
  const lastPost = new Map<string, number[]>();

  /** About one message a second per channel, with a small burst; FIFO per channel keeps thread order. */
  const paced = <T>(channel: string, task: () => Promise<T>): Promise<T> =>
    queues.run(channel, async () => {
      const now = Date.now();
      const recent = (lastPost.get(channel) ?? []).filter((t) => now - t < 10_000);
      if (recent.length >= 10) await new Promise((r) => setTimeout(r, 10_000 - (now - recent[0]!)));
      recent.push(Date.now());
      lastPost.set(channel, recent);
      return task();
    });

  const chatCall = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (e) {
      const code = (e as { data?: { error?: string } }).data?.error ?? (e as Error).message;
      log.warn({ slack: what, error: code }, "Slack call failed");
      throw new KeyturnError("chat_failed", `Slack refused ${what} (${code}).`);
    }
  };

  const userIdOf = async (who: string): Promise<string | null> => {
    const w = who.trim();
    let m = /^slack:(?:[A-Z0-9]+:)?(U[A-Z0-9]+)$/i.exec(w);
    if (m) return m[1]!.toUpperCase();
    if (/^[^@\s]+@[^@\s]+$/.test(w)) {
      try {
        const r = await client.users.lookupByEmail({ email: w });
        return r.user?.id ?? null;
      } catch {
        return null;
      }
    }
    m = /^(U[A-Z0-9]+)$/.exec(w);
    return m ? m[1]! : null;
  };

  const upload = async (
    channel: string,
    threadTs: string | undefined,
    files: NonNullable<Reply["attachments"]>,
  ) => {
    for (const f of files) {
      const args = threadTs
        ? {
            channel_id: channel,
            thread_ts: threadTs,
            filename: f.filename,
            content: f.content,
            title: f.filename,
          }
        : { channel_id: channel, filename: f.filename, content: f.content, title: f.filename };
      await chatCall("files.uploadV2", () => client.files.uploadV2(args));
    }
  };

  const gateway: ChatGateway = {
    platform: "slack",
    async postRoot(channel, message) {
      const r = await paced(channel.id, () =>
        chatCall("chat.postMessage", () =>
          client.chat.postMessage({ channel: channel.id, ...toBlocks(message), unfurl_links: false }),
        ),
      );
      return { platform: "slack", channel: String(r.channel ?? channel.id), root: String(r.ts) };
    },
    async updateRoot(thread, message) {
      await paced(thread.channel, () =>
        chatCall("chat.update", () =>
          client.chat.update({ channel: thread.channel, ts: thread.root, ...toBlocks(message) }),
        ),
      );
    },
    async reply(thread, message) {
      await paced(thread.channel, () =>
        chatCall("chat.postMessage", () =>
          client.chat.postMessage({
            channel: thread.channel,
            thread_ts: thread.root,
            ...toBlocks(message),
            unfurl_links: false,
          }),
        ),
      );
    },
    async notify(user, message) {
      const id = await userIdOf(typeof user === "string" ? user : user.id);
      if (!id) return false;
      await paced(id, () =>
        chatCall("chat.postMessage", () =>
          client.chat.postMessage({ channel: id, ...toBlocks(message), unfurl_links: false }),
        ),
      );
      return true;
    },
    async permalink(thread: ThreadRef) {
      const r = await chatCall("chat.getPermalink", () =>
        client.chat.getPermalink({ channel: thread.channel, message_ts: thread.root }),
      );
      return r.permalink;
    },
    async attach(thread, attachment) {
      await upload(thread.channel, thread.root, [attachment]);
    },
  };

  const deliver = async (respond: RespondFn, channel: string, reply: Reply, replaceOriginal = false) => {
    await respond({
      response_type: reply.visibility === "ephemeral" ? "ephemeral" : "in_channel",
      replace_original: replaceOriginal,
      ...toBlocks(reply.message),
    });
    if (reply.attachments?.length)
      await upload(channel, undefined, reply.attachments).catch((e: unknown) =>
        log.warn({ err: e }, "evidence upload failed"),
      );
  };

  app.command(config.command, async ({ command, ack, respond }) => {
    await ack();
    const principal = await identity.principal(command.user_id, command.team_id, command.user_name);
    const text = command.text.replace(/^\s*keyturn\s+/i, "");
    const reply = await service.handleText(
      { principal, channel: { platform: "slack", id: command.channel_id, ref: { teamId: command.team_id } } },
      text,
    );
    await deliver(respond, command.channel_id, reply);
  });

  app.action<BlockAction<ButtonAction>>(/^keyturn:/, async ({ ack, body, action, respond, client: c }) => {
    await ack();
    let request: ActionRequest & { needsReason?: boolean };
    try {
      request = JSON.parse(action.value ?? "{}") as ActionRequest & { needsReason?: boolean };
    } catch {
      await respond({
        response_type: "ephemeral",
        replace_original: false,
        text: "That button is not one keyturn understands; use the change's latest message.",
      });
      return;
    }
    const channelId = body.channel?.id ?? "";
    if (request.needsReason && !request.reason) {
      await c.views.open({
        trigger_id: body.trigger_id,
        view: {
          type: "modal",
          callback_id: "keyturn_reason",
          private_metadata: JSON.stringify({
            action: {
              kind: request.kind,
              changeId: request.changeId,
              ...(request.consumerId ? { consumerId: request.consumerId } : {}),
            },
            channel: channelId,
            teamId: body.team?.id ?? "",
          }),
          title: {
            type: "plain_text",
            text: `${request.kind === "reject" ? "Reject" : "Waive"} ${request.changeId}`.slice(0, 24),
          },
          submit: { type: "plain_text", text: "Submit" },
          blocks: [
            {
              type: "input",
              block_id: "reason",
              label: { type: "plain_text", text: "Reason (kept in the evidence)" },
              element: { type: "plain_text_input", action_id: "value", multiline: true, max_length: 500 },
            },
          ],
        },
      });
      return;
    }
    const principal = await identity.principal(body.user.id, body.team?.id ?? "", body.user.name);
    const { needsReason: _n, ...act } = request;
    const reply = await service.handleAction(
      {
        principal,
        channel: { platform: "slack", id: channelId, ref: { teamId: body.team?.id ?? "" } },
        idempotencyKey: `slack:${action.action_ts}:${body.user.id}`,
      },
      act,
    );
    await deliver(respond, channelId, reply);
  });

  app.view("keyturn_reason", async ({ ack, body, view, client: c }) => {
    await ack();
    const meta = JSON.parse(view.private_metadata || "{}") as {
      action: ActionRequest;
      channel: string;
      teamId: string;
    };
    const reason = view.state.values.reason?.value?.value ?? "";
    const principal = await identity.principal(
      body.user.id,
      meta.teamId || (body.team?.id ?? ""),
      body.user.name,
    );
    const reply = await service.handleAction(
      {
        principal,
        channel: { platform: "slack", id: meta.channel, ref: { teamId: meta.teamId } },
        idempotencyKey: `slack:view:${view.id}:${body.user.id}`,
      },
      { ...meta.action, reason },
    );
    if (meta.channel) {
      await c.chat
        .postEphemeral({ channel: meta.channel, user: body.user.id, ...toBlocks(reply.message) })
        .catch((e: unknown) => log.warn({ err: e }, "ephemeral reply failed"));
    }
  });

  app.error(async (e) => {
    log.error({ err: e }, "Slack handler failed");
  });

  const router = express.Router();
  router.use("/slack/events", refuseFutureTimestamps(clock));
  if (receiver instanceof ExpressReceiver) router.use(receiver.router);

  return {
    gateway,
    router,
    async start() {
      if (config.socketMode) await app.start();
    },
    async stop() {
      await queues.idle();
      if (config.socketMode) await app.stop();
    },
  };
}
