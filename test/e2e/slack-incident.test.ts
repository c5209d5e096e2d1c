import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FakeSlack } from "../fakes/slack-api.js";
import { blockAction, buttonsOf, sign, slashCommand, viewSubmission } from "../fakes/slack-sign.js";
import { SlackDriver, slackSandboxEnv } from "../support/slack-e2e.js";
import { scanPaths, findSecrets } from "../support/scan-secrets.js";
import { simulatorKeys, spawnKeyturn, waitUntil, type RunningProgram } from "../support/spawn-keyturn.js";

const SECRET = "e2e-signing-secret-" + Math.random().toString(36).slice(2);
const CHANNEL = "C0INCIDENT";
let slack: FakeSlack;
let kt: RunningProgram;
let dir: string;

let driver: SlackDriver;
const post = (body: string, headers?: Record<string, string>) => driver.post(body, headers);
const command = (user: string, text: string) => driver.command(user, text);
const press = (user: string, button: { action_id: string; value: string }, actionTs?: string) =>
  driver.press(user, button, actionTs ? { actionTs } : {});

const text = (r: Record<string, unknown>) => JSON.stringify(r);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "keyturn-slack-e2e-"));
  slack = await new FakeSlack().start();
  driver = new SlackDriver(() => kt, slack, SECRET, CHANNEL);
  kt = await spawnKeyturn({
    KEYTURN_DATA_DIR: dir,
    ...slackSandboxEnv(slack, SECRET),
  });
});

