import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { SlackIdentity } from "../../adapters/slack/identity.js";
import { createSlackAdapter, type SlackAdapter, type SlackConfig } from "../../adapters/slack/index.js";
import { createWebClient } from "../../adapters/slack/web-client.js";
import { isKeyturnError } from "../../src/core/errors.js";
import type { ActionRequest, Message, Reply } from "../../src/core/messages.js";
import type { Invocation, KeyturnService, Store } from "../../src/core/ports.js";
import { createLogger } from "../../src/log.js";
import { openStore } from "../../src/store/open-store.js";
import { FakeSlack } from "../fakes/slack-api.js";
import { blockAction, buttonsOf, sign, slashCommand, viewSubmission } from "../fakes/slack-sign.js";
import { createTempDir, type TempDir } from "../support/temp-dir.js";
import { asyncStore } from "../../src/store/async-sqlite.js";

const SECRET = "integration-signing-secret";
const CHANNEL = "C0INCIDENT";

/** The service side of the adapter, answering from a small table and recording what it was asked. */
class TableService implements KeyturnService {
  readonly texts: { inv: Invocation; text: string }[] = [];
  readonly actions: { inv: Invocation; action: ActionRequest }[] = [];

  async handleText(inv: Invocation, text: string): Promise<Reply> {
    this.texts.push({ inv, text });
    if (text === "slow") await new Promise((r) => setTimeout(r, 5_000));
    if (text === "card") return { visibility: "in_channel", message: card };
    if (text === "evidence CHG-1") {
      return {
        visibility: "ephemeral",
        message: { text: "Evidence for CHG-1 attached." },
        attachments: [
          {
            filename: "keyturn-evidence-CHG-1.md",
            contentType: "text/markdown",
            content: "# CHG-1\nall good",
          },
        ],
      };
    }
    return {
      visibility: "ephemeral",
      message: {
        text: `You asked: ${text}`,
        fields: [{ label: "Asked by", value: inv.principal.displayName }],
      },
    };
  }

  async handleAction(inv: Invocation, action: ActionRequest): Promise<Reply> {
    this.actions.push({ inv, action });
    if (inv.principal.identities.includes("slack:u0erin"))
      return {
        visibility: "ephemeral",
        message: { text: "You are not an approver of CHG-1; nothing changed." },
      };
    return {
      visibility: "ephemeral",
      message: {
        text: `${action.kind} recorded`,
        ...(action.reason ? { sections: [{ heading: "Reason", lines: [action.reason] }] } : {}),
      },
    };
  }
}

const card: Message = {
  text: "CHG-1 awaiting approval",
  title: "Rotate contoso-translator",
  fields: [{ label: "Reason", value: "leaked in PR 123 <!channel>" }],
  buttons: [
    {
      label: "Approve",
      style: "primary",
      action: { kind: "approve", changeId: "CHG-1", planHash: "abc123" },
    },
    { label: "Reject", style: "danger", action: { kind: "reject", changeId: "CHG-1" }, needsReason: true },
  ],
};

let slack: FakeSlack;
let service: TableService;
let adapter: SlackAdapter;
let server: Server;
let base: string;
let dir: TempDir;
let store: Store;

const post = (body: string, headers: Record<string, string> = sign(SECRET, body)) =>
  fetch(`${base}/slack/events`, { method: "POST", headers, body });

