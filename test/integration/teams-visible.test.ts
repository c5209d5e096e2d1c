/**
 * What a person sees in Teams, through the real adapter over the Bot Framework protocol (a fake
 * connector on 127.0.0.1): direct messages to approvers who never wrote to keyturn, redelivered
 * messages, user text that must stay text, refused clicks, and deep links.
 */
import express from "express";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createTeamsAdapter, type TeamsAdapter } from "../../adapters/teams/index.js";
import type { ActionRequest, Reply } from "../../src/core/messages.js";
import type { Invocation, KeyturnService } from "../../src/core/ports.js";
import { createLogger } from "../../src/log.js";
import { openStore } from "../../src/store/open-store.js";
import { KeyturnError } from "../../src/core/errors.js";
import { renderError } from "../../src/core/render/index.js";
import { asMessageText, asTextBlock, cardTexts, shownOf } from "../support/teams-visible.js";
import { cardAction, cardOf, channelMessage, FakeConnector, PEOPLE, TENANT } from "../fakes/bot-connector.js";
import { asyncStore } from "../../src/store/async-sqlite.js";

const NOW = new Date("2026-03-02T10:15:30.000Z");
let connector: FakeConnector;
let teams: TeamsAdapter;
let server: Server;
let url: string;
const texts: { inv: Invocation; text: string }[] = [];
const actions: ActionRequest[] = [];
let answer: (text: string) => Reply = (text) => ({ visibility: "ephemeral", message: { text } });
let press: (a: ActionRequest) => Reply = () => ({ visibility: "ephemeral", message: { text: "ok" } });

// the adapter is what is under test: the service records what reached it and answers as told
const service: KeyturnService = {
  async handleText(inv, text) {
    texts.push({ inv, text });
    return answer(text);
  },
  async handleAction(_inv, action) {
    actions.push(action);
    return press(action);
  },
};

