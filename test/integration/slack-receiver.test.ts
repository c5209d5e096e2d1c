/**
 * Slack's requests at the wire, on a plain node:http server as keyturn serves them (the adapter's
 * `serve` ahead of any framework): the signature, Slack's ssl_check and url_verification, retries,
 * a slash command's visible answer, a button press, and a request no listener acknowledges.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createSlackAdapter, type SlackAdapter } from "../../adapters/slack/index.js";
import type { ActionRequest, Reply } from "../../src/core/messages.js";
import type { Invocation, KeyturnService, Store } from "../../src/core/ports.js";
import { createLogger } from "../../src/log.js";
import { openStore } from "../../src/store/open-store.js";
import { FakeSlack, visibleText } from "../fakes/slack-api.js";
import { blockAction, sign, slashCommand } from "../fakes/slack-sign.js";
import { createTempDir, type TempDir } from "../support/temp-dir.js";
import { asyncStore } from "../../src/store/async-sqlite.js";

const SECRET = "receiver-signing-secret";
const CHANNEL = "C0RECEIVER";

/** Answers `help` at once (in the acknowledgement), anything else after it; records what it was asked. */
class RecordingService implements KeyturnService {
  readonly texts: string[] = [];
  readonly actions: ActionRequest[] = [];

  answerNow(text: string): Reply | null {
    if (text !== "help") return null;
    this.texts.push(text);
    return { visibility: "ephemeral", message: { text: "help", title: "keyturn commands: status, rotate" } };
  }

  handleText(_inv: Invocation, text: string): Promise<Reply> {
    this.texts.push(text);
    return Promise.resolve({
      visibility: "ephemeral",
      message: { text: `status of ${text}`, title: `Status: ${text.replace(/^status /, "")} is healthy` },
    });
  }

  handleAction(_inv: Invocation, action: ActionRequest): Promise<Reply> {
    this.actions.push(action);
    return Promise.resolve({
      visibility: "ephemeral",
      message: { text: `${action.kind} recorded`, title: `Your ${action.kind} of CHG-7 is recorded` },
    });
  }
}

let slack: FakeSlack;
let service: RecordingService;
let adapter: SlackAdapter;
let server: Server;
let base: string;
let dir: TempDir;
let store: Store;
const otherRequests: string[] = [];

const post = (body: string, headers: Record<string, string> = sign(SECRET, body), path = "/slack/events") =>
  fetch(`${base}${path}`, { method: "POST", headers, body });