async function waitFor<T>(what: string, probe: () => T | undefined | false, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const responseTo = (id: string) =>
  waitFor(`response ${id}`, () => slack.responses.find((r) => r.id === id)?.body);

const baseConfig = (): SlackConfig => ({
  botToken: "xoxb-integration",
  signingSecret: SECRET,
  socketMode: false,
  apiUrl: slack.apiUrl,
  command: "/keyturn",
  botUserId: "U0KEYTURN",
  botId: "B0KEYTURN",
  teamId: "T0CONTOSO",
});

/** A second adapter on its own port, for configurations other than the shared one. */
async function serve(over: Partial<SlackConfig>): Promise<{ base: string; close(): Promise<void> }> {
  const config = { ...baseConfig(), ...over };
  for (const k of Object.keys(over) as (keyof SlackConfig)[]) if (over[k] === undefined) delete config[k];
  const a = createSlackAdapter({
    service,
    store: asyncStore(store),
    logger: createLogger({ level: "silent" }),
    clock: { now: () => new Date() },
    config,
    policyGroups: ["slackgroup:s0secops"],
  });
  const app = express();
  app.use(a.router);
  const s = await new Promise<Server>((resolve) => {
    const l = app.listen(0, "127.0.0.1", () => resolve(l));
  });
  await a.start();
  return {
    base: `http://127.0.0.1:${(s.address() as AddressInfo).port}`,
    async close() {
      await a.stop();
      await new Promise((r) => s.close(r));
      s.closeAllConnections();
    },
  };
}

beforeAll(async () => {
  dir = createTempDir("keyturn-slack-int-");
  store = openStore(dir.file("keyturn.db"));
  slack = await new FakeSlack().start();
  service = new TableService();
  adapter = createSlackAdapter({
    service,
    store: asyncStore(store),
    logger: createLogger({ level: "silent" }),
    clock: { now: () => new Date() },
    config: {
      botToken: "xoxb-integration",
      signingSecret: SECRET,
      socketMode: false,
      apiUrl: slack.apiUrl,
      command: "/keyturn",
      botUserId: "U0KEYTURN",
      botId: "B0KEYTURN",
      teamId: "T0CONTOSO",
    },
    policyGroups: ["slackgroup:s0secops"],
  });
  const app = express();
  app.use(adapter.router);
  server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, "127.0.0.1", () => resolve(s));
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await adapter.start();
});

afterAll(async () => {
  await adapter?.stop();
  await new Promise((r) => server?.close(r));
  server?.closeAllConnections();
  await slack?.stop();
  store?.close();
  dir?.remove();
});

beforeEach(() => {
  service.texts.length = 0;
  service.actions.length = 0;
});

