/**
 * The reject-reason modal as Slack drives it, against keyturn's composition root (engine, SQLite,
 * simulated tenant) and a fake Slack Web API: the Reject button opens a modal with the interaction's
 * trigger (views.open), the person submits it (view_submission, answered in the HTTP response), and
 * what they read afterwards — in the modal, the card and their own message — says what happened.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startKeyturn, type RunningKeyturn } from "../../src/main.js";
import { FakeSlack } from "../fakes/slack-api.js";
import { blockAction, buttonsOf, sign, slashCommand, viewSubmission } from "../fakes/slack-sign.js";
import { waitUntil } from "../support/spawn-keyturn.js";

const SECRET = "modal-signing-secret-" + Math.random().toString(36).slice(2);
const CHANNEL = "C0INCIDENT";
let slack: FakeSlack;
let kt: RunningKeyturn;
let dir: string;
let n = 0;

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

const post = (body: string) =>
  fetch(`${kt.url}/slack/events`, { method: "POST", headers: sign(SECRET, body), body });

async function command(user: string, text: string): Promise<Record<string, unknown>> {
  const id = `m${++n}`;
  const res = await post(slashCommand({ user, channel: CHANNEL, text, responseUrl: slack.responseUrl(id) }));
  expect(res.status).toBe(200);
  return waitUntil(`the answer to ${text}`, () => slack.responses.find((r) => r.id === id)?.body, 20_000);
}

interface OpenedModal {
  trigger: string;
  view: {
    type: string;
    callback_id: string;
    private_metadata: string;
    title: { text: string };
    submit?: { text: string };
    blocks: { type: string; block_id?: string; label?: { text: string }; element?: { type: string } }[];
  };
}

/** Presses a card's Reject and returns the modal Slack was asked to open with that press's trigger. */
async function pressReject(user: string, button: { action_id: string; value: string }): Promise<OpenedModal> {
  const before = slack.viewCalls.length;
  const body = blockAction({ user, channel: CHANNEL, button, responseUrl: slack.responseUrl(`m${++n}`) });
  const trigger = (JSON.parse(new URLSearchParams(body).get("payload")!) as { trigger_id: string })
    .trigger_id;
  expect((await post(body)).status).toBe(200);
  const call = await waitUntil("views.open", () =>
    slack.viewCalls.slice(before).find((c) => c.method === "views.open"),
  );
  // the modal opens with the trigger of this very press (a trigger is good for 3 s, once)
  expect(call.trigger_id).toBe(trigger);
  return { trigger: call.trigger_id ?? "", view: call.view as unknown as OpenedModal["view"] };
}

async function openCard(account: string) {
  const rootsBefore = slack.roots(CHANNEL).length;
  await command("U0ALICE", `rotate ${account} --reason "quarterly"`);
  const root = await waitUntil("the card", () => slack.roots(CHANNEL)[rootsBefore]);
  const buttons = await waitUntil("the card's Reject button", () => {
    const b = buttonsOf(slack.thread(CHANNEL, root.ts).root?.blocks);
    return b.Reject && b;
  });
  const changeId = /CHG-\d+/.exec(visibleText(root.blocks))?.[0] ?? "";
  return { root, buttons, changeId };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "keyturn-slack-modal-"));
  slack = await new FakeSlack().start();
  kt = await startKeyturn({
    env: {
      KEYTURN_SANDBOX: "1",
      KEYTURN_DATA_DIR: dir,
      KEYTURN_CONSOLE: "off",
      PORT: "0",
      HOST: "127.0.0.1",
      LOG_LEVEL: "silent",
      SLACK_BOT_TOKEN: "xoxb-test-token",
      SLACK_SIGNING_SECRET: SECRET,
      SLACK_API_URL: slack.apiUrl,
      SLACK_BOT_USER_ID: "U0KEYTURN",
      SLACK_TEAM_ID: "T0CONTOSO",
    },
    stdout: new Writable({ write: (_c, _e, cb) => cb() }),
    console: false,
  });
}, 60_000);

