/**
 * Chat never holds a change: ChatOut over the real Slack gateway, against the fake Slack Web API when it
 * stalls (accepts requests and never answers), answers late, or comes back. Every call returns within its
 * bound, nothing throws into the caller, failed posts are retried and the ones given up on are reported.
 */
import { PassThrough } from "node:stream";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createSlackGateway } from "../../adapters/slack/gateway.js";
import { createWebClient } from "../../adapters/slack/web-client.js";
import type { Change } from "../../src/core/domain.js";
import type { Store } from "../../src/core/ports.js";
import { createLogger } from "../../src/log.js";
import { ChatOut } from "../../src/runner/chat-out.js";
import { ChatRegistry } from "../../src/runner/chat-registry.js";
import { openStore } from "../../src/store/open-store.js";
import { FakeSlack } from "../fakes/slack-api.js";
import { change as fixture } from "../support/change-fixture.js";
import { createTempDir, type TempDir } from "../support/temp-dir.js";
import { asyncStore } from "../../src/store/async-sqlite.js";

const CHANNEL = { platform: "slack" as const, id: "C0INCIDENT" };
/** Per attempt: three attempts and their back-off fail a call in about 2 s. */
const API_TIMEOUT_MS = 150;

let slack: FakeSlack;
let dir: TempDir;
let store: Store;
let logs: string[];
let chat: ChatOut;
let n = 0;

function newChat(options: ConstructorParameters<typeof ChatOut>[4], apiTimeoutMs = API_TIMEOUT_MS): ChatOut {
  const out = new PassThrough();
  out.on("data", (d: Buffer) => logs.push(...d.toString().split("\n").filter(Boolean)));
  const logger = createLogger({ level: "info", destination: out });
  const chats = new ChatRegistry();
  chats.register(
    createSlackGateway(createWebClient("xoxb-chat-timeouts", { apiUrl: slack.apiUrl, apiTimeoutMs }), logger),
  );
  return new ChatOut(asyncStore(store), chats, logger, undefined, options);
}

/** A recorded change awaiting approval by bob and carol (production policy), requested by alice. */
function recorded(over: Partial<Change> = {}): Change {
  const c = fixture({
    id: `CHG-${++n}`,
    accountId: `/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/acct-${n}`,
    accountName: `acct-${n}`,
    state: "awaiting_approval",
    ...over,
  });
  store.commit(c, []);
  return c;
}