describe("Slack requests", () => {
  it("refuses a bad signature, a stale timestamp and a future timestamp before anything runs", async () => {
    const body = slashCommand({
      user: "U0ALICE",
      channel: CHANNEL,
      text: "status x",
      responseUrl: slack.responseUrl("refused"),
    });
    const now = Math.floor(Date.now() / 1000);
    expect(
      (await post(body, { ...sign(SECRET, body), "x-slack-signature": "v0=" + "0".repeat(64) })).status,
    ).toBe(401);
    expect((await post(body, sign("another-secret", body))).status).toBe(401);
    expect((await post(body, sign(SECRET, body, now - 301))).status).toBe(401);
    // read the clock again: one second of delay under load would leave only 300 s ahead
    expect((await post(body, sign(SECRET, body, Math.floor(Date.now() / 1000) + 301))).status).toBe(401);
    await new Promise((r) => setTimeout(r, 300));
    expect(service.texts).toEqual([]);
    expect(slack.responses.find((r) => r.id === "refused")).toBeUndefined();
  });

  it("acknowledges a slash command at once even when the service takes five seconds, then answers via response_url", async () => {
    const started = Date.now();
    const res = await post(
      slashCommand({
        user: "U0ALICE",
        channel: CHANNEL,
        text: "slow",
        responseUrl: slack.responseUrl("slow"),
      }),
    );
    expect(res.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(slack.responses.find((r) => r.id === "slow")).toBeUndefined();
    const reply = await waitFor(
      "the slow reply",
      () => slack.responses.find((r) => r.id === "slow")?.body,
      10_000,
    );
    expect(reply.response_type).toBe("ephemeral");
    expect(reply.text).toBe("You asked: slow");
  }, 15_000);

  it("identifies the user: e-mail, slack id and the policy's user groups; channel carries the team", async () => {
    await post(
      slashCommand({
        user: "U0BOB",
        channel: CHANNEL,
        text: "keyturn status contoso-translator",
        responseUrl: slack.responseUrl("who"),
      }),
    );
    await responseTo("who");
    const seen = service.texts[0]!;
    expect(seen.text).toBe("status contoso-translator");
    expect(seen.inv.principal).toEqual({
      platform: "slack",
      id: "slack:T0CONTOSO:U0BOB",
      displayName: "Bob Okafor",
      identities: ["bob@contoso.com", "slack:u0bob", "slackgroup:s0secops"],
    });
    expect(seen.inv.channel).toEqual({ platform: "slack", id: CHANNEL, ref: { teamId: "T0CONTOSO" } });
  });

  it("without users:read.email still answers, knowing the user by Slack id, and says which scope to add", async () => {
    // a user not seen before: cached identities would hide the missing scope for five minutes
    slack.withoutEmailScope();
    try {
      await post(
        slashCommand({
          user: "U0DAVE",
          channel: CHANNEL,
          text: "status x",
          responseUrl: slack.responseUrl("noscope"),
        }),
      );
      const reply = await responseTo("noscope");
      expect(JSON.stringify(reply)).toContain("add the users:read.email scope");
      expect(service.texts[0]!.inv.principal.identities).toEqual(["slack:u0dave"]);
      expect(await adapter.gateway.notify("erin@contoso.com", { text: "x" })).toBeNull();
    } finally {
      slack.withoutEmailScope(false);
    }
  });

  it("answers signed nonsense without a server error and without calling the service", async () => {
    for (const body of [
      "payload=null",
      "payload=42",
      'payload={"type":"block_actions"}',
      "payload=%7B",
      "%%%",
      'payload={"type":"view_submission","view":{}}',
      'payload={"type":"block_actions","actions":"nope","user":{}}',
    ]) {
      const res = await post(body);
      expect(res.status, body).toBeLessThan(500);
    }
    // neither a command nor an interaction: refused at once, not left to Bolt's three-second timeout
    expect((await post("%%%")).status).toBe(400);
    expect((await post("text=status&user_id=U0ALICE")).status).toBe(400);
    expect(service.texts).toEqual([]);
    expect(service.actions).toEqual([]);
  });

  it("runs a command once when Slack retries it", async () => {
    const body = slashCommand({
      user: "U0ALICE",
      channel: CHANNEL,
      text: "status once",
      responseUrl: slack.responseUrl("once"),
    });
    expect((await post(body)).status).toBe(200);
    await responseTo("once");
    expect(
      (
        await post(body, {
          ...sign(SECRET, body),
          "x-slack-retry-num": "1",
          "x-slack-retry-reason": "http_timeout",
        })
      ).status,
    ).toBe(200);
    await new Promise((r) => setTimeout(r, 300));
    expect(service.texts.filter((t) => t.text === "status once")).toHaveLength(1);
  });

  it("uploads a reply's attachments into the channel", async () => {
    await post(
      slashCommand({
        user: "U0ERIN",
        channel: CHANNEL,
        text: "evidence CHG-1",
        responseUrl: slack.responseUrl("ev"),
      }),
    );
    expect((await responseTo("ev")).text).toContain("Evidence for CHG-1");
    const file = await waitFor("the uploaded file", () =>
      slack.files.find((f) => f.filename === "keyturn-evidence-CHG-1.md" && f.channel),
    );
    expect(file).toMatchObject({ channel: CHANNEL, content: "# CHG-1\nall good" });
  });
});

describe("buttons", () => {
  it("passes the same idempotency key for a repeated click with the same action_ts", async () => {
    const { blocks } = await adapter.gateway
      .postRoot({ platform: "slack", id: CHANNEL }, card)
      .then((t) => slack.thread(t.channel, t.root).root!);
    const approve = buttonsOf(blocks).Approve!;
    expect(approve.action_id).toBe("keyturn:approve:CHG-1");
    for (const id of ["a1", "a2"])
      await post(
        blockAction({
          user: "U0BOB",
          channel: CHANNEL,
          button: approve,
          responseUrl: slack.responseUrl(id),
          actionTs: "1700000009.000001",
        }),
      );
    await responseTo("a1");
    await responseTo("a2");
    expect(service.actions).toHaveLength(2);
    expect(service.actions[0]!.inv.idempotencyKey).toBe("slack:1700000009.000001:U0BOB");
    expect(service.actions[1]!.inv.idempotencyKey).toBe(service.actions[0]!.inv.idempotencyKey);
    expect(service.actions[0]!.action).toEqual({ kind: "approve", changeId: "CHG-1", planHash: "abc123" });
  });

  it("answers an unauthorised click ephemerally, without replacing the card", async () => {
    await post(
      blockAction({
        user: "U0ERIN",
        channel: CHANNEL,
        button: {
          action_id: "keyturn:approve:CHG-1",
          value: JSON.stringify({ kind: "approve", changeId: "CHG-1" }),
        },
        responseUrl: slack.responseUrl("erin"),
      }),
    );
    const r = await responseTo("erin");
    expect(r).toMatchObject({
      response_type: "ephemeral",
      replace_original: false,
      text: "You are not an approver of CHG-1; nothing changed.",
    });
  });

  it("acknowledges a button that is not keyturn's at once, without calling the service", async () => {
    const started = Date.now();
    const res = await post(
      blockAction({
        user: "U0BOB",
        channel: CHANNEL,
        button: { action_id: "other_app_button", value: "x" },
        responseUrl: slack.responseUrl("other"),
      }),
    );
    expect(res.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(JSON.stringify(await responseTo("other"))).toMatch(/not one keyturn understands/);
    expect(service.actions).toEqual([]);
  });

  it("refuses a button value keyturn did not render, without calling the service", async () => {
    await post(
      blockAction({
        user: "U0BOB",
        channel: CHANNEL,
        button: { action_id: "keyturn:approve:CHG-1", value: '{"kind":"selfdestruct","changeId":"CHG-1"}' },
        responseUrl: slack.responseUrl("forged"),
      }),
    );
    expect(JSON.stringify(await responseTo("forged"))).toMatch(/not one keyturn understands/);
    expect(service.actions).toEqual([]);
  });

  it("asks for a reason in a modal; the submission carries it, rendered escaped", async () => {
    const views = slack.views.length;
    const reject = {
      action_id: "keyturn:reject:CHG-1",
      value: JSON.stringify({ kind: "reject", changeId: "CHG-1", needsReason: true }),
    };
    await post(
      blockAction({ user: "U0BOB", channel: CHANNEL, button: reject, responseUrl: slack.responseUrl("rj") }),
    );
    const view = await waitFor(
      "the reason modal",
      () =>
        slack.views.length > views &&
        (slack.views.at(-1) as { callback_id: string; private_metadata: string }),
    );
    expect(view.callback_id).toBe("keyturn_reason");
    expect(service.actions).toEqual([]);

    const reason = "wrong account <!channel> <@U0CAROL> <https://evil.example|click>";
    const res = await post(viewSubmission({ user: "U0BOB", view, reason }));
    expect(res.status).toBe(200);
    await waitFor("the service to see the reason", () => service.actions.length === 1);
    expect(service.actions[0]!.action).toEqual({ kind: "reject", changeId: "CHG-1", reason });
    const shown = await waitFor("the ephemeral answer", () => slack.ephemerals("U0BOB").at(-1));
    const wire = JSON.stringify(shown.blocks);
    expect(wire).toContain("&lt;!channel&gt;");
    expect(wire).not.toContain("<!channel>");
    expect(wire).not.toContain("<@U0CAROL>");
    expect(wire).not.toContain("<https://evil.example|");
  });

  it("does not accept an empty reason", async () => {
    const view = {
      callback_id: "keyturn_reason",
      private_metadata: JSON.stringify({
        action: { kind: "reject", changeId: "CHG-1" },
        channel: CHANNEL,
        teamId: "T0CONTOSO",
      }),
    };
    const res = await post(viewSubmission({ user: "U0BOB", view, reason: "   " }));
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ response_action: "errors" });
    expect(service.actions).toEqual([]);
  });
});

