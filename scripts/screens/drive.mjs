/* global fetch, setTimeout -- Node 20 globals */
/**
 * Runs a sandbox incident through keyturn's composition root with Slack and Teams set up against the
 * test fakes (a Slack Web API and a Bot Connector speaking the wire protocols), and returns what each
 * platform received at every state: Block Kit messages and Adaptive Card activities, as sent.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { startKeyturn } from "../../src/main.ts";
import { FakeSlack } from "../../test/fakes/slack-api.ts";
import { blockAction, buttonsOf, sign, slashCommand, viewSubmission } from "../../test/fakes/slack-sign.ts";
import {
  cardAction,
  cardOf,
  channelMessage,
  executes,
  FakeConnector,
} from "../../test/fakes/bot-connector.ts";

const SECRET = "screens-signing-secret";
const CHANNEL = "C0INCIDENT";
const THREAD = "19:incident@thread.tacv2;messageid=100";

/** The card's Approve action, directly or behind a confirming ShowCard. */
const approveOf = (actions) => actions["Approve › Approve"] ?? actions.Approve;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(what, fn, ms = 120_000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`screens: timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** Header, section and context text of a Block Kit message: what a person reads. */
const seen = (blocks) =>
  (blocks ?? [])
    .flatMap((b) => [
      b.text?.text ?? "",
      ...(b.fields ?? []).map((f) => f.text),
      ...(b.elements ?? []).map((e) => e.text ?? ""),
    ])
    .join("\n");

export async function driveIncident() {
  const dir = mkdtempSync(join(tmpdir(), "keyturn-screens-"));
  const slack = await new FakeSlack().start();
  const fc = await new FakeConnector().start();
  // the Teams adapter's anonymous local mode refuses NODE_ENV=production
  process.env.NODE_ENV = "development";
  const kt = await startKeyturn({
    env: {
      KEYTURN_SANDBOX: "1",
      KEYTURN_DATA_DIR: dir,
      KEYTURN_CONSOLE: "off",
      PORT: "0",
      HOST: "127.0.0.1",
      LOG_LEVEL: "silent",
      NODE_ENV: "development",
      KEYTURN_TEAMS_ANONYMOUS: "local",
      SLACK_BOT_TOKEN: "xoxb-screens",
      SLACK_SIGNING_SECRET: SECRET,
      SLACK_API_URL: slack.apiUrl,
      SLACK_BOT_USER_ID: "U0KEYTURN",
      SLACK_TEAM_ID: "T0CONTOSO",
    },
    stdout: new Writable({ write: (_c, _e, cb) => cb() }),
    console: false,
  });
  const out = { slack: {}, teams: {} };
  try {
    await driveSlack(kt, slack, out.slack);
    await driveTeams(kt, fc, out.teams).catch((e) => {
      // what Teams had received, to see where the incident went another way
      for (const a of fc.activities) console.error(a.conversationId, String(a.body.text ?? "").slice(0, 160));
      throw e;
    });
  } finally {
    await kt.close();
    await slack.stop();
    await fc.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

async function driveSlack(kt, slack, shots) {
  let n = 0;
  const post = (body) =>
    fetch(`${kt.url}/slack/events`, { method: "POST", headers: sign(SECRET, body), body });
  const command = async (user, text) => {
    const id = `c${++n}`;
    await post(slashCommand({ user, channel: CHANNEL, text, responseUrl: slack.responseUrl(id) }));
    return until(`the answer to ${text}`, () => slack.responses.find((r) => r.id === id)?.body);
  };
  const press = async (user, button) => {
    const id = `p${++n}`;
    await post(blockAction({ user, channel: CHANNEL, button, responseUrl: slack.responseUrl(id) }));
    return until("the button's answer", () => slack.responses.find((r) => r.id === id)?.body);
  };
  const who = { U0ALICE: "Alice Ng", U0BOB: "Bob Okafor", U0CAROL: "Carol Diaz", U0ERIN: "Erin Cho" };
  const msg = (m, extra = {}) => ({ blocks: m.blocks ?? [], text: m.text, ...extra });

  shots.status = msg(await command("U0ERIN", "status contoso-translator"), {
    ephemeral: true,
    asked: { by: who.U0ERIN, text: "/keyturn status contoso-translator" },
  });

  const opened = await command(
    "U0ALICE",
    'rotate contoso-translator --exposure key1 --reason "leaked in PR 123"',
  );
  shots.requested = msg(opened, {
    ephemeral: true,
    asked: {
      by: who.U0ALICE,
      text: '/keyturn rotate contoso-translator --exposure key1 --reason "leaked in PR 123"',
    },
  });
  const root = await until("the card", () => slack.roots(CHANNEL)[0]);
  const buttons = await until("Approve on the card", () => {
    const b = buttonsOf(slack.thread(CHANNEL, root.ts).root?.blocks);
    return b.Approve && b;
  });
  shots.awaiting = msg(slack.thread(CHANNEL, root.ts).root);
  const bobDm = await until("Bob's DM", () => slack.dms("U0BOB")[0]);
  shots.dmAwaiting = msg(bobDm.versions.at(-1));

  shots.refusal = msg(await press("U0ERIN", buttons.Approve), { ephemeral: true });
  shots.selfApproval = msg(await press("U0ALICE", buttons.Approve), { ephemeral: true });
  shots.approvedOne = msg(await press("U0BOB", buttons.Approve), { ephemeral: true });
  await press("U0CAROL", buttons.Approve);

  const done = await until("COMPLETED and every step reply", () => {
    const t = slack.thread(CHANNEL, root.ts);
    return (
      /COMPLETED/.test(seen(t.root?.blocks)) && t.replies.some((r) => /Step 8\/8/.test(seen(r.blocks))) && t
    );
  });
  await sleep(1_500);
  const thread = slack.thread(CHANNEL, root.ts);
  const running = midRotation(
    thread.root.versions.filter((v) => /RUNNING/.test(seen(v.blocks))),
    (v) => seen(v.blocks),
  );
  const approved = thread.root.versions.find((v) => /APPROVED/.test(seen(v.blocks)));
  shots.running = msg(running ?? approved ?? done.root);
  shots.completed = msg(thread.root);
  shots.thread = { root: msg(thread.root), replies: thread.replies.map((r) => msg(r)) };
  shots.dmCompleted = msg(slack.dms("U0BOB")[0].versions.at(-1));

  // a rejection through the reason modal
  await command("U0ALICE", 'rotate fabrikam-ai --reason "quarterly"');
  const second = await until("the second card", () => slack.roots(CHANNEL)[1]);
  const b2 = await until("Reject on the second card", () => {
    const b = buttonsOf(slack.thread(CHANNEL, second.ts).root?.blocks);
    return b.Reject && b;
  });
  const opens = slack.viewCalls.length;
  await post(
    blockAction({ user: "U0BOB", channel: CHANNEL, button: b2.Reject, responseUrl: slack.responseUrl("rj") }),
  );
  const call = await until("the reason modal", () =>
    slack.viewCalls.slice(opens).find((c) => c.method === "views.open"),
  );
  shots.modal = { view: call.view };
  const empty = await post(viewSubmission({ user: "U0BOB", view: call.view, reason: " " }));
  shots.modalError = { view: call.view, errors: (await empty.json()).errors };
  await post(
    viewSubmission({ user: "U0BOB", view: call.view, reason: "wrong account: fabrikam-ai is being retired" }),
  );
  await until("the card to say REJECTED", () =>
    /REJECTED/.test(seen(slack.thread(CHANNEL, second.ts).root?.blocks)),
  );
  await sleep(500);
  shots.rejected = msg(slack.thread(CHANNEL, second.ts).root);
  const rejectedThread = slack.thread(CHANNEL, second.ts);
  shots.rejectedThread = {
    root: msg(rejectedThread.root),
    replies: rejectedThread.replies.map((r) => msg(r)),
  };
}

/** The running card shown mid-rotation: some steps done (✓), one in progress (▶), others still to come. */
function midRotation(versions, text) {
  for (const step of [4, 5, 3, 6, 2, 7])
    for (const v of versions) if (text(v).includes(`▶ ${step}.`)) return v;
  return versions.find((v) => text(v).includes("▶")) ?? versions[0];
}

async function driveTeams(kt, fc, shots) {
  const send = async (activity) => {
    const r = await fetch(`${kt.url}/api/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(activity),
    });
    const text = await r.text();
    return text ? JSON.parse(text) : {};
  };
  const activity = (a) => ({ text: a.body.text ?? "", card: cardOf(a.body) ?? null });

  await send(
    channelMessage(
      fc.url,
      "alice",
      'rotate contoso-translator --exposure key2 --reason "key pasted in a ticket"',
    ),
  );
  const root = await until("the Teams card", () =>
    fc.in(THREAD).find((a) => /CHG-\d+ · rotate contoso-translator/.test(JSON.stringify(cardOf(a.body)))),
  );
  const actions = await until("Approve on the Teams card", () => {
    const a = executes(cardOf(fc.in(THREAD).find((x) => x.id === root.id)?.body));
    return approveOf(a) ? a : undefined;
  });
  shots.awaiting = activity(fc.in(THREAD).find((x) => x.id === root.id));
  const dm = await until("Bob's Teams DM", () =>
    fc.in("a:personal-bob").find((a) => cardOf(a.body) || a.body.text),
  );
  shots.dmAwaiting = { text: dm.versions[0].text ?? "", card: cardOf(dm.versions[0]) ?? null };

  const refused = await send(cardAction(fc.url, "erin", THREAD, approveOf(actions), root.id));
  shots.refusal = { invoke: refused, card: fc.in(THREAD).find((x) => x.id === root.id).body };
  await send(cardAction(fc.url, "bob", THREAD, approveOf(actions), root.id));
  await send(cardAction(fc.url, "carol", THREAD, approveOf(actions), root.id));
  await until(
    "the Teams card to show COMPLETED",
    () => {
      const card = JSON.stringify(cardOf(fc.in(THREAD).find((x) => x.id === root.id)?.body));
      return /COMPLETED/.test(card) && fc.in(THREAD).some((a) => /Step 8\/8/.test(JSON.stringify(a.body)));
    },
    120_000,
  );
  await sleep(1_500);
  const card = fc.in(THREAD).find((x) => x.id === root.id);
  const running = midRotation(
    card.versions.filter((v) => /RUNNING/.test(JSON.stringify(cardOf(v)))),
    (v) => JSON.stringify(cardOf(v)),
  );
  shots.running = running ? { text: running.text ?? "", card: cardOf(running) } : activity(card);
  shots.completed = activity(card);
  shots.thread = fc.in(THREAD).map(activity);
  const dmAfter = fc.in("a:personal-bob").find((a) => a.id === dm.id);
  shots.dmCompleted = activity(dmAfter);

  // a rejection with a reason from the card's Reject input
  await send(channelMessage(fc.url, "alice", 'rotate contoso-openai --reason "quarterly"'));
  const second = await until("the second Teams card", () =>
    fc.in(THREAD).find((a) => /CHG-\d+ · rotate contoso-openai/.test(JSON.stringify(cardOf(a.body)))),
  );
  const a2 = await until("Reject on the second Teams card", () => {
    const a = executes(cardOf(fc.in(THREAD).find((x) => x.id === second.id)?.body));
    return Object.keys(a).find((k) => k.startsWith("Reject")) ? a : undefined;
  });
  const reject = a2[Object.keys(a2).find((k) => k.startsWith("Reject"))];
  const answer = await send(
    cardAction(
      fc.url,
      "bob",
      THREAD,
      { ...reject, data: { ...reject.data, reason: "wrong account: being retired" } },
      second.id,
    ),
  );
  shots.rejectAnswer = answer;
  await until("the Teams card to say REJECTED", () =>
    /REJECTED/.test(JSON.stringify(cardOf(fc.in(THREAD).find((x) => x.id === second.id)?.body))),
  );
  shots.rejected = activity(fc.in(THREAD).find((x) => x.id === second.id));

  // a change that stops at the cutover gate: a consumer pins the old secret version
  await send(channelMessage(fc.url, "alice", 'rotate contoso-speech --reason "quarterly"'));
  const third = await until("the third Teams card", () =>
    fc.in(THREAD).find((a) => /CHG-\d+ · rotate contoso-speech/.test(JSON.stringify(cardOf(a.body)))),
  );
  const a3 = await until("Approve on the third Teams card", () => {
    const a = executes(cardOf(fc.in(THREAD).find((x) => x.id === third.id)?.body));
    return approveOf(a) ? a : undefined;
  });
  await send(cardAction(fc.url, "bob", THREAD, approveOf(a3), third.id));
  await until("the Teams card to say PAUSED", () =>
    /PAUSED/.test(JSON.stringify(cardOf(fc.in(THREAD).find((x) => x.id === third.id)?.body))),
  );
  await sleep(1_000);
  shots.paused = activity(fc.in(THREAD).find((x) => x.id === third.id));
}
