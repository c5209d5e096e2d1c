/** Slack-signed requests, built exactly as Slack sends them (form bodies, v0 HMAC-SHA256 signature). */
import { createHmac } from "node:crypto";

export function sign(
  secret: string,
  body: string,
  ts = Math.floor(Date.now() / 1000),
): Record<string, string> {
  const sig = "v0=" + createHmac("sha256", secret).update(`v0:${ts}:${body}`).digest("hex");
  return {
    "content-type": "application/x-www-form-urlencoded",
    "x-slack-request-timestamp": String(ts),
    "x-slack-signature": sig,
  };
}

export function slashCommand(o: {
  user: string;
  channel: string;
  text: string;
  responseUrl: string;
  command?: string;
  /** The workspace Slack says the command comes from (T0CONTOSO unless given). */
  team?: string;
  enterprise?: string;
}): string {
  return new URLSearchParams({
    token: "legacy",
    team_id: o.team ?? "T0CONTOSO",
    ...(o.enterprise ? { enterprise_id: o.enterprise } : {}),
    team_domain: "contoso",
    channel_id: o.channel,
    channel_name: "incident",
    user_id: o.user,
    user_name: o.user.toLowerCase(),
    command: o.command ?? "/keyturn",
    text: o.text,
    api_app_id: "A0KEYTURN",
    response_url: o.responseUrl,
    trigger_id: `trig-${Date.now()}`,
  }).toString();
}

export function blockAction(o: {
  user: string;
  channel: string;
  button: { action_id: string; value: string };
  responseUrl: string;
  actionTs?: string;
  /** The workspace the button was pressed in, and the presser's own (both T0CONTOSO unless given). */
  team?: string;
  userTeam?: string;
  enterprise?: string;
}): string {
  const payload = {
    type: "block_actions",
    team: { id: o.team ?? "T0CONTOSO", domain: "contoso" },
    ...(o.enterprise ? { enterprise: { id: o.enterprise, name: "Org" } } : {}),
    user: {
      id: o.user,
      username: o.user.toLowerCase(),
      name: o.user.toLowerCase(),
      team_id: o.userTeam ?? o.team ?? "T0CONTOSO",
    },
    api_app_id: "A0KEYTURN",
    token: "legacy",
    container: { type: "message", message_ts: "1700000000.000001", channel_id: o.channel },
    trigger_id: `trig-${Date.now()}`,
    channel: { id: o.channel, name: "incident" },
    response_url: o.responseUrl,
    actions: [
      {
        type: "button",
        action_id: o.button.action_id,
        block_id: "b1",
        text: { type: "plain_text", text: "x" },
        value: o.button.value,
        action_ts: o.actionTs ?? `${Date.now() / 1000}`,
      },
    ],
  };
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}

/** The buttons of a Block Kit message, as { label: { action_id, value } }. */
export function buttonsOf(
  blocks: unknown[] | undefined,
): Record<string, { action_id: string; value: string }> {
  const out: Record<string, { action_id: string; value: string }> = {};
  for (const b of (blocks ?? []) as {
    type: string;
    elements?: { type: string; action_id: string; value: string; text: { text: string } }[];
  }[]) {
    if (b.type !== "actions") continue;
    for (const e of b.elements ?? [])
      if (e.type === "button") out[e.text.text] = { action_id: e.action_id, value: e.value };
  }
  return out;
}

/** A view_submission of keyturn's reason modal, as Slack sends it when the user presses Submit. */
export function viewSubmission(o: {
  user: string;
  view: { id?: string; callback_id: string; private_metadata?: string };
  reason: string;
}): string {
  const payload = {
    type: "view_submission",
    team: { id: "T0CONTOSO", domain: "contoso" },
    user: { id: o.user, username: o.user.toLowerCase(), name: o.user.toLowerCase(), team_id: "T0CONTOSO" },
    api_app_id: "A0KEYTURN",
    token: "legacy",
    trigger_id: `trig-${Date.now()}`,
    view: {
      id: o.view.id ?? `V${Date.now()}`,
      team_id: "T0CONTOSO",
      type: "modal",
      callback_id: o.view.callback_id,
      private_metadata: o.view.private_metadata ?? "",
      state: { values: { reason: { value: { type: "plain_text_input", value: o.reason } } } },
      hash: "1700000000.abcdef",
      app_id: "A0KEYTURN",
      bot_id: "B0KEYTURN",
    },
    response_urls: [],
  };
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}