describe("the thread", () => {
  it("renders a user's <!channel> escaped in the card and the fallback text", async () => {
    const t = await adapter.gateway.postRoot(
      { platform: "slack", id: "C0ESC" },
      { ...card, text: "reason: <!channel>" },
    );
    const root = slack.thread(t.channel, t.root).root!;
    expect(root.text).toBe("reason: &lt;!channel&gt;");
    expect(JSON.stringify(root.blocks)).not.toContain("<!channel>");
  });

  it("delays thread replies through a 429 without dropping or reordering them", async () => {
    const t = await adapter.gateway.postRoot({ platform: "slack", id: "C0RATE" }, { text: "root" });
    slack.failNext("chat.postMessage", { status: 429, retryAfter: 1 });
    const started = Date.now();
    await Promise.all(["one", "two", "three", "four"].map((text) => adapter.gateway.reply(t, { text })));
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(slack.thread(t.channel, t.root).replies.map((r) => r.text)).toEqual([
      "one",
      "two",
      "three",
      "four",
    ]);
    await adapter.gateway.updateRoot(t, { text: "root, updated" });
    expect(slack.thread(t.channel, t.root).root!.text).toBe("root, updated");
  });

  it("DMs a person by principal id or e-mail, links the thread, and reports Slack's refusal as chat_failed", async () => {
    expect(
      await adapter.gateway.notify(
        { platform: "slack", id: "slack:T0CONTOSO:U0CAROL", displayName: "Carol Diaz" },
        { text: "please review" },
      ),
    ).toMatchObject({ platform: "slack", channel: "DU0CAROL" });
    const dave = await adapter.gateway.notify("dave@contoso.com", { text: "on call" });
    expect(dave).toMatchObject({ platform: "slack", channel: "DU0DAVE" });
    expect(await adapter.gateway.notify("nobody@contoso.com", { text: "x" })).toBeNull();
    expect(slack.dms("U0CAROL").map((m) => m.text)).toEqual(["please review"]);
    // the DM can be changed later through the ref notify returned
    await adapter.gateway.updateRoot(dave!, { text: "on call: handed over" });
    expect(slack.dms("U0DAVE").map((m) => m.text)).toEqual(["on call: handed over"]);

    const t = await adapter.gateway.postRoot({ platform: "slack", id: "C0LINK" }, { text: "root" });
    expect(await adapter.gateway.permalink(t)).toBe(
      `https://contoso.slack.com/archives/C0LINK/p${t.root.replace(".", "")}`,
    );

    slack.failNext("chat.postMessage", { error: "channel_not_found" });
    const err = await adapter.gateway
      .postRoot({ platform: "slack", id: "C0GONE" }, { text: "x" })
      .catch((e: unknown) => e);
    expect(isKeyturnError(err) && err.code).toBe("chat_failed");
    expect(isKeyturnError(err) && err.userMessage).toContain("channel_not_found");
  });
});

