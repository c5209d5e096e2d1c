/**
 * Trust in Slack, against the built program: only the installed workspace acts, an e-mail address counts only
 * when Slack confirmed it for a full member, and a Slack API that stalls does not wedge a change.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FakeSlack } from "../fakes/slack-api.js";
import { buttonsOf, slashCommand } from "../fakes/slack-sign.js";
import { SlackDriver, slackSandboxEnv, type Origin } from "../support/slack-e2e.js";
import { spawnKeyturn, waitUntil, type RunningProgram } from "../support/spawn-keyturn.js";

const SECRET = "e2e-trust-secret-" + Math.random().toString(36).slice(2);
const CHANNEL = "C0INCIDENT";
let slack: FakeSlack;
let kt: RunningProgram;
let dir: string;

let driver: SlackDriver;
const post = (body: string) => driver.post(body);
const command = (user: string, text: string, from: Origin = {}, ms = 30_000) =>
  driver.command(user, text, from, ms);
const press = async (user: string, button: { action_id: string; value: string }, from: Origin = {}) =>
  JSON.stringify(await driver.press(user, button, from));

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "keyturn-trust-slack-"));
  slack = await new FakeSlack().start();
  driver = new SlackDriver(() => kt, slack, SECRET, CHANNEL);
  // members of the installed workspace whose profiles claim approvers' addresses
  slack.addUser(
    "U0MALLORY",
    { name: "mallory", real_name: "Mallory", email: "carol@contoso.com" },
    { is_email_confirmed: false },
  );
  slack.addUser(
    "U0GUEST",
    { name: "guest", real_name: "Contractor", email: "bob@contoso.com" },
    { is_restricted: true },
  );
  kt = await spawnKeyturn({
    KEYTURN_DATA_DIR: dir,
    ...slackSandboxEnv(slack, SECRET),
    // a stalled Slack call fails in seconds here, not in half a minute
    SLACK_API_TIMEOUT_MS: "1000",
  });
});

afterAll(async () => {
  slack?.unhang();
  await kt?.stop();
  await slack?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("Slack: the installed workspace only", () => {
  it("refuses a signed command from another workspace, saying so, and records nothing", async () => {
    const res = await post(
      slashCommand({
        user: "U0DAVE",
        channel: CHANNEL,
        text: 'rotate contoso-openai --exposure key1 --kill-now --break-glass --reason "x"',
        responseUrl: slack.responseUrl("foreign"),
        team: "T0EVIL",
      }),
    );
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/serves one Slack workspace.*nothing was done/);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(slack.responses.find((r) => r.id === "foreign")).toBeUndefined();
    expect(slack.roots(CHANNEL)).toHaveLength(0);
    expect(JSON.stringify(await command("U0ALICE", "status contoso-openai"))).not.toMatch(/CHG-\d/);
  });

  it("counts neither another workspace's click nor an e-mail Slack has not confirmed or a guest's", async () => {
    const opened = JSON.stringify(
      await command("U0ALICE", 'rotate contoso-translator --reason "quarterly rotation"'),
    );
    const id = /CHG-\d+/.exec(opened)?.[0];
    expect(id).toBeDefined();
    const approve = await waitUntil("Approve on the card", () => {
      const root = slack.roots(CHANNEL).find((m) => JSON.stringify(m.blocks).includes(id!));
      return buttonsOf(root?.blocks).Approve;
    });

    // Bob's click arriving from another workspace, and Carol's from a Slack Connect partner's
    expect(await press("U0BOB", approve, { team: "T0EVIL" })).toMatch(/serves one Slack workspace/);
    expect(await press("U0CAROL", approve, { userTeam: "T0PARTNER" })).toMatch(/serves one Slack workspace/);
    // profiles claiming carol@ (unconfirmed) and bob@ (a guest) are not Carol and Bob
    for (const user of ["U0MALLORY", "U0GUEST"]) {
      const reply = await press(user, approve);
      expect(reply, user).not.toMatch(/Approved/);
      expect(reply, user).toMatch(/does not take your Slack e-mail address as your identity/);
    }
    // so the real Bob's approval is the first that counts
    expect(await press("U0BOB", approve)).toMatch(/1 of 2/);
  });
});

describe("Slack: a stalled API does not wedge a change", () => {
  it("records and submits the change, answers the requester, and asks the approver once Slack answers again", async () => {
    slack.hang();
    const started = Date.now();
    const opened = JSON.stringify(
      await command("U0ALICE", 'rotate contoso-speech --reason "while Slack stalls"', {}, 45_000),
    );
    expect(Date.now() - started).toBeLessThan(45_000);
    expect(opened).toMatch(/CHG-\d+ opened for contoso-speech/);
    expect(opened).toMatch(/No evidence thread could be posted/);
    const id = /CHG-\d+/.exec(opened)![0];
    expect(slack.hanging).toBeGreaterThan(0);
    const asked = () => slack.dms("U0BOB").find((m) => JSON.stringify(m.blocks).includes(id));
    expect(asked()).toBeUndefined();

    slack.unhang();
    const dm = await waitUntil("Bob's approval request after Slack recovers", asked, 60_000);
    const approve = buttonsOf(dm.blocks).Approve;
    expect(approve).toBeDefined();
    expect(await press("U0BOB", approve!)).toMatch(new RegExp(`Approved ${id}`));
    const status = JSON.stringify(await command("U0ALICE", "status contoso-speech"));
    expect(status).not.toMatch(/awaiting approval|requested/i);
  });
});
