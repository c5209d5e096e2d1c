/**
 * keyturn in Slack, on Bolt: the slash command, buttons (with a reason modal where one is needed),
 * and the evidence thread through the Web API. Transport only: every decision is the service's.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import {
  App,
  LogLevel,
  SocketModeReceiver,
  type BlockAction,
  type ButtonAction,
  type RespondFn,
} from "@slack/bolt";
import express, { type Request, type Response, type Router } from "express";
import type { ChannelRef, Message, Reply } from "../../src/core/messages.js";
import type { ChatGateway, Clock, KeyturnService, Logger, AsyncStore } from "../../src/core/ports.js";
import { observeChatAck } from "../../src/metrics.js";
import { AckFirst } from "./ack-first.js";
import { createSlackGateway } from "./gateway.js";
import { SlackIdentity, type ResolvedUser } from "./identity.js";
import { InstalledWorkspace, originOf, refusalFor } from "./installation.js";
import {
  modalError,
  parseButtonValue,
  REASON_BLOCK,
  reasonModal,
  REASON_CALLBACK,
  readReasonSubmission,
  VIEW_ANSWER_MS,
} from "./interactions.js";
import { toBlocks } from "./render.js";
import { SlackHttpReceiver } from "./receiver.js";
import { superviseSocket } from "./socket-mode.js";
import { createWebClient, slackClientOptions } from "./web-client.js";

export interface SlackConfig {
  botToken: string;
  signingSecret: string;
  /** xapp-…: Socket Mode when set and socketMode is true. */
  appToken?: string;
  socketMode: boolean;
  /** SLACK_API_URL, e.g. GovSlack or a test fake; ends with "/". */
  apiUrl?: string;
  /** "/keyturn" unless SLACK_COMMAND says otherwise. */
  command: string;
  botUserId?: string;
  botId?: string;
  /** SLACK_TEAM_ID: the workspace served. Learned from auth.test at start when unset. */
  teamId?: string;
  /** The Enterprise Grid organisation, when known ahead of auth.test. */
  enterpriseId?: string;
  /** SLACK_API_TIMEOUT_MS: per Web API attempt (10 s by default). */
  apiTimeoutMs?: number;
  /** SLACK_ALLOW_GUESTS: guests' e-mail and user groups count as identities (false by default). */
  allowGuests?: boolean;
}

