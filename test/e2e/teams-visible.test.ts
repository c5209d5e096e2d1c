/**
 * What people in Teams see, from the built program over the Bot Framework protocol: an approver who
 * never opened a chat with keyturn is sent the request; a message Teams delivers twice starts one
 * change; a reason's Markdown stays as typed and a colleague mentioned in it keeps their name; a refused
 * click leaves the card and says why; the card's link is the documented deep link.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  cardAction,
  cardOf,
  channelMessage,
  executes,
  FakeConnector,
  PEOPLE,
  TENANT,
} from "../fakes/bot-connector.js";
import { LocalAuthority } from "../fakes/teams-auth.js";
import { spawnKeyturn, waitUntil, type RunningProgram } from "../support/spawn-keyturn.js";
import { asTextBlock, cardTexts, shownOf } from "../support/teams-visible.js";

const THREAD = "19:incident@thread.tacv2;messageid=100";
const GROUP = "0b7c2e8a-5d1f-4c3b-9a6e-2f4d8c1b7e90";
let fc: FakeConnector;
let kt: RunningProgram;
let dir: string;

const send = async (activity: Record<string, unknown>) => {
  const r = await fetch(`${kt.url}/api/messages`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(activity),
  });
  const text = await r.text();
  return { status: r.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "keyturn-teams-visible-"));
  fc = await new FakeConnector().start();
  kt = await spawnKeyturn({ KEYTURN_DATA_DIR: dir, NODE_ENV: "test", KEYTURN_TEAMS_ANONYMOUS: "local" });
});

afterAll(async () => {
  await kt?.stop();
  await fc?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("Teams as people see it", () => {
  const reason = "[click](https://evil.example/phish) **loud**, ask <at>Bob Okafor</at>";
  const asTyped = "[click](https://evil.example/phish) **loud**, ask Bob Okafor";
  let root: { id: string; body: Record<string, unknown> };
  let started: number;

  it("a rotation asked once, delivered twice by Teams, starts one change; its reason reads as typed", async () => {
    const base = channelMessage(fc.url, "alice", "");
    const activity = {
      ...base,
      text: `<at>keyturn</at> rotate contoso-translator --exposure key1 --reason "${reason}"`,
      entities: [
        { type: "mention", text: "<at>keyturn</at>", mentioned: { id: "28:keyturn", name: "keyturn" } },
        {
          type: "mention",
          text: "<at>Bob Okafor</at>",
          mentioned: { id: PEOPLE.bob!.id, name: "Bob Okafor" },
        },
      ],
      channelData: {
        tenant: { id: TENANT },
        team: { id: "19:team@thread.tacv2", name: "Platform & Security", aadGroupId: GROUP },
        channel: { id: "19:incident@thread.tacv2", name: "Incident 42" },
      },
    };
    started = Date.now();
    expect((await send(activity)).status).toBe(200);
    expect((await send(activity)).status).toBe(200);
    root = await waitUntil("the change card in the channel thread", () =>
      fc.in(THREAD).find((a) => /CHG-1 · rotate/.test(JSON.stringify(cardOf(a.body)))),
    );
    await waitUntil("Bob's DM", () => fc.in("a:personal-bob")[0]);
    const everything = fc.in(THREAD).map((a) => shownOf(a.body).join("\n"));
    expect(everything.join("\n")).not.toMatch(/already has an open change|CHG-2/);

    const card = cardTexts(cardOf(root.body)).map(asTextBlock);
    expect(card.map((b) => b.shown)).toContain(asTyped);
    expect(card.flatMap((b) => b.emphasised)).not.toContain("loud");
    expect(card.flatMap((b) => b.links).filter((l) => l.says !== l.to)).toEqual([]);
    // the card goes alone, its sentence the notification's summary: nothing above it repeats the card
    expect(root.body.text).toBeUndefined();
    expect(String(root.body.summary)).toMatch(/^CHG-1 · rotate contoso-translator/);
    expect(shownOf(root.body).filter((t) => /^CHG-1 · rotate/.test(t))).toHaveLength(1);
  });

  it("approvers who never wrote to keyturn get the request in a 1:1 chat keyturn opened", async () => {
    // the DMs go out one after the other: wait until keyturn has opened both chats
    const opened = await waitUntil("both 1:1 chats to be opened", () => {
      const one = fc.created.filter((c) => c.isGroup === false) as { members: { aadObjectId: string }[] }[];
      return one.length >= 2 ? one : undefined;
    });
    expect(opened.map((c) => c.members[0]!.aadObjectId).sort()).toEqual(
      [PEOPLE.bob!.aadObjectId, PEOPLE.carol!.aadObjectId].sort(),
    );
    for (const who of ["bob", "carol"]) {
      const dm = await waitUntil(`${who}'s DM`, () => fc.in(`a:personal-${who}`)[0]);
      expect(
        cardTexts(cardOf(dm.body))
          .map((t) => asTextBlock(t).shown)
          .join("\n"),
      ).toMatch(/CHG-1/);
    }
  });

  it("the approver's link opens the change's card in its channel thread", async () => {
    const link = await waitUntil("the link in Bob's DM", () => {
      const card = cardOf(fc.in("a:personal-bob")[0]?.body) as { actions?: { type: string; url?: string }[] };
      return card?.actions?.find((a) => a.type === "Action.OpenUrl")?.url;
    });
    const url = new URL(link);
    expect(`${url.origin}${decodeURIComponent(url.pathname)}`).toBe(
      `https://teams.microsoft.com/l/message/19:incident@thread.tacv2/${root.id}`,
    );
    expect(Object.fromEntries([...url.searchParams].filter(([k]) => k !== "createdTime"))).toEqual({
      tenantId: TENANT,
      groupId: GROUP,
      parentMessageId: "100",
      teamName: "Platform & Security",
      channelName: "Incident 42",
    });
    expect(Number(url.searchParams.get("createdTime"))).toBeGreaterThanOrEqual(started);
  });

  it("a refused click leaves the card as it is and says why in words", async () => {
    const approve = executes(cardOf(root.body))["Approve › Approve"]!;
    const versions = fc.in(THREAD).find((a) => a.id === root.id)!.versions.length;
    const r = await send(cardAction(fc.url, "erin", THREAD, approve, root.id));
    expect(r.body.type).toBe("application/vnd.microsoft.activity.message");
    expect(String(r.body.value)).toMatch(/^[A-Z][^()]*not an approver/);
    expect(String(r.body.value)).toMatch(/\(not_authorised\)$/);
    expect(fc.in(THREAD).find((a) => a.id === root.id)!.versions.length).toBe(versions);
  });
});

describe("with a Teams app (authenticated), the 1:1 chat is opened with keyturn's own token", () => {
  const APP_ID = "0f5a6c7d-1111-4222-8333-944444444444";
  let authority: LocalAuthority;
  let connector: FakeConnector;
  let program: RunningProgram;
  let data: string;

  beforeAll(async () => {
    authority = await new LocalAuthority().start();
    connector = await new FakeConnector().start();
    data = mkdtempSync(join(tmpdir(), "keyturn-teams-visible-auth-"));
    program = await spawnKeyturn({
      KEYTURN_DATA_DIR: data,
      KEYTURN_SANDBOX: "1",
      MicrosoftAppId: APP_ID,
      MicrosoftAppType: "UserAssignedMSI",
      MicrosoftAppTenantId: authority.tenant,
      TEAMS_AUTHORITY_ENDPOINT: authority.url,
      IDENTITY_ENDPOINT: authority.identityEndpoint,
      IDENTITY_HEADER: authority.identityHeader,
    });
  });

  afterAll(async () => {
    await program?.stop();
    await connector?.stop();
    await authority?.stop();
    rmSync(data, { recursive: true, force: true });
  });

  it("Bob, who never wrote to keyturn, gets the approval request", async () => {
    const token = await authority.token({ aud: APP_ID, serviceUrl: connector.url });
    const r = await fetch(`${program.url}/api/messages`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify(
        channelMessage(connector.url, "alice", 'rotate contoso-translator --exposure key1 --reason "leaked"'),
      ),
    });
    expect(r.status).toBe(200);
    const dm = await waitUntil("Bob's DM", () => connector.in("a:personal-bob")[0], 20_000);
    expect(cardTexts(cardOf(dm.body)).join("\n")).toMatch(/CHG-1/);
    expect(connector.created.some((c) => c.isGroup === false && c.tenantId === TENANT)).toBe(true);
    expect(connector.authHeaders.every((h) => authority.issued.includes(h.replace(/^Bearer /, "")))).toBe(
      true,
    );
  });
});
