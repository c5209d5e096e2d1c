/**
 * Outcomes as they were, against the built program in the sandbox, driven over Slack: a waived
 * pinned consumer is named as waived at the gate and its 401s after the cut are attributed to it;
 * an unknown holder's 401s end the change completed-with-findings; a cancelled change never moves
 * the due date, and `status` and `list` say the same.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Agent, fetch as undiciFetch } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FakeSlack, type SlackMessage } from "../fakes/slack-api.js";
import { buttonsOf } from "../fakes/slack-sign.js";
import { SlackDriver, slackSandboxEnv } from "../support/slack-e2e.js";
import { spawnKeyturn, waitUntil, type RunningProgram } from "../support/spawn-keyturn.js";

const SECRET = "e2e-outcomes-secret-" + Math.random().toString(36).slice(2);
const CHANNEL = "C0OUTCOMES";
let slack: FakeSlack;
let kt: RunningProgram;
let dir: string;
let driver: SlackDriver;

const text = (r: unknown) => JSON.stringify(r);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "keyturn-outcomes-e2e-"));
  slack = await new FakeSlack().start();
  driver = new SlackDriver(() => kt, slack, SECRET, CHANNEL);
  kt = await spawnKeyturn({ KEYTURN_DATA_DIR: dir, ...slackSandboxEnv(slack, SECRET) });
});

afterAll(async () => {
  await kt?.stop();
  await slack?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** The simulator's admin API (faults), over its own CA. */
async function admin(method: string, path: string, body?: unknown): Promise<void> {
  const r = await undiciFetch(`${kt.adminUrl!}${path}`, {
    method,
    dispatcher: new Agent({ connect: { ca: readFileSync(kt.caPath!, "utf8") } }),
    ...(body ? { body: JSON.stringify(body), headers: { "content-type": "application/json" } } : {}),
  });
  expect(r.status).toBeLessThan(300);
}

/** Opens a change, has the approvers approve it on the card; returns its id and thread root. */
async function rotate(account: string, approvers: string[]): Promise<{ id: string; root: SlackMessage }> {
  const before = slack.roots(CHANNEL).length;
  const opened = text(await driver.command("U0ALICE", `rotate ${account} --reason "quarterly rotation"`));
  const id = /CHG-\d+/.exec(opened)![0];
  const root = await waitUntil(`${id}'s thread`, () => slack.roots(CHANNEL)[before]);
  const approve = await waitUntil(
    "Approve on the card",
    () => buttonsOf(slack.thread(CHANNEL, root.ts).root?.blocks).Approve,
  );
  for (const who of approvers) expect(text(await driver.press(who, approve))).toMatch(/Approved/);
  return { id, root };
}

const threadText = (root: SlackMessage) => {
  const t = slack.thread(CHANNEL, root.ts);
  return { card: text(t.root?.blocks), replies: t.replies.map((r) => text(r.blocks)) };
};

const cardShows = (root: SlackMessage, state: RegExp, ms = 90_000) =>
  waitUntil(`the card to show ${state}`, () => state.test(threadText(root).card) && threadText(root), ms);

