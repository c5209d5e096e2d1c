/**
 * The built keyturn in Socket Mode (SLACK_SOCKET_MODE=1, an xapp- token), against a fake Slack that
 * speaks the protocol: apps.connections.open, then a WebSocket that says hello, delivers envelopes and
 * waits for their acks.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FakeSlack } from "../fakes/slack-api.js";
import { blockAction, buttonsOf, slashCommand, viewSubmission } from "../fakes/slack-sign.js";
import { FakeSlackSocket, socketPayload } from "../fakes/slack-socket.js";
import { spawnKeyturn, waitUntil, type RunningProgram } from "../support/spawn-keyturn.js";

const CHANNEL = "C0INCIDENT";

/** What a person reads of a Block Kit message: header, section text and fields, context. */
function visibleText(blocks: unknown[] | undefined): string {
  const text = (t: unknown) => (t as { text?: string } | undefined)?.text ?? "";
  return ((blocks ?? []) as { type: string; text?: unknown; fields?: unknown[]; elements?: unknown[] }[])
    .flatMap((b) =>
      b.type === "header" || b.type === "section"
        ? [text(b.text), ...(b.fields ?? []).map(text)]
        : b.type === "context"
          ? (b.elements ?? []).map(text)
          : [],
    )
    .filter(Boolean)
    .join("\n");
}
let slack: FakeSlack;
let socket: FakeSlackSocket;
let kt: RunningProgram;
let dir: string;
let n = 0;

const socketEnv = (): Record<string, string> => ({
  KEYTURN_SANDBOX: "1",
  KEYTURN_DATA_DIR: dir,
  SLACK_BOT_TOKEN: "xoxb-test-token",
  SLACK_APP_TOKEN: socket.appToken,
  SLACK_SOCKET_MODE: "1",
  SLACK_API_URL: slack.apiUrl,
  SLACK_BOT_USER_ID: "U0KEYTURN",
  SLACK_TEAM_ID: "T0CONTOSO",
});

/** A slash command over the socket: the ack, and the answer keyturn sent to the response_url. */
async function command(user: string, text: string) {
  const id = `s${++n}`;
  const ack = await socket.deliver(
    "slash_commands",
    socketPayload(slashCommand({ user, channel: CHANNEL, text, responseUrl: slack.responseUrl(id) })),
  );
  const answer = await waitUntil(
    `the answer to "${text}"`,
    () => slack.responses.find((r) => r.id === id)?.body,
    30_000,
  );
  return { ack, answer, seen: visibleText(answer.blocks as unknown[]) };
}

async function press(user: string, button: { action_id: string; value: string }) {
  const id = `s${++n}`;
  const ack = await socket.deliver(
    "interactive",
    socketPayload(blockAction({ user, channel: CHANNEL, button, responseUrl: slack.responseUrl(id) })),
    { acceptsResponsePayload: false },
  );
  return { ack, id };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "keyturn-socket-e2e-"));
  slack = await new FakeSlack().start();
  socket = await new FakeSlackSocket(slack).start();
  kt = await spawnKeyturn(socketEnv());
});