async function waitFor<T>(what: string, probe: () => T | undefined | false, ms = 5_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const settle = () => new Promise((r) => setTimeout(r, 300));

beforeAll(async () => {
  dir = createTempDir("keyturn-slack-receiver-");
  store = openStore(dir.file("keyturn.db"));
  slack = await new FakeSlack().start();
  service = new RecordingService();
  adapter = createSlackAdapter({
    service,
    store: asyncStore(store),
    logger: createLogger({ level: "silent" }),
    clock: { now: () => new Date() },
    config: {
      botToken: "xoxb-receiver",
      signingSecret: SECRET,
      socketMode: false,
      apiUrl: slack.apiUrl,
      command: "/keyturn",
      botUserId: "U0KEYTURN",
      botId: "B0KEYTURN",
      teamId: "T0CONTOSO",
    },
    policyGroups: [],
  });
  // as keyturn's server: Slack's requests to the adapter, everything else to the rest of the program
  server = createServer((req, res) => {
    if (adapter.serve(req, res)) return;
    otherRequests.push(`${req.method} ${req.url}`);
    req.resume();
    res.end("other");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
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
  otherRequests.length = 0;
});

const command = (text: string, id: string, user = "U0ALICE") =>
  slashCommand({ user, channel: CHANNEL, text, responseUrl: slack.responseUrl(id) });

describe("Slack's requests on keyturn's own HTTP server", () => {
  it("refuses a bad signature with 401 and records nothing", async () => {
    const body = command("status contoso-translator", "badsig");
    const forged = await post(body, { ...sign(SECRET, body), "x-slack-signature": "v0=" + "a".repeat(64) });
    expect(forged.status).toBe(401);
    expect(await forged.text()).toContain("SLACK_SIGNING_SECRET");
    expect((await post(body, sign("not-the-secret", body))).status).toBe(401);
    // the signature covers the body: the same headers over another text are refused
    const other = command("rotate contoso-translator", "badsig");
    expect((await post(other, sign(SECRET, body))).status).toBe(401);
    expect((await post(body, { "content-type": "application/x-www-form-urlencoded" })).status).toBe(401);
    await settle();
    expect(service.texts).toEqual([]);
    expect(slack.responses.find((r) => r.id === "badsig")).toBeUndefined();
  });

  it("refuses a timestamp more than five minutes old (or ahead) with 401, even correctly signed", async () => {
    const body = command("status contoso-translator", "old");
    const now = Math.floor(Date.now() / 1000);
    expect((await post(body, sign(SECRET, body, now - 301))).status).toBe(401);
    expect((await post(body, sign(SECRET, body, now - 3600))).status).toBe(401);
    expect((await post(body, sign(SECRET, body, Math.floor(Date.now() / 1000) + 301))).status).toBe(401);
    expect((await post(body, { ...sign(SECRET, body), "x-slack-request-timestamp": "soon" })).status).toBe(
      401,
    );
    await settle();
    expect(service.texts).toEqual([]);
    // within the window it is served
    expect((await post(body, sign(SECRET, body, now - 200))).status).toBe(200);
    await waitFor("the reply", () => slack.responses.find((r) => r.id === "old"));
  });

  it("answers Slack's url_verification with its challenge, only when signed", async () => {
    const body = JSON.stringify({ token: "legacy", challenge: "c-3po-r2d2", type: "url_verification" });
    const res = await post(body, { ...sign(SECRET, body), "content-type": "application/json" });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("application/json");
    expect(await res.json()).toEqual({ challenge: "c-3po-r2d2" });
    const unsigned = await post(body, { "content-type": "application/json" });
    expect(unsigned.status).toBe(401);
  });

  it("answers Slack's ssl_check with 200 and runs nothing, whatever else the form carries", async () => {
    const body = new URLSearchParams({
      ssl_check: "1",
      token: "legacy",
      command: "/keyturn",
      text: "status contoso-translator",
      user_id: "U0ALICE",
      response_url: slack.responseUrl("ssl"),
    }).toString();
    // Slack's certificate check carries no signature
    const res = await post(body, { "content-type": "application/x-www-form-urlencoded" });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("");
    await settle();
    expect(service.texts).toEqual([]);
    expect(slack.responses.find((r) => r.id === "ssl")).toBeUndefined();
  });

  it("shows a slash command's answer: help in the acknowledgement itself, status on response_url", async () => {
    // the user's identity is learned once (help is answered in the ack when it is already known)
    await post(command("status warm", "warm"));
    await waitFor("the warm-up reply", () => slack.responses.find((r) => r.id === "warm"));
    const help = await post(command("help", "help"));
    expect(help.status).toBe(200);
    expect(help.headers.get("content-type")).toContain("application/json");
    const ack = (await help.json()) as { response_type: string; blocks: unknown[] };
    expect(ack.response_type).toBe("ephemeral");
    expect(visibleText(ack.blocks)).toContain("keyturn commands: status, rotate");

    const status = await post(command("status contoso-translator", "status"));
    expect(status.status).toBe(200);
    expect(await status.text()).toBe("");
    const reply = await waitFor("the status reply", () => slack.responses.find((r) => r.id === "status"));
    expect(visibleText(reply.body.blocks as unknown[])).toContain("Status: contoso-translator is healthy");
    expect(service.texts).toEqual(["status warm", "help", "status contoso-translator"]);
  });

  it("runs a button press once and shows its answer", async () => {
    const body = blockAction({
      user: "U0BOB",
      channel: CHANNEL,
      button: {
        action_id: "keyturn:approve",
        value: JSON.stringify({ kind: "approve", changeId: "CHG-7", planHash: "abc" }),
      },
      responseUrl: slack.responseUrl("press"),
    });
    const res = await post(body);
    expect(res.status).toBe(200);
    const reply = await waitFor("the button's reply", () => slack.responses.find((r) => r.id === "press"));
    expect(visibleText(reply.body.blocks as unknown[])).toContain("Your approve of CHG-7 is recorded");
    expect(service.actions).toMatchObject([{ kind: "approve", changeId: "CHG-7" }]);
  });

  it("hands Slack's retry headers to Bolt: a retry of a handled command is acknowledged and not run again; a first delivery marked as a retry runs", async () => {
    const body = command("status retried", "retry");
    expect((await post(body)).status).toBe(200);
    await waitFor("the first reply", () => slack.responses.find((r) => r.id === "retry"));
    const again = await post(body, {
      ...sign(SECRET, body),
      "x-slack-retry-num": "1",
      "x-slack-retry-reason": "http_timeout",
    });
    expect(again.status).toBe(200);
    await settle();
    expect(service.texts.filter((t) => t === "status retried")).toHaveLength(1);
    expect(slack.responses.filter((r) => r.id === "retry")).toHaveLength(1);

    // Slack's first attempt was lost: the retry is the only delivery, and it runs
    const lost = command("status lost-first", "lost");
    const retried = await post(lost, {
      ...sign(SECRET, lost),
      "x-slack-retry-num": "2",
      "x-slack-retry-reason": "http_error",
    });
    expect(retried.status).toBe(200);
    await waitFor("the retried command's reply", () => slack.responses.find((r) => r.id === "lost"));
    expect(service.texts.filter((t) => t === "status lost-first")).toHaveLength(1);
  });

  it("answers 404 when no listener acknowledges within 3 s, as Bolt does", async () => {
    const payload = {
      type: "shortcut",
      callback_id: "not-keyturns",
      trigger_id: "trig-shortcut",
      team: { id: "T0CONTOSO", domain: "contoso" },
      user: { id: "U0ALICE", username: "alice", team_id: "T0CONTOSO" },
    };
    const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
    const t0 = Date.now();
    const res = await post(body);
    expect(res.status).toBe(404);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(2_900);
    expect(service.texts).toEqual([]);
    expect(service.actions).toEqual([]);
  }, 10_000);

  it("refuses a signed body that is neither a command nor an interaction at once, and leaves other paths to the server", async () => {
    const t0 = Date.now();
    expect((await post("text=status&user_id=U0ALICE")).status).toBe(400);
    expect((await post("payload=null")).status).toBe(400);
    expect((await post("{", { ...sign(SECRET, "{"), "content-type": "application/json" })).status).toBe(400);
    expect(Date.now() - t0).toBeLessThan(2_000);
    const huge = command("status " + "y".repeat(1_100_000), "huge");
    expect((await post(huge)).status).toBe(413);

    // only POST /slack/events is Slack's
    expect(await (await fetch(`${base}/slack/events`)).text()).toBe("other");
    expect(await (await post("x", {}, "/healthz")).text()).toBe("other");
    const q = command("status with-query", "query");
    expect((await post(q, sign(SECRET, q), "/slack/events?x=1")).status).toBe(200);
    await waitFor("the reply", () => slack.responses.find((r) => r.id === "query"));
    expect(otherRequests).toEqual(["GET /slack/events", "POST /healthz"]);
    expect(service.texts).toEqual(["status with-query"]);
  });
});