beforeAll(async () => {
  connector = await new FakeConnector().start();
  teams = createTeamsAdapter({
    service,
    store: asyncStore(openStore(":memory:")),
    logger: createLogger({ level: "silent" }),
    clock: { now: () => NOW },
    config: { anonymous: true, production: false, requestTimeoutMs: 2_000 },
    directory: Object.values(PEOPLE).map((p) => ({ email: p.upn, aadObjectId: p.aadObjectId })),
  });
  const app = express();
  app.post("/api/messages", express.json(), teams.handler);
  server = await new Promise((r) => {
    const s = app.listen(0, "127.0.0.1", () => r(s));
  });
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/messages`;
});

afterAll(async () => {
  server?.close();
  await connector?.stop();
});

beforeEach(() => {
  answer = (text) => ({ visibility: "ephemeral", message: { text } });
});

const post = async (activity: Record<string, unknown>) => {
  const r = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(activity),
  });
  const text = await r.text();
  return { status: r.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
};

/** A channel message as Teams sends it, in a team whose names and Microsoft 365 group Teams gives. */
const inIncidentChannel = (
  who: keyof typeof PEOPLE,
  text: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> => {
  const a = channelMessage(connector.url, who, text);
  return {
    ...a,
    channelData: {
      tenant: { id: TENANT },
      team: {
        id: "19:team@thread.tacv2",
        name: "Platform & Security",
        aadGroupId: "0b7c2e8a-5d1f-4c3b-9a6e-2f4d8c1b7e90",
      },
      channel: { id: "19:incident@thread.tacv2", name: "Incident 42" },
    },
    ...extra,
  };
};

describe("direct messages reach approvers who never opened a chat with keyturn", () => {
  it("opens the 1:1 chat through the connector of the tenant's channel, sends the DM there, and can update it", async () => {
    expect((await post(inIncidentChannel("alice", "help"))).status).toBe(200);
    const before = connector.created.length;

    const dm = await teams.gateway.notify("bob@contoso.com", { text: "Alice Ng asks you to approve CHG-1" });

    expect(connector.created.slice(before)).toEqual([
      {
        isGroup: false,
        members: [{ id: PEOPLE.bob!.aadObjectId, aadObjectId: PEOPLE.bob!.aadObjectId }],
        tenantId: TENANT,
        channelData: { tenant: { id: TENANT } },
        bot: { id: "28:keyturn", name: "keyturn" },
        agent: { id: "28:keyturn", name: "keyturn" },
      },
    ]);
    const posted = connector.in("a:personal-bob");
    expect(posted.map((a) => a.body.text)).toEqual(["Alice Ng asks you to approve CHG-1"]);
    expect(dm).toMatchObject({ platform: "teams", channel: "a:personal-bob", root: posted[0]!.id });

    await teams.gateway.updateRoot(dm!, { text: "CHG-1 approved by Carol Diaz: nothing left to decide" });
    expect(posted[0]!.versions.map((v) => v.text)).toEqual([
      "Alice Ng asks you to approve CHG-1",
      "CHG-1 approved by Carol Diaz: nothing left to decide",
    ]);

    // the chat is kept: the next DM goes straight there
    const again = connector.created.length;
    await teams.gateway.notify("bob@contoso.com", { text: "second" });
    expect(connector.created.length).toBe(again);
    expect(connector.in("a:personal-bob").map((a) => a.body.text)).toContain("second");
  });

  it("someone keyturn is not installed for: the connector refuses and notify says they were not reached", async () => {
    connector.installedFor.delete("dave");
    try {
      expect(await teams.gateway.notify("dave@contoso.com", { text: "approve CHG-1?" })).toBeNull();
      expect(connector.in("a:personal-dave")).toEqual([]);
    } finally {
      connector.installedFor.add("dave");
    }
  });
});

describe("a message Teams delivers twice runs once", () => {
  it("the same activity id again: the service is not asked a second time and no second reply is posted", async () => {
    const activity = inIncidentChannel("alice", 'rotate contoso-translator --reason "leaked"');
    const conversation = (activity.conversation as { id: string }).id;
    const ran = texts.length;
    const replies = connector.in(conversation).length;
    expect((await post(activity)).status).toBe(200);
    expect((await post(activity)).status).toBe(200);
    expect(texts.length - ran).toBe(1);
    expect(connector.in(conversation).length - replies).toBe(1);
    // another message (another id) still runs
    await post(inIncidentChannel("alice", "help"));
    expect(texts.length - ran).toBe(2);
  });
});

describe("the link to a change's card opens it in Teams", () => {
  it("is the documented channel message deep link, with tenant, team group, parent message, names and time", async () => {
    const activity = inIncidentChannel("alice", "status contoso-translator");
    await post(activity);
    const thread = await teams.gateway.postRoot(
      {
        platform: "teams",
        id: "19:incident@thread.tacv2;messageid=100",
        ref: (await import("@microsoft/agents-activity")).Activity.fromObject(
          activity,
        ).getConversationReference() as unknown as Record<string, unknown>,
      },
      { text: "CHG-7 · rotate contoso-translator" },
    );
    expect(await teams.gateway.permalink(thread)).toBe(
      `https://teams.microsoft.com/l/message/19:incident@thread.tacv2/${thread.root}` +
        `?tenantId=${TENANT}&groupId=0b7c2e8a-5d1f-4c3b-9a6e-2f4d8c1b7e90&parentMessageId=100` +
        `&teamName=Platform%20%26%20Security&channelName=Incident%2042&createdTime=${NOW.getTime()}`,
    );
  });
});

describe("a refused click leaves the card as it is and tells the presser why", () => {
  it("answers Action.Execute with a message the person reads (the reason in words, the code as small print), not a card", async () => {
    press = () => ({
      visibility: "ephemeral",
      message: renderError(
        new KeyturnError(
          "not_authorised",
          "Erin Cho is not an approver of CHG-1.\nApprovers: Bob Okafor or Carol Diaz — ask one of them.",
        ),
      ),
    });
    const approve = { verb: "keyturn.approve", data: { action: { kind: "approve", changeId: "CHG-1" } } };
    const r = await post(
      cardAction(connector.url, "erin", "19:incident@thread.tacv2;messageid=100", approve, "1700000000001"),
    );
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      statusCode: 200,
      type: "application/vnd.microsoft.activity.message",
      value:
        "Erin Cho is not an approver of CHG-1. Approvers: Bob Okafor or Carol Diaz — ask one of them. (not_authorised)",
    });
  });
});