afterAll(async () => {
  await kt?.stop();
  await socket?.stop();
  await slack?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("keyturn in Socket Mode", () => {
  it("connects with the app-level token before it says it is ready, and never logs the token", async () => {
    expect(slack.calls).toContain("apps.connections.open");
    expect(socket.connections).toHaveLength(1);
    expect(socket.open).toBe(1);
    expect(kt.output()).not.toContain(socket.appToken);
  });

  it("acks a slash command over the socket at once and answers it on the response_url", async () => {
    const { ack, answer, seen } = await command("U0ERIN", "status contoso-translator");
    expect(ack.ms).toBeLessThan(3_000);
    expect(answer.response_type).toBe("ephemeral");
    expect(seen).toContain("team-lang@contoso.com");
    expect(socket.stray).toEqual([]);
  });

  it("takes a button press and a reason modal over the socket", async () => {
    const opened = await command("U0ALICE", 'rotate fabrikam-ai --reason "quarterly"');
    expect(opened.seen).toMatch(/CHG-1/);
    const root = await waitUntil("the card", () => slack.roots(CHANNEL)[0]);
    const buttons = await waitUntil(
      "the card's buttons",
      () => {
        const b = buttonsOf(slack.thread(CHANNEL, root.ts).root?.blocks);
        return b.Reject && b.Approve && b;
      },
      30_000,
    );

    // someone who is not an approver is told so
    const refused = await press("U0ERIN", buttons.Approve!);
    expect(refused.ack.ms).toBeLessThan(3_000);
    const why = await waitUntil("the refusal", () => slack.responses.find((r) => r.id === refused.id)?.body);
    expect(visibleText(why.blocks as unknown[])).toMatch(/not an approver/);

    // Reject opens the reason modal with the interaction's trigger
    const opens = slack.viewCalls.length;
    await press("U0BOB", buttons.Reject!);
    const call = await waitUntil("views.open", () =>
      slack.viewCalls.slice(opens).find((c) => c.method === "views.open"),
    );
    expect(call.trigger_id).toMatch(/^trig-/);
    const view = call.view as { callback_id: string; private_metadata: string };

    // an empty reason: the ack carries the error back into the modal
    const empty = await socket.deliver(
      "interactive",
      socketPayload(viewSubmission({ user: "U0BOB", view, reason: "  " })),
    );
    expect(empty.payload).toMatchObject({
      response_action: "errors",
      errors: { reason: expect.any(String) },
    });

    const done = await socket.deliver(
      "interactive",
      socketPayload(viewSubmission({ user: "U0BOB", view, reason: "wrong account" })),
    );
    expect(done.payload?.response_action).not.toBe("errors");
    const card = await waitUntil("the card to show the rejection", () => {
      const seen = visibleText(slack.thread(CHANNEL, root.ts).root?.blocks);
      return /REJECTED/i.test(seen) && seen;
    });
    expect(card).toContain("wrong account");
    expect(socket.stray).toEqual([]);
  });

  it("reconnects after Slack drops the socket, and keeps answering", async () => {
    const before = socket.connections.length;
    const opens = slack.calls.filter((c) => c === "apps.connections.open").length;
    socket.drop();
    await socket.connected(before + 1, 20_000);
    // a fresh URL for the new connection: the old one is good for one connection only
    expect(slack.calls.filter((c) => c === "apps.connections.open").length).toBe(opens + 1);
    const { ack, seen } = await command("U0ERIN", "owner contoso-translator");
    expect(ack.ms).toBeLessThan(3_000);
    expect(seen).toContain("team-lang@contoso.com");
  }, 30_000);

  it("keeps trying when Slack fails while it reconnects (HTTP 500 from apps.connections.open)", async () => {
    const before = socket.connections.length;
    for (let i = 0; i < 4; i++) slack.failNext("apps.connections.open", { status: 500 });
    socket.drop();
    await socket.connected(before + 1, 40_000);
    expect(kt.child.exitCode).toBeNull();
    const { seen } = await command("U0ERIN", "status contoso-translator");
    expect(seen).toContain("team-lang@contoso.com");
  }, 60_000);

  it("reconnects when Slack asks it to (refresh_requested)", async () => {
    const before = socket.connections.length;
    socket.refresh();
    await socket.connected(before + 1, 20_000);
    const { seen } = await command("U0ERIN", "status contoso-translator");
    expect(seen).toContain("team-lang@contoso.com");
  }, 30_000);
});

describe("Socket Mode that cannot connect", () => {
  it("a refused app-level token stops keyturn with a sentence saying what to fix", async () => {
    const wrong = mkdtempSync(join(tmpdir(), "keyturn-socket-bad-"));
    try {
      const started = spawnKeyturn(
        { ...socketEnv(), KEYTURN_DATA_DIR: wrong, SLACK_APP_TOKEN: "xapp-1-revoked" },
        20_000,
      );
      const e = await started.then(
        async (p) => {
          await p.stop();
          return null;
        },
        (err: Error) => err,
      );
      expect(e?.message).toMatch(/exited with 2/);
      expect(e?.message).toMatch(/SLACK_APP_TOKEN/);
      expect(e?.message).toMatch(/connections:write/);
      expect(e?.message).not.toContain("xapp-1-revoked");
    } finally {
      rmSync(wrong, { recursive: true, force: true });
    }
  }, 30_000);
});