describe("the installed workspace only", () => {
  it("refuses a command Slack signed for another workspace, saying so, without calling the service", async () => {
    for (const from of [{ team: "T0EVIL" }, { team: "T0CONTOSO", enterprise: "E0EVIL" }]) {
      const res = await post(
        slashCommand({
          user: "U0ALICE",
          channel: CHANNEL,
          text: 'rotate contoso-translator --reason "x"',
          responseUrl: slack.responseUrl("foreign"),
          ...from,
        }),
      );
      expect(res.status).toBe(200);
      const answer = (await res.json()) as { response_type?: string; text?: string };
      expect(answer.response_type).toBe("ephemeral");
      expect(answer.text).toMatch(/serves one Slack workspace.*another .*nothing was done/);
    }
    await new Promise((r) => setTimeout(r, 300));
    expect(service.texts).toEqual([]);
    expect(slack.responses.find((r) => r.id === "foreign")).toBeUndefined();
  });

  it("refuses a button pressed by a member of another workspace (a Slack Connect channel)", async () => {
    for (const from of [{ team: "T0EVIL" }, { userTeam: "T0PARTNER" }]) {
      const id = `connect-${from.team ?? from.userTeam}`;
      const res = await post(
        blockAction({
          user: "U0BOB",
          channel: CHANNEL,
          button: { action_id: "keyturn:approve:CHG-1", value: JSON.stringify(card.buttons![0]!.action) },
          responseUrl: slack.responseUrl(id),
          ...from,
        }),
      );
      expect(res.status).toBe(200);
      expect(JSON.stringify(await responseTo(id))).toMatch(/serves one Slack workspace.*nothing was done/);
    }
    expect(service.actions).toEqual([]);
  });

  it("learns an org-wide installation from auth.test: one principal per user across the organisation's workspaces", async () => {
    slack.installedIn({ team_id: "T0HQ", enterprise_id: "E0CONTOSO", is_enterprise_install: true });
    const org = await serve({ teamId: undefined, botUserId: undefined, botId: undefined });
    try {
      for (const team of ["T0HQ", "T0LAB"]) {
        const body = slashCommand({
          user: "U0ALICE",
          channel: CHANNEL,
          text: `status from ${team}`,
          responseUrl: slack.responseUrl(`org-${team}`),
          team,
          enterprise: "E0CONTOSO",
        });
        expect(
          (await fetch(`${org.base}/slack/events`, { method: "POST", headers: sign(SECRET, body), body }))
            .status,
        ).toBe(200);
        await responseTo(`org-${team}`);
      }
      expect(service.texts.map((t) => t.inv.principal.id)).toEqual([
        "slack:E0CONTOSO:U0ALICE",
        "slack:E0CONTOSO:U0ALICE",
      ]);
      const body = slashCommand({
        user: "U0ALICE",
        channel: CHANNEL,
        text: "status",
        responseUrl: slack.responseUrl("org-evil"),
        team: "T0HQ",
        enterprise: "E0EVIL",
      });
      const res = await fetch(`${org.base}/slack/events`, {
        method: "POST",
        headers: sign(SECRET, body),
        body,
      });
      expect(((await res.json()) as { text: string }).text).toMatch(/serves one Slack organisation/);
      expect(service.texts).toHaveLength(2);
    } finally {
      await org.close();
      slack.installedIn({ team_id: "T0CONTOSO" });
    }
  });

  it("without SLACK_TEAM_ID and no answer to auth.test, starts anyway and refuses requests until it knows its workspace", async () => {
    slack.hang(Infinity, ["auth.test"]);
    const started = Date.now();
    const lost = await serve({ teamId: undefined, apiTimeoutMs: 100 });
    try {
      expect(Date.now() - started).toBeLessThan(5_000);
      const body = slashCommand({
        user: "U0ALICE",
        channel: CHANNEL,
        text: "status",
        responseUrl: slack.responseUrl("lost"),
      });
      const res = await fetch(`${lost.base}/slack/events`, {
        method: "POST",
        headers: sign(SECRET, body),
        body,
      });
      expect(Date.now() - started).toBeLessThan(8_000);
      expect(((await res.json()) as { text: string }).text).toMatch(
        /not yet confirmed which Slack workspace/,
      );
      expect(service.texts).toEqual([]);
    } finally {
      slack.unhang();
      await lost.close();
    }
  }, 20_000);
});

