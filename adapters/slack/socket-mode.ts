/**
 * Socket Mode's connection, kept up by keyturn. The Socket Mode client reconnects by itself only while
 * every apps.connections.open succeeds: one HTTP error or network failure during a reconnect ends its
 * attempts for good (the rejection goes nowhere) and keyturn would stop hearing Slack without a word.
 * So keyturn turns the client's own reconnection off and reconnects itself, with back-off, until it
 * is stopped, saying in the log what failed and when it tries again.
 */
import type { SocketModeReceiver } from "@slack/bolt";
import { KeyturnError } from "../../src/core/errors.js";
import type { Logger } from "../../src/core/ports.js";
import { slackErrorCode } from "./gateway.js";

/** Back-off between reconnect attempts: at once (Slack asked, or the network blinked), then longer. */
const BACKOFF_MS = [0, 1_000, 2_000, 5_000, 10_000, 30_000] as const;

const STOP_WAIT_MS = 2_000;
/** How long a reconnect may wait for Slack's hello before it counts as failed. */
const HELLO_WAIT_MS = 30_000;

/** apps.connections.open errors no retry can cure: the app-level token itself is refused. */
const TOKEN_REFUSED = new Set([
  "not_authed",
  "invalid_auth",
  "account_inactive",
  "token_revoked",
  "user_removed_from_team",
  "team_disabled",
  "not_allowed_token_type",
]);

type SocketClient = SocketModeReceiver["client"];

export interface SocketSupervisor {
  /** Connects once (the start of keyturn); a refused token or an unreachable Slack is an error that says what to do. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Why Socket Mode could not start, for the person starting keyturn. Never contains the token. */
export function socketStartError(e: unknown): KeyturnError {
  const code = slackErrorCode(e);
  if (TOKEN_REFUSED.has(code))
    return new KeyturnError(
      "config_invalid",
      code === "not_allowed_token_type"
        ? "SLACK_APP_TOKEN is not an app-level token: Socket Mode needs the xapp-… token from your Slack app's Basic Information page (App-Level Tokens, scope connections:write), not the bot token."
        : `Slack refused SLACK_APP_TOKEN (${code}): generate an app-level token with the connections:write scope on your Slack app's Basic Information page (App-Level Tokens), set SLACK_APP_TOKEN to it, and start keyturn again.`,
    );
  return new KeyturnError(
    "chat_failed",
    `keyturn could not open its Socket Mode connection to Slack (${code}): check that Socket Mode is enabled for the app (Settings → Socket Mode) and that this machine can reach Slack, then start keyturn again.`,
  );
}

export function superviseSocket(
  client: SocketClient,
  connect: () => Promise<void>,
  log: Logger,
): SocketSupervisor {
  let running = false;
  let attempting = false;
  let failures = 0;
  let timer: NodeJS.Timeout | undefined;

  const schedule = (): void => {
    if (!running || attempting || timer) return;
    const wait = BACKOFF_MS[Math.min(failures, BACKOFF_MS.length - 1)]!;
    timer = setTimeout(() => {
      timer = undefined;
      void attempt();
    }, wait);
  };

  const attempt = async (): Promise<void> => {
    if (!running) return;
    attempting = true;
    let giveUp: NodeJS.Timeout | undefined;
    try {
      // a socket that opens but never says hello would hold the attempt forever
      await Promise.race([
        client.start(),
        new Promise<never>((_r, reject) => {
          giveUp = setTimeout(() => {
            client.websocket?.disconnect();
            reject(new Error("no hello from Slack"));
          }, HELLO_WAIT_MS);
        }),
      ]);
      if (failures > 0) log.info({ failures }, "Slack Socket Mode connection restored");
      failures = 0;
    } catch (e) {
      failures++;
      const next = BACKOFF_MS[Math.min(failures, BACKOFF_MS.length - 1)]!;
      log.warn(
        { error: slackErrorCode(e), failures, retryInMs: next },
        "Slack Socket Mode reconnect failed; keyturn keeps trying",
      );
    } finally {
      clearTimeout(giveUp);
      attempting = false;
    }
    // connected sockets can close again; a failed attempt is retried
    if (running && !client.websocket?.isActive()) schedule();
  };

  // the client emits `disconnected` when a socket closes and its own reconnection is off
  client.on("disconnected", () => {
    if (!running) return;
    log.warn({}, "Slack Socket Mode connection lost; reconnecting");
    schedule();
  });

  return {
    async start() {
      try {
        await connect();
      } catch (e) {
        throw socketStartError(e);
      }
      running = true;
    },
    async stop() {
      running = false;
      clearTimeout(timer);
      timer = undefined;
      // the client waits for a close that a socket already gone never sends
      let giveUp: NodeJS.Timeout | undefined;
      await Promise.race([
        client.disconnect(),
        new Promise<void>((r) => (giveUp = setTimeout(r, STOP_WAIT_MS))),
      ]);
      clearTimeout(giveUp);
    },
  };
}