afterAll(async () => {
  await kt?.close();
  await slack?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("the reject-reason modal", () => {
  it("Reject opens a modal asking why; the reason submitted rejects the change and shows on the card", async () => {
    const { root, buttons, changeId } = await openCard("fabrikam-ai");
    const { trigger, view } = await pressReject("U0BOB", buttons.Reject!);
    expect(trigger).toMatch(/^trig-/);
    expect(view.type).toBe("modal");
    expect(view.title.text).toContain(changeId);
    expect(view.submit?.text).toBe("Reject");
    const input = view.blocks.find((b) => b.type === "input");
    expect(input?.block_id).toBe("reason");
    expect(input?.label?.text).toMatch(/Reason/);

    const res = await post(viewSubmission({ user: "U0BOB", view, reason: "wrong account, see <!here>" }));
    expect(res.status).toBe(200);
    // an empty answer closes the modal
    expect(await res.text()).toBe("");

    const card = await waitUntil("the card to say REJECTED", () => {
      const seen = visibleText(slack.thread(CHANNEL, root.ts).root?.blocks);
      return /REJECTED/.test(seen) && seen;
    });
    expect(card).toContain("wrong account, see &lt;!here&gt;");
    expect(card).toMatch(/Rejected by[^]*Bob Okafor/);
    expect(buttonsOf(slack.thread(CHANNEL, root.ts).root?.blocks)).toEqual({});
    const told = await waitUntil("Bob's confirmation", () => slack.ephemerals("U0BOB").at(-1));
    expect(visibleText(told.blocks)).toContain(`Rejected ${changeId}`);
  });

  it("an empty reason keeps the modal open with the error under the reason field", async () => {
    const { root, buttons } = await openCard("contoso-translator");
    const { view } = await pressReject("U0BOB", buttons.Reject!);
    const res = await post(viewSubmission({ user: "U0BOB", view, reason: "   " }));
    expect(res.status).toBe(200);
    const answer = (await res.json()) as { response_action: string; errors: Record<string, string> };
    expect(answer.response_action).toBe("errors");
    // the key names the input block, or Slack shows nothing
    expect(Object.keys(answer.errors)).toEqual(["reason"]);
    expect(answer.errors.reason).toMatch(/reason/i);
    await new Promise((r) => setTimeout(r, 300));
    expect(visibleText(slack.thread(CHANNEL, root.ts).root?.blocks)).toMatch(/AWAITING APPROVAL/);
  });

  it("a submission from someone who may not reject is refused in the modal, with the sentence saying why", async () => {
    const { root, buttons, changeId } = await openCard("contoso-speech");
    const { view } = await pressReject("U0ERIN", buttons.Reject!);
    const ephemeralsBefore = slack.ephemerals("U0ERIN").length;
    const res = await post(viewSubmission({ user: "U0ERIN", view, reason: "looks wrong" }));
    expect(res.status).toBe(200);
    const answer = (await res.json()) as { response_action: string; errors: Record<string, string> };
    expect(answer.response_action).toBe("errors");
    expect(answer.errors.reason).toMatch(/needs the approve role.*Approvers: Bob Okafor/);
    expect(answer.errors.reason).toContain(changeId);
    await new Promise((r) => setTimeout(r, 300));
    expect(slack.ephemerals("U0ERIN")).toHaveLength(ephemeralsBefore);
    expect(visibleText(slack.thread(CHANNEL, root.ts).root?.blocks)).toMatch(/AWAITING APPROVAL/);
  });

  it("when the answer takes longer than Slack waits, the modal closes in time and the answer comes as a message", async () => {
    const { buttons } = await openCard("contoso-openai");
    const { view } = await pressReject("U0DAVE", buttons.Reject!);
    // Dave has not been seen yet: who he is takes users.info, which is slow today
    slack.slow(2_500, ["users.info"]);
    try {
      const started = Date.now();
      const res = await post(viewSubmission({ user: "U0DAVE", view, reason: "not needed" }));
      expect(res.status).toBe(200);
      expect(await res.text()).toBe("");
      expect(Date.now() - started).toBeLessThan(3_000);
    } finally {
      slack.unhang();
    }
    const told = await waitUntil("Dave's answer", () => slack.ephemerals("U0DAVE").at(-1), 10_000);
    expect(visibleText(told.blocks)).toMatch(/needs the approve role/);
  });
});