describe("who a Slack user is", () => {
  let now = Date.parse("2026-11-22T09:00:00Z");
  const identity = (allowGuests = false) =>
    new SlackIdentity(
      createWebClient("xoxb-identity", { apiUrl: slack.apiUrl, apiTimeoutMs: 500 }),
      ["slackgroup:S0SECOPS"],
      { now: () => new Date(now) },
      createLogger({ level: "silent" }),
      () => ({ teamId: "T0CONTOSO", enterpriseInstall: false }),
      { allowGuests },
    );
  const later = (ms: number) => (now += ms);

  afterAll(() => {
    for (const u of ["U0BOB", "U0CAROL", "U0DAVE", "U0ERIN"])
      slack.setUser(u, {
        team_id: "T0CONTOSO",
        deleted: false,
        is_bot: false,
        is_restricted: false,
        is_ultra_restricted: false,
        is_email_confirmed: true,
      });
    slack.setGroup("S0SECOPS", ["U0BOB"]);
  });

  it("takes the e-mail only when Slack confirmed it and the user is a full member of the installed workspace", async () => {
    slack.setUser("U0CAROL", { is_email_confirmed: false });
    slack.setUser("U0DAVE", { is_restricted: true });
    slack.setUser("U0ERIN", { team_id: "T0PARTNER" });
    const ids = identity();
    const carol = await ids.resolve("U0CAROL", "T0CONTOSO");
    expect(carol.principal.identities).toEqual(["slack:u0carol"]);
    expect(carol.emailIgnored).toMatch(/not confirmed/);
    const dave = await ids.resolve("U0DAVE", "T0CONTOSO");
    expect(dave.principal.identities).toEqual(["slack:u0dave"]);
    expect(dave.emailIgnored).toMatch(/guest/);
    expect((await ids.resolve("U0ERIN", "T0CONTOSO")).principal.identities).toEqual(["slack:u0erin"]);
    // a guest in the approvers' user group is not taken as one either
    slack.setUser("U0BOB", { is_ultra_restricted: true });
    expect((await ids.resolve("U0BOB", "T0CONTOSO")).principal.identities).toEqual(["slack:u0bob"]);
    // unless guests are allowed
    expect((await identity(true).resolve("U0BOB", "T0CONTOSO")).principal.identities).toEqual([
      "bob@contoso.com",
      "slack:u0bob",
      "slackgroup:s0secops",
    ]);
  });

  it("forgets what it knew after five minutes: a deactivated user and a user taken out of a group stop counting", async () => {
    slack.setUser("U0BOB", { is_ultra_restricted: false, deleted: false });
    const ids = identity();
    expect((await ids.resolve("U0BOB", "T0CONTOSO")).principal.identities).toEqual([
      "bob@contoso.com",
      "slack:u0bob",
      "slackgroup:s0secops",
    ]);
    slack.setGroup("S0SECOPS", []);
    later(5 * 60_000 + 1);
    expect((await ids.resolve("U0BOB", "T0CONTOSO")).principal.identities).toEqual([
      "bob@contoso.com",
      "slack:u0bob",
    ]);
    slack.setUser("U0BOB", { deleted: true });
    later(60_000);
    expect((await ids.resolve("U0BOB", "T0CONTOSO")).principal.identities).toHaveLength(2); // still cached
    later(4 * 60_000 + 1);
    expect((await ids.resolve("U0BOB", "T0CONTOSO")).principal.identities).toEqual([]);
  });

  it("asks again within a minute after a failed lookup, instead of hiding an approver for five", async () => {
    slack.setUser("U0CAROL", { is_email_confirmed: true });
    const ids = identity();
    slack.failNext("users.info", { error: "internal_error" });
    expect((await ids.resolve("U0CAROL", "T0CONTOSO")).principal.identities).toEqual(["slack:u0carol"]);
    later(31_000);
    expect((await ids.resolve("U0CAROL", "T0CONTOSO")).principal.identities).toEqual([
      "carol@contoso.com",
      "slack:u0carol",
    ]);
  });
});