/** The visible "Next due" of `status` and the "due" of the account's `list` row. */
async function dueDates(account: string): Promise<{ status: string; list: string; last: string[] }> {
  const status = text(await driver.command("U0ERIN", `status ${account}`));
  const list = text(await driver.command("U0ERIN", "list"));
  const due = /\*Next due\*\\n([^"\\]+)/.exec(status)?.[1] ?? "?";
  const row = new RegExp(
    `${account} \\([^)]*\\) — owner [^—]+ — last (none|[\\d-]{10}) — due (now|[\\d-]{10})`,
  ).exec(list);
  const last = /\*Last rotation\*\\n([^"\\]+)/.exec(status)?.[1] ?? "?";
  return {
    status: /^now/.test(due) ? "now" : due.slice(0, 10),
    list: row?.[2] ?? "?",
    last: [last.startsWith("none") ? "none" : last.slice(0, 10), row?.[1] ?? "?"],
  };
}

describe("outcomes that say what happened", () => {
  it("a change cancelled before the point of no return leaves the due date where it was; status and list agree", async () => {
    const before = await dueDates("contoso-translator");
    expect(before.status).toBe(before.list);
    expect(before.last[0]).toBe(before.last[1]);

    // publishing is refused: the change pauses after the standby key2 was regenerated
    await admin("POST", "/faults", {
      match: { operation: "setSecret" },
      effect: { type: "forbidden" },
      times: -1,
    });
    const { id, root } = await rotate("contoso-translator", ["U0BOB", "U0CAROL"]);
    await cardShows(root, /PAUSED/);
    expect(threadText(root).replies.join("\n")).toMatch(/Step 2\/8 done/);
    expect(text(await driver.command("U0BOB", `cancel ${id} --reason "wrong window"`))).toMatch(/cancel/i);
    await cardShows(root, /CANCELLED/);
    await admin("DELETE", "/faults");

    const after = await dueDates("contoso-translator");
    expect(after).toEqual(before);
    expect(after.status).toBe(after.list);
    // what Azure shows is reported, and said not to count
    const status = text(await driver.command("U0ERIN", "status contoso-translator"));
    expect(status).toMatch(/Regenerated since\*\\n\d{4}-\d\d-\d\d by .* not a rotation keyturn completed/);
    expect(status).not.toMatch(/CHG-\d+\)/); // no change named as the last rotation
  });

  it("a waived pinned consumer is named as waived at the gate, its 401s are its own, and the change completes saying so", async () => {
    const { id, root } = await rotate("contoso-speech", ["U0BOB"]);
    await cardShows(root, /PAUSED/);
    expect(threadText(root).card).toMatch(/speech-ivr pins version/);

    expect(
      text(await driver.command("U0BOB", `waive ${id} speech-ivr --reason "IVR is being decommissioned"`)),
    ).not.toMatch(/cannot|not an approver/);
    await driver.command("U0BOB", `resume ${id}`);
    const done = await cardShows(root, /COMPLETED/);
    await waitUntil("every step reply", () => threadText(root).replies.some((r) => /Step 8\/8 done/.test(r)));
    const { card, replies } = threadText(root);

    // the gate's evidence names the waiver: who and why, not "read key1"
    const gate = replies.filter((r) => /Step 5\/8 done/.test(r)).at(-1)!;
    expect(gate).toMatch(
      /NOT checked, waived: speech-ivr \(waived by Bob Okafor: IVR is being decommissioned\)/,
    );
    expect(gate).not.toMatch(/all 2 consumer\(s\) read/);

    // the waived consumer's 401s after the cut are attributed to it, not to an attacker
    const soak = replies.find((r) => /Step 7\/8 done/.test(r))!;
    expect(soak).toMatch(/10\.1\.0\.4 \(SpeechToText\) × \d+ from waived speech-ivr/);
    expect(replies.join("\n")).not.toMatch(/attacker|unknown consumer/);

    // completed (only the waiver explains the 401s), and the thread says what really happened
    expect(done.card).not.toMatch(/WITH FINDINGS/);
    expect(card).toMatch(
      /speech-ivr — waived by Bob Okafor, [^"]*IVR is being decommissioned — still holds the dead key2/,
    );
    await waitUntil("the final notice naming the waived consumer", () =>
      text(slack.thread(CHANNEL, root.ts).replies.map((r) => r.blocks)).includes(
        "consumers use key1 except waived speech-ivr (by Bob Okafor: IVR is being decommissioned), which still holds the dead key2",
      ),
    );
  });

  it("401s no consumer explains end the change completed with findings, with the caller and what to do", async () => {
    // an ops laptop script holds a literal copy of contoso-openai's key1 that no one declared
    const { root } = await rotate("contoso-openai", ["U0BOB", "U0CAROL"]);
    const done = await cardShows(root, /COMPLETED WITH FINDINGS/);
    expect(done.card).toMatch(/What to do: Find who calls from 203\.0\.113\.7/);
    await waitUntil("every step reply", () => threadText(root).replies.some((r) => /Step 8\/8 done/.test(r)));
    const soak = threadText(root).replies.find((r) => /Step 7\/8/.test(r))!;
    expect(soak).toMatch(/Step 7\/8 done WITH FINDINGS/);
    expect(soak).not.toMatch(/Step 7\/8 done:/);
    await waitUntil("the final notice with the finding", () =>
      /completed WITH FINDINGS: contoso-openai rotated; consumers use key2\. .*203\.0\.113\.7.*What to do:/.test(
        text(slack.thread(CHANNEL, root.ts).replies.map((r) => r.blocks)),
      ),
    );

    // a rotation with findings still completed: status and list count it, and agree
    const due = await dueDates("contoso-openai");
    expect(due.status).toMatch(/^\d{4}-\d\d-\d\d$/);
    expect(due.status).toBe(due.list);
    const history = text(await driver.command("U0ERIN", "history contoso-openai"));
    expect(history).toMatch(/completed with findings/);
  });
});