afterAll(async () => {
  await kt?.stop();
  await slack?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("a whole incident in Slack", () => {
  it("refuses bad signatures, stale and future timestamps without changing anything", async () => {
    const body = slashCommand({
      user: "U0ALICE",
      channel: CHANNEL,
      text: 'rotate contoso-translator --reason "x"',
      responseUrl: slack.responseUrl("never"),
    });
    expect(
      (await post(body, { ...sign(SECRET, body), "x-slack-signature": "v0=" + "0".repeat(64) })).status,
    ).toBe(401);
    const now = Math.floor(Date.now() / 1000);
    expect((await post(body, sign(SECRET, body, now - 600))).status).toBe(401);
    expect((await post(body, sign(SECRET, body, now + 600))).status).toBe(401);
    await new Promise((r) => setTimeout(r, 500));
    expect(slack.responses.find((r) => r.id === "never")).toBeUndefined();
    expect(slack.roots(CHANNEL)).toHaveLength(0);
    expect(text(await command("U0ERIN", "status contoso-translator"))).not.toMatch(/CHG-\d/);
  });

  it("answers questions ephemerally, with actionable errors", async () => {
    const status = await command("U0ERIN", "status contoso-translator");
    expect(status.response_type).toBe("ephemeral");
    expect(text(status)).toContain("team-lang@contoso.com");
    const ambiguous = text(await command("U0ERIN", "status shared-lang"));
    expect(ambiguous).toMatch(/names 2 accounts\. Name the one you mean as resource-group\/name/);
    expect(ambiguous).toMatch(/rg-ai-prod\/shared-lang/);
    expect(ambiguous).toMatch(/rg-ai-dev\/shared-lang/);
    expect(text(await command("U0ERIN", "status contoso-translatr"))).toMatch(
      /Did you mean .*contoso-translator/,
    );
    expect(text(await command("U0ERIN", 'rotate contoso-translator --resaon "x"'))).toMatch(
      /did you mean --reason/,
    );
  });

  it("runs rotate --exposure through approvals to completion, with the evidence thread a person would read", async () => {
    const opened = await command(
      "U0ALICE",
      'rotate contoso-translator --exposure key1 --reason "leaked in PR 123 <!channel>"',
    );
    expect(text(opened)).toContain("CHG-1");
    const root = await waitUntil("the thread root", () => slack.roots(CHANNEL)[0]);
    expect(text(opened)).toContain(
      `https://contoso.slack.com/archives/${CHANNEL}/p${root.ts.replace(".", "")}`,
    );

    // approvers get a DM with a link to the thread
    const bobDm = await waitUntil("Bob's DM", () => slack.dms("U0BOB")[0]);
    await waitUntil("Carol's DM", () => slack.dms("U0CAROL")[0]);
    expect(JSON.stringify(bobDm.blocks)).toContain(`/archives/${CHANNEL}/p`);
    expect(slack.dms("U0ALICE")).toHaveLength(0);

    const buttons = await waitUntil(
      "Approve on the card",
      () =>
        buttonsOf(slack.thread(CHANNEL, root.ts).root?.blocks).Approve &&
        buttonsOf(slack.thread(CHANNEL, root.ts).root?.blocks),
    );
    expect(buttons.Reject).toBeDefined();

    // Erin is no approver; Alice is the requester
    expect(text(await press("U0ERIN", buttons.Approve!))).toMatch(/not an approver/);
    expect(text(await press("U0ALICE", buttons.Approve!))).toMatch(/someone else among its approvers/);
    // Bob approves; his double click counts once
    expect(text(await press("U0BOB", buttons.Approve!, "1700000001.000001"))).toMatch(/1 of 2/);
    expect(text(await press("U0BOB", buttons.Approve!, "1700000001.000001"))).toMatch(/Already recorded/);
    expect(text(await press("U0BOB", buttons.Approve!, "1700000002.000001"))).toMatch(/already approved/);
    expect(text(await press("U0CAROL", buttons.Approve!))).toMatch(/2 of 2/);

    // the card shows the latest state at once; step replies follow in order at Slack's pace
    const done = await waitUntil(
      "the card to show COMPLETED and every step reply",
      () => {
        const t = slack.thread(CHANNEL, root.ts);
        return (
          /COMPLETED/.test(JSON.stringify(t.root?.blocks)) &&
          t.replies.filter((r) => /Step 8\/8 done/.test(JSON.stringify(r.blocks))).length === 1 &&
          t
        );
      },
      120_000,
    );
    const replies = done.replies.map((r) => JSON.stringify(r.blocks));
    expect(replies.filter((r) => /Step \d\/8 done/.test(r))).toHaveLength(8);
    expect(replies.join("\n")).toMatch(/POINT OF NO RETURN/);
    expect(replies.join("\n")).toMatch(/old key → 401 \(dead\)/);
    expect(replies.join("\n")).toMatch(/sha256:[0-9a-f]{12}/);
    const all = JSON.stringify(slack.messages);
    expect(all).not.toContain("<!channel>");
    expect(all).toContain("&lt;!channel&gt;");

    const status = await command("U0ERIN", "status contoso-translator");
    expect(text(status)).toMatch(/CHG-1/);
    expect(text(status)).toMatch(/Active key.*key2|key2/);

    await command("U0ERIN", "evidence CHG-1");
    const files = await waitUntil("the evidence upload", () => slack.files.length >= 2 && slack.files);
    expect(files.map((f) => f.filename).sort()).toEqual([
      "keyturn-evidence-CHG-1.json",
      "keyturn-evidence-CHG-1.md",
    ]);
  });

  it("a reject button asks for a reason in a modal", async () => {
    await command("U0ALICE", 'rotate fabrikam-ai --reason "quarterly"');
    const root = await waitUntil("the second thread", () => slack.roots(CHANNEL)[1]);
    const buttons = await waitUntil(
      "buttons",
      () =>
        buttonsOf(slack.thread(CHANNEL, root.ts).root?.blocks).Reject &&
        buttonsOf(slack.thread(CHANNEL, root.ts).root?.blocks),
    );
    const viewsBefore = slack.views.length;
    await post(
      blockAction({
        user: "U0BOB",
        channel: CHANNEL,
        button: buttons.Reject!,
        responseUrl: slack.responseUrl("modal"),
      }),
    );
    const view = await waitUntil(
      "the reason modal",
      () =>
        slack.views.length > viewsBefore &&
        (slack.views.at(-1) as { callback_id: string; private_metadata: string }),
    );
    expect(view.callback_id).toBe("keyturn_reason");

    const updates = slack.thread(CHANNEL, root.ts).root!.versions.length;
    const submitted = await post(viewSubmission({ user: "U0BOB", view, reason: "wrong account <!here>" }));
    expect(submitted.status).toBe(200);
    const answer = await waitUntil("Bob's ephemeral answer", () => slack.ephemerals("U0BOB").at(-1));
    expect(answer.text).toMatch(/Rejected CHG-2/);
    const card = await waitUntil("the card to show the rejection", () => {
      const r = slack.thread(CHANNEL, root.ts).root!;
      return r.versions.length > updates && /REJECTED/i.test(JSON.stringify(r.blocks)) && r;
    });
    expect(card.blocks).toBeDefined();
    const thread = await waitUntil("the rejection reason in the thread", () => {
      const t = JSON.stringify(slack.thread(CHANNEL, root.ts));
      return t.includes("wrong account &lt;!here&gt;") && t;
    });
    expect(thread).not.toContain("<!here>");
    expect(JSON.stringify(slack.messages)).not.toContain("<!here>");
  });

  it("no simulator key value reached Slack, the program's output or its files", async () => {
    const keys = await simulatorKeys(kt.adminUrl!, readFileSync(kt.caPath!, "utf8"));
    expect(keys.length).toBeGreaterThan(10);
    expect(
      findSecrets(
        [
          { name: "slack requests", text: slack.allRequestBodies().join("\n") },
          { name: "output", text: kt.output() },
        ],
        keys,
      ),
    ).toEqual([]);
    const sandboxState = join(dir, "sandbox");
    const hits = (await scanPaths([dir], keys)).filter((h) => !h.where.startsWith(sandboxState));
    expect(hits).toEqual([]);
  });
});