describe("user text stays text in Teams", () => {
  const reason = "[click](https://evil.example/phish) **loud** _soft_ # heading ask <at>Bob Okafor</at>";
  const asTyped = "[click](https://evil.example/phish) **loud** _soft_ # heading ask Bob Okafor";

  it("a reason's links and formatting are shown as typed, in the message text and in the card; a colleague mentioned keeps their name", async () => {
    answer = (text) => ({
      visibility: "in_channel",
      message: {
        text: `Change requested: ${text}`,
        title: "CHG-9 · rotate",
        fields: [{ label: "Reason", value: text }],
      },
    });
    const activity = inIncidentChannel("alice", `rotate contoso-translator --reason "${reason}"`, {
      text: `<at>keyturn</at> rotate contoso-translator --reason "${reason}"`,
      entities: [
        { type: "mention", text: "<at>keyturn</at>", mentioned: { id: "28:keyturn", name: "keyturn" } },
        {
          type: "mention",
          text: "<at>Bob Okafor</at>",
          mentioned: { id: PEOPLE.bob!.id, name: "Bob Okafor" },
        },
      ],
    });
    const conversation = (activity.conversation as { id: string }).id;
    await post(activity);

    // keyturn's own mention is the address; Bob's is part of what was said
    expect(texts.at(-1)!.text).toBe(`rotate contoso-translator --reason "${asTyped}"`);

    const reply = connector.in(conversation).at(-1)!.body;
    // a card goes alone (Teams would show a text above it too): its sentence is the notification's summary
    expect(reply.text).toBeUndefined();
    expect(reply.summary).toBe(`Change requested: rotate contoso-translator --reason "${asTyped}"`);

    const blocks = cardTexts(cardOf(reply)).map(asTextBlock);
    expect(blocks.map((b) => b.shown)).toEqual([
      "CHG-9 · rotate",
      "Reason",
      `rotate contoso-translator --reason "${asTyped}"`,
    ]);
    expect(blocks.flatMap((b) => b.emphasised)).toEqual([]);
    expect(blocks.flatMap((b) => b.links).filter((l) => l.says !== l.to)).toEqual([]);
    expect(JSON.stringify(reply)).not.toContain("<at>");

    // an answer that is only a sentence is message text, and the reason in it reads as typed
    answer = (text) => ({ visibility: "in_channel", message: { text: `Change requested: ${text}` } });
    await post({ ...activity, id: `${String(activity.id)}-again` });
    const plain = connector.in(conversation).at(-1)!.body;
    expect(plain.attachments).toBeUndefined();
    const message = asMessageText(String(plain.text));
    expect(message.shown).toBe(`Change requested: rotate contoso-translator --reason "${asTyped}"`);
    expect(message.emphasised).toEqual([]);
    // a link may only say where it goes (Teams links bare URLs): none disguised as "click"
    expect(message.links.filter((l) => l.says !== l.to)).toEqual([]);
    expect(JSON.stringify(plain)).not.toContain("<at>");
  });
});

describe("a Teams message says its sentence once", () => {
  const sentence =
    "CHG-3 completed at 2026-11-30 20:34 UTC: contoso-translator rotated, approved by Bob Okafor and Carol Diaz. Nothing is left for you to decide.";
  const dm = {
    text: sentence,
    title: "CHG-3 · rotate contoso-translator",
    fields: [{ label: "State", value: "COMPLETED" }],
    sections: [{ lines: [sentence] }],
    context: ["CHG-3"],
  };
  const times = (a: Record<string, unknown> | undefined, s: string) =>
    shownOf(a).filter((t) => t.includes(s)).length;

  it("a card is sent alone, its sentence the summary Teams notifies with; an update keeps it so", async () => {
    const ref = await teams.gateway.notify("bob@contoso.com", {
      ...dm,
      text: "Alice Ng asks you to approve CHG-3",
      sections: [{ lines: ["Alice Ng asks you to approve CHG-3"] }],
    });
    const posted = connector.in("a:personal-bob").find((a) => a.id === ref!.root)!;
    expect(times(posted.body, "Alice Ng asks you to approve CHG-3")).toBe(1);
    expect(times(posted.body, "CHG-3 · rotate contoso-translator")).toBe(1);
    expect(posted.body.summary).toBe("Alice Ng asks you to approve CHG-3");

    await teams.gateway.updateRoot(ref!, dm);
    const now = posted.versions.at(-1)!;
    expect(times(now, "CHG-3 completed at 2026-11-30 20:34 UTC")).toBe(1);
    expect(times(now, "CHG-3 · rotate contoso-translator")).toBe(1);
    expect(now.summary).toBe(sentence);
  });

  it("a card with a title and nothing under it says its sentence in the card", async () => {
    const ref = await teams.gateway.notify("bob@contoso.com", {
      title: "keyturn is on standby",
      text: "Send the request again in a minute.",
    });
    const posted = connector.in("a:personal-bob").find((a) => a.id === ref!.root)!;
    expect(shownOf(posted.body)).toEqual(["keyturn is on standby", "Send the request again in a minute."]);
  });
});