async function waitFor<T>(what: string, probe: () => T | undefined | false, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const blocksOf = (m: { blocks?: unknown[] } | undefined) => JSON.stringify(m?.blocks ?? []);

beforeAll(async () => {
  dir = createTempDir("keyturn-chat-timeouts-");
  store = openStore(dir.file("keyturn.db"));
  slack = await new FakeSlack().start();
});

afterAll(async () => {
  await slack?.stop();
  store?.close();
  dir?.remove();
});

beforeEach(() => {
  logs = [];
});

afterEach(() => {
  chat?.stop();
  slack.unhang();
});

describe("a stalled Slack", { timeout: 20_000 }, () => {
  it("costs a new change its thread, within the open deadline, never its progress", async () => {
    chat = newChat({ openDeadlineMs: 800, callDeadlineMs: 10_000, retryDelaysMs: [] });
    const c = recorded();
    slack.hang();
    const started = Date.now();
    expect(await chat.openThread(c, CHANNEL)).toBeNull();
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(slack.hanging).toBeGreaterThan(0);
    expect(logs.join("\n")).toMatch(/evidence thread not posted; the change goes on without it/);
  });

  it("keeps a step's owner DM from holding the step: false within the bound, not a throw", async () => {
    chat = newChat({ callDeadlineMs: 1_000, retryDelaysMs: [] });
    const c = recorded({ thread: { platform: "slack", channel: CHANNEL.id, root: "1700000000.000001" } });
    slack.hang();
    const started = Date.now();
    expect(await chat.notifyOwner(c.id, "dave@contoso.com", "your app still uses the old key")).toBe(false);
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it("asks the approvers once Slack answers again, each exactly once, even without a thread", async () => {
    chat = newChat({ callDeadlineMs: 10_000, retryDelaysMs: [500, 1_000, 2_000, 4_000] });
    const c = recorded();
    slack.hang();
    chat.notifyApprovers(c.id);
    await waitFor("the first DM attempt to fail", () =>
      logs.some((l) => /approver notification failed/.test(l)),
    );
    expect(slack.dms("U0BOB")).toHaveLength(0);
    slack.unhang();
    await waitFor("Bob's and Carol's DMs", () => slack.dms("U0BOB")[0] && slack.dms("U0CAROL")[0]);
    await chat.idle();
    await new Promise((r) => setTimeout(r, 1_500));
    expect(slack.dms("U0BOB")).toHaveLength(1);
    expect(slack.dms("U0CAROL")).toHaveLength(1);
    expect(slack.dms("U0ALICE")).toHaveLength(0);
    expect(blocksOf(slack.dms("U0BOB")[0])).toContain(c.id);
  });

  it("retries a failed thread reply, and names what it gave up on in the thread once Slack answers", async () => {
    chat = newChat({ callDeadlineMs: 10_000, retryDelaysMs: [300] });
    const c = recorded();
    const thread = await chat.openThread(c, CHANNEL);
    expect(thread).not.toBeNull();
    store.commit({ ...c, thread }, []);

    slack.hang(Infinity, ["chat.postMessage"]);
    chat.notice(c.id, "Step 3 is waiting for consumers", "info");
    await waitFor("keyturn to give up on the notice", () =>
      logs.some((l) => /chat notice failed; keyturn gave up on it/.test(l)),
    );
    expect(logs.filter((l) => /chat notice failed; retrying/.test(l))).toHaveLength(1);
    slack.unhang();

    chat.notice(c.id, "Step 4 passed", "success");
    const replies = await waitFor("the next notice and the report of the missed one", () => {
      const r = slack.thread(thread!.channel, thread!.root).replies.map(blocksOf);
      return r.length >= 2 && r;
    });
    expect(replies[0]).toContain("Step 4 passed");
    expect(replies[1]).toMatch(/could not post here earlier \(notice\)/);
    expect(replies[1]).toContain(`history ${c.id}`);
  });

  it("marks a card that Slack posted only after the change went on without it", async () => {
    // Slack's client waits longer than the change does: the card arrives after the change went on
    chat = newChat({ openDeadlineMs: 300, callDeadlineMs: 10_000, retryDelaysMs: [] }, 5_000);
    const c = recorded();
    slack.slow(1_000, ["chat.postMessage"]);
    expect(await chat.openThread(c, CHANNEL)).toBeNull();
    const late = await waitFor("the late card", () =>
      slack.roots(CHANNEL.id).find((m) => m.text.includes(c.id)),
    );
    const marked = await waitFor("the late card to be marked", () =>
      slack.roots(CHANNEL.id).find((m) => m.ts === late.ts && /posted late/.test(blocksOf(m))),
    );
    expect(blocksOf(marked)).toContain(`status ${c.id}`);
  });
});

describe("the Slack gateway's own bounds", { timeout: 20_000 }, () => {
  const gateway = () =>
    createSlackGateway(
      createWebClient("xoxb-chat-timeouts", { apiUrl: slack.apiUrl, apiTimeoutMs: API_TIMEOUT_MS }),
      createLogger({ level: "silent" }),
    );

  it("fails a post Slack never answers after bounded attempts, saying Slack did not answer", async () => {
    slack.hang();
    const stalled = () => slack.calls.filter((m) => m === "chat.postMessage (stalled)").length;
    const before = stalled();
    const started = Date.now();
    const err = (await gateway()
      .postRoot(CHANNEL, { text: "x" })
      .then(
        () => ({}),
        (e: unknown) => e,
      )) as { code?: string; userMessage?: string };
    expect(Date.now() - started).toBeLessThan(4_000);
    expect(err.code).toBe("chat_failed");
    expect(err.userMessage).toMatch(/did not answer chat\.postMessage in time/);
    expect(stalled() - before).toBe(3);
  });

  it("treats a stalled lookup as a failure to retry, not as nobody to reach", async () => {
    slack.hang(Infinity, ["users.lookupByEmail"]);
    await expect(gateway().notify("bob@contoso.com", { text: "x" })).rejects.toMatchObject({
      code: "chat_failed",
    });
  });

  it("does not hold a channel's queue for an hour-long Retry-After", async () => {
    slack.failNext("chat.postMessage", { status: 429, retryAfter: 3600 });
    const started = Date.now();
    const err = (await gateway()
      .postRoot(CHANNEL, { text: "x" })
      .then(
        () => ({}),
        (e: unknown) => e,
      )) as { code?: string; userMessage?: string };
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(err.userMessage).toMatch(/rate-limited/);
  });
});