export interface SlackAdapter {
  readonly gateway: ChatGateway;
  /** POST /slack/events (commands, interactivity), for an express app. */
  readonly router: Router;
  /**
   * POST /slack/events on a plain node:http server, ahead of any framework: answers the request and
   * returns true, or returns false for a request that is not Slack's (the caller serves it). Records
   * the acknowledgement's latency (keyturn_chat_ack_duration_seconds) itself.
   */
  serve(req: IncomingMessage, res: ServerResponse): boolean;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface SlackDeps {
  service: KeyturnService;
  store: AsyncStore;
  logger: Logger;
  clock: Clock;
  config: SlackConfig;
  /** `slackgroup:S…` identities the policy names, e.g. ["slackgroup:S0SECOPS"]. */
  policyGroups: readonly string[];
}

/** Where Slack posts commands, button presses and modal submissions (manifest/slack.yaml). */
const SLACK_EVENTS_PATH = "/slack/events";
const SEEN_TTL_MS = 10 * 60_000;
/** How long a request may wait for auth.test when the workspace is not known yet (Slack wants an ack in 3 s). */
const LEARN_WAIT_MS = 2_000;

/** Every Slack interaction names its type and the user who acted; Bolt reads both without checking. */
function isInteraction(p: unknown): boolean {
  if (!p || typeof p !== "object" || Array.isArray(p)) return false;
  const { type, user } = p as { type?: unknown; user?: { id?: unknown } | null };
  return typeof type === "string" && !!user && typeof user === "object" && typeof user.id === "string";
}

/**
 * A signed form that is neither a command, an interaction nor Slack's ssl_check would wait out the
 * 3 s unhandled-request timeout, and Bolt answers 500 to a `payload` that is not a whole interaction
 * (`payload=null`, no user): both are refused with 400 before Bolt sees them.
 */
function screenForm(body: unknown, form: URLSearchParams | null): { status: number; text: string } | null {
  if (!form) return null;
  if (form.has("payload"))
    return isInteraction(body) ? null : { status: 400, text: "payload is not a Slack interaction" };
  if (!form.has("command") && !form.has("ssl_check"))
    return { status: 400, text: "not a Slack command or interaction" };
  return null;
}

/** The service's reply, plus a note when a missing scope kept keyturn from knowing who asked. */
function withScopeNote(message: Message, who: ResolvedUser): Message {
  const note = who.missingScope
    ? `keyturn could not read your e-mail address from Slack: add the ${who.missingScope} scope to the Slack app (manifest/slack.yaml) and reinstall it.`
    : who.emailIgnored
      ? `keyturn does not take your Slack e-mail address as your identity (${who.emailIgnored}): if you should approve or operate changes, ask keyturn's operators to name your Slack id in the policy.`
      : null;
  if (!note) return message;
  return { ...message, context: [...(message.context ?? []), note] };
}

export function createSlackAdapter(deps: SlackDeps): SlackAdapter {
  const { service, logger, clock, config } = deps;
  const log = logger.child({ component: "slack" });
  const transport = {
    ...(config.apiUrl ? { apiUrl: config.apiUrl } : {}),
    ...(config.apiTimeoutMs ? { apiTimeoutMs: config.apiTimeoutMs } : {}),
  };
  const clientOptions = slackClientOptions(transport);
  const receiver = config.socketMode
    ? new SocketModeReceiver({
        appToken: config.appToken ?? "",
        logLevel: LogLevel.ERROR,
        // keyturn reconnects itself (socket-mode.ts): the client's own reconnection gives up on one failed attempt
        autoReconnectEnabled: false,
        installerOptions: { clientOptions },
      })
    : new SlackHttpReceiver({
        signingSecret: config.signingSecret,
        path: SLACK_EVENTS_PATH,
        log,
        now: () => clock.now().getTime(),
        screen: screenForm,
      });
  // the gateway's own client: Bolt's app.client carries no token when `authorize` is used
  const client = createWebClient(config.botToken, transport);
  const installation = new InstalledWorkspace(
    client,
    {
      ...(config.teamId ? { teamId: config.teamId } : {}),
      ...(config.enterpriseId ? { enterpriseId: config.enterpriseId } : {}),
      ...(config.botUserId ? { botUserId: config.botUserId } : {}),
      ...(config.botId ? { botId: config.botId } : {}),
    },
    log,
  );
  const app: App = new App({
    receiver,
    clientOptions,
    logLevel: LogLevel.ERROR,
    // no listener reads context.conversation: Bolt's store would be a lookup on every request
    convoStore: false,
    // authorize instead of `token`: the installation is learned once, at start, never per request
    authorize: () => {
      const i = installation.current;
      return Promise.resolve({
        botToken: config.botToken,
        botUserId: i?.botUserId ?? config.botUserId ?? "",
        botId: i?.botId ?? config.botId ?? config.botUserId ?? "",
        teamId: i?.teamId ?? "",
        ...(i?.enterpriseId ? { enterpriseId: i.enterpriseId } : {}),
      });
    },
  });
  const gateway = createSlackGateway(client, log);
  const socket =
    receiver instanceof SocketModeReceiver
      ? superviseSocket(receiver.client, async () => void (await app.start()), log)
      : null;
  const identity = new SlackIdentity(client, deps.policyGroups, clock, log, () => installation.current, {
    allowGuests: config.allowGuests ?? false,
  });

  // only the installed workspace: a request Slack signed for another one is answered and goes no further
  app.use(async (args) => {
    const { body, next } = args;
    const why = refusalFor(await installation.ensure(LEARN_WAIT_MS), body);
    if (!why) return next();
    log.warn({ origin: originOf(body) }, "Slack request from outside the installed workspace refused");
    const a = args as unknown as {
      ack?: (r?: unknown) => Promise<void>;
      respond?: RespondFn;
    };
    const b = body as { command?: unknown; type?: unknown };
    if (typeof b.command === "string") await a.ack?.({ response_type: "ephemeral", text: why });
    else if (b.type === "view_submission")
      await a.ack?.({ response_action: "errors", errors: { reason: why } });
    else {
      await a.ack?.();
      await a
        .respond?.({ response_type: "ephemeral", replace_original: false, text: why })
        .catch(() => undefined);
    }
  });

  // Slack resends a request it thinks went unanswered; the trigger id identifies the original
  const seen = new Map<string, number>();
  app.use(async ({ body, context, ack, next }) => {
    // the body is whatever was signed: possibly not an object at all
    const trigger =
      body && typeof body === "object" ? (body as { trigger_id?: unknown }).trigger_id : undefined;
    const now = Date.now();
    // oldest first (insertion order): stop at the first one still fresh
    for (const [k, at] of seen) {
      if (now - at <= SEEN_TTL_MS) break;
      seen.delete(k);
    }
    if (typeof trigger === "string" && context.retryNum && seen.has(trigger)) {
      log.info(
        { retryNum: context.retryNum, retryReason: context.retryReason },
        "Slack retry of a request already handled",
      );
      await ack?.();
      return;
    }
    if (typeof trigger === "string") seen.set(trigger, now);
    await next();
  });

  const channelRef = (channelId: string, teamId: string): ChannelRef => ({
    platform: "slack",
    id: channelId,
    ref: { teamId },
  });

  // work behind an acknowledgement waits until no other request waits for its own (ack-first.ts)
  const ackFirst = new AckFirst();

  /** A reply as a message body: the acknowledgement's, or a response_url post's. */
  const replyBody = (reply: Reply, who: ResolvedUser) => ({
    response_type: reply.visibility === "ephemeral" ? ("ephemeral" as const) : ("in_channel" as const),
    ...toBlocks(withScopeNote(reply.message, who)),
  });

  /** Socket Mode acknowledgements have no HTTP answer for the composition root to time: timed here. */
  const timedAck = <A extends unknown[]>(ack: (...a: A) => Promise<void>) => {
    if (!socket) return ack;
    const t0 = process.hrtime.bigint();
    return async (...a: A) => {
      await ack(...a);
      observeChatAck("slack", Number(process.hrtime.bigint() - t0) / 1e9);
    };
  };

  const deliver = async (
    respond: RespondFn,
    channel: string,
    reply: Reply,
    who: ResolvedUser,
  ): Promise<void> => {
    await respond({ replace_original: false, ...replyBody(reply, who) });
    if (reply.attachments?.length && channel) {
      await gateway.upload(channel, undefined, reply.attachments).catch(async (e: unknown) => {
        log.warn({ err: e }, "evidence upload failed");
        await respond({
          response_type: "ephemeral",
          replace_original: false,
          text: "keyturn could not upload the evidence files: check that it is in this channel and has the files:write scope, then ask again.",
        });
      });
    }
  };

  const failed = async (respond: RespondFn, e: unknown): Promise<void> => {
    log.error({ err: e }, "Slack request failed");
    await respond({
      response_type: "ephemeral",
      replace_original: false,
      text: "keyturn hit an internal error handling that; nothing was changed. Try again, and tell the operators if it repeats.",
    }).catch(() => undefined);
  };

  app.command(config.command, async ({ command, ack: sendAck, respond }) => {
    const ack = timedAck(sendAck);
    // `/keyturn keyturn status x` reads as `status x`
    const text = command.text.replace(/^\s*keyturn(?:\s+|$)/i, "");
    const user = () => identity.resolve(command.user_id, installation.scope, command.user_name);
    // help, a command that does not parse: the answer is the acknowledgement's body (Slack shows it
    // as the reply), one HTTP answer instead of an ack and a response_url post
    let quick: Reply | null = null;
    try {
      quick = service.answerNow?.(text, `slack:${installation.scope}:${command.user_id}`) ?? null;
    } catch (e) {
      log.warn({ err: e }, "quick answer failed; answering after the acknowledgement");
    }
    // a known user is answered at once; anyone else is looked up after the acknowledgement
    const known = quick ? identity.resolveCached(command.user_id, installation.scope) : null;
    if (quick && known) {
      await ack(replyBody(quick, known));
      return;
    }
    await ack();
    try {
      await ackFirst.turn();
      const who = await user();
      const reply =
        quick ??
        (await service.handleText(
          { principal: who.principal, channel: channelRef(command.channel_id, command.team_id) },
          text,
        ));
      await deliver(respond, command.channel_id, reply, who);
    } catch (e) {
      await failed(respond, e);
    }
  });

  app.action<BlockAction<ButtonAction>>(/^keyturn:/, async ({ ack, body, action, respond, client: c }) => {
    await timedAck(ack)();
    try {
      const request = parseButtonValue(action.value);
      if (!request) {
        await respond({
          response_type: "ephemeral",
          replace_original: false,
          text: "That button is not one keyturn understands; use the buttons on the change's latest message.",
        });
        return;
      }
      const teamId = body.team?.id ?? body.user.team_id ?? "";
      const channelId = body.channel?.id ?? "";
      if (request.needsReason && !request.action.reason) {
        await c.views.open({
          trigger_id: body.trigger_id,
          view: reasonModal(request.action, { channel: channelId, teamId }),
        });
        return;
      }
      await ackFirst.turn();
      const who = await identity.resolve(body.user.id, installation.scope, body.user.name);
      const inv = {
        principal: who.principal,
        channel: channelRef(channelId, teamId),
        idempotencyKey: `slack:${action.action_ts}:${body.user.id}`,
      };
      await deliver(respond, channelId, await service.handleAction(inv, request.action), who);
    } catch (e) {
      await failed(respond, e);
    }
  });

  // any other action id is not keyturn's: acknowledge it rather than leave Slack waiting three seconds
  app.action(/^(?!keyturn:)/, async ({ ack, respond }) => {
    await ack();
    await respond({
      response_type: "ephemeral",
      replace_original: false,
      text: "That button is not one keyturn understands; use the buttons on the change's latest message.",
    }).catch(() => undefined);
  });

  app.view(REASON_CALLBACK, async ({ ack, body, view, client: c }) => {
    const submission = readReasonSubmission(view);
    if (!submission) {
      await ack({
        response_action: "errors",
        errors: { [REASON_BLOCK]: "Say why, in a few words: the reason is kept in the evidence." },
      });
      return;
    }
    // Slack waits three seconds for this answer: a refusal that comes in time is shown in the modal itself,
    // under the reason the person just typed; anything later closes the modal and answers beside the card
    let acked = false;
    const answer = async (response?: ReturnType<typeof modalError>): Promise<boolean> => {
      if (acked) return false;
      acked = true;
      await (response ? ack(response) : ack());
      return true;
    };
    const late = setTimeout(() => void answer().catch(() => undefined), VIEW_ANSWER_MS);
    const { action, channel, teamId } = submission;
    try {
      const who = await identity.resolve(body.user.id, installation.scope, body.user.name);
      const reply = await service.handleAction(
        {
          principal: who.principal,
          channel: channelRef(channel, teamId),
          idempotencyKey: `slack:view:${view.id}:${body.user.id}`,
        },
        action,
      );
      clearTimeout(late);
      if (reply.message.tone === "danger" && (await answer(modalError(reply.message.text)))) return;
      await answer();
      if (channel) {
        await c.chat
          .postEphemeral({ channel, user: body.user.id, ...toBlocks(withScopeNote(reply.message, who)) })
          .catch((e: unknown) => log.warn({ err: e }, "ephemeral reply failed"));
      }
    } catch (e) {
      clearTimeout(late);
      log.error({ err: e }, "Slack modal submission failed");
      await answer(
        modalError(
          "keyturn hit an internal error handling that; nothing was changed. Try again, and tell the operators if it repeats.",
        ),
      ).catch(() => undefined);
    }
  });

  app.error(async (e) => {
    log.error({ err: e }, "Slack handler failed");
  });

  const http = receiver instanceof SlackHttpReceiver ? receiver : null;
  const router = express.Router();
  if (http)
    router.post(SLACK_EVENTS_PATH, (req: Request, res: Response) => {
      ackFirst.track(res);
      http.handle(req, res);
    });
  const serve = (req: IncomingMessage, res: ServerResponse): boolean => {
    if (!http?.matches(req)) return false;
    ackFirst.track(res);
    const t0 = process.hrtime.bigint();
    res.once("finish", () => observeChatAck("slack", Number(process.hrtime.bigint() - t0) / 1e9));
    http.handle(req, res);
    return true;
  };

  return {
    gateway,
    router,
    serve,
    async start() {
      // with SLACK_TEAM_ID set requests are served at once and auth.test only confirms it; without it,
      // keyturn waits for auth.test (each attempt bounded by the client's timeout)
      if (installation.current) void installation.learn();
      else await installation.learn();
      await socket?.start();
    },
    async stop() {
      await gateway.idle();
      await socket?.stop();
    },
  };
}
