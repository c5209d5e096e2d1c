/**
 * Driving a running keyturn as Slack does: signed slash commands and button clicks POSTed to
 * `/slack/events`, replies read back from the fake Slack's `response_url` log — or from the
 * acknowledgement itself when keyturn answered in it, which Slack shows the same way.
 */
import { expect } from "vitest";
import type { FakeSlack } from "../fakes/slack-api.js";
import { blockAction, sign, slashCommand } from "../fakes/slack-sign.js";
import { waitUntil, type RunningProgram } from "./spawn-keyturn.js";

/** The environment that runs the sandbox with Slack set up against the fake Slack. */
export const slackSandboxEnv = (slack: FakeSlack, secret: string): Record<string, string> => ({
  KEYTURN_SANDBOX: "1",
  SLACK_BOT_TOKEN: "xoxb-test-token",
  SLACK_SIGNING_SECRET: secret,
  SLACK_API_URL: slack.apiUrl,
  SLACK_BOT_USER_ID: "U0KEYTURN",
  SLACK_TEAM_ID: "T0CONTOSO",
});

export interface Origin {
  readonly team?: string;
  readonly userTeam?: string;
  readonly enterprise?: string;
}

export class SlackDriver {
  #n = 0;

  constructor(
    private readonly kt: () => RunningProgram,
    private readonly slack: FakeSlack,
    private readonly secret: string,
    private readonly channel: string,
  ) {}

  post(body: string, headers: Record<string, string> = sign(this.secret, body)): Promise<Response> {
    return fetch(`${this.kt().url}/slack/events`, { method: "POST", headers, body });
  }

  /** A slash command; resolves with the reply keyturn sent in its acknowledgement or to its response_url. */
  async command(
    user: string,
    text: string,
    from: Origin = {},
    ms = 30_000,
  ): Promise<Record<string, unknown>> {
    const id = `${this.channel}-r${++this.#n}`; // unique across drivers sharing one fake Slack
    const body = slashCommand({
      user,
      channel: this.channel,
      text,
      responseUrl: this.slack.responseUrl(id),
      ...from,
    });
    const res = await this.post(body);
    expect(res.status).toBe(200);
    this.slack.showAck(id, await res.text());
    return waitUntil(`the reply to "${text}"`, () => this.slack.responses.find((r) => r.id === id)?.body, ms);
  }

  /** A button click; resolves with the reply keyturn sent to its response_url. */
  async press(
    user: string,
    button: { action_id: string; value: string },
    opts: Origin & { actionTs?: string } = {},
  ): Promise<Record<string, unknown>> {
    const id = `${this.channel}-r${++this.#n}`; // unique across drivers sharing one fake Slack
    const res = await this.post(
      blockAction({ user, channel: this.channel, button, responseUrl: this.slack.responseUrl(id), ...opts }),
    );
    expect(res.status).toBe(200);
    return waitUntil("the button's reply", () => this.slack.responses.find((r) => r.id === id)?.body, 30_000);
  }
}
