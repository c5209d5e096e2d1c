/**
 * What a person in Slack sees, read from the visible blocks (header, section, fields, context) of every
 * message keyturn posts or answers with — never the notification `text`: answers and errors, the
 * change card at each state, the step replies, the thread's notices and the approvers' DMs.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FakeSlack, visibleText, type SlackMessage } from "../fakes/slack-api.js";
import { buttonsOf } from "../fakes/slack-sign.js";
import { SlackDriver, slackSandboxEnv } from "../support/slack-e2e.js";
import { spawnKeyturn, waitUntil, type RunningProgram } from "../support/spawn-keyturn.js";

const SECRET = "visible-signing-secret-" + Math.random().toString(36).slice(2);
const CHANNEL = "C0VISIBLE";
const ZWSP = "\u200b";
let slack: FakeSlack;
let kt: RunningProgram;
let dir: string;
let driver: SlackDriver;

const seen = (r: { blocks?: unknown }) => visibleText(r.blocks as unknown[] | undefined);
const latest = (m: SlackMessage | undefined) => visibleText(m?.blocks);
const hasButtons = (m: SlackMessage | undefined) => Object.keys(buttonsOf(m?.blocks)).length > 0;
/** Every version of every message keyturn posted, and every answer, as a person saw it. */
const everything = () => [
  ...slack.messages.flatMap((m) => m.versions.map((v) => visibleText(v.blocks))),
  ...slack.responses.map((r) => seen(r.body)),
];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "keyturn-slack-visible-"));
  // the sandbox policy, with one more platform approver Slack does not know (keyturn cannot DM him)
  const policy = readFileSync("src/sandbox/scenarios/default-policy.yaml", "utf8")
    .replace(
      "  erin:\n",
      "  frank:\n    name: Frank Moe\n    identities: [frank@contoso.com, slack:U0FRANK]\n  erin:\n",
    )
    .replace("platform: [person:carol]", "platform: [person:carol, person:frank]");
  expect(policy).toContain("person:frank]");
  writeFileSync(join(dir, "policy.yaml"), policy);
  slack = await new FakeSlack().start();
  driver = new SlackDriver(() => kt, slack, SECRET, CHANNEL);
  kt = await spawnKeyturn({
    KEYTURN_DATA_DIR: join(dir, "data"),
    KEYTURN_POLICY_FILE: join(dir, "policy.yaml"),
    ...slackSandboxEnv(slack, SECRET),
  });
});

afterAll(async () => {
  await kt?.stop();
  await slack?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("what a person sees in Slack", () => {
  it("answers and errors say their sentence in a visible block", async () => {
    expect(seen(await driver.command("U0ERIN", "help rotat"))).toMatch(
      /There is no command "rotat"\. Did you mean rotate\?/,
    );
    expect(seen(await driver.command("U0ERIN", "status contoso-translatr"))).toMatch(
      /Did you mean .*contoso-translator/,
    );
    const status = seen(await driver.command("U0ERIN", "status contoso-translator"));
    expect(status).toContain("Active key");
    expect(status).toContain("SANDBOX");
  });

  it("an incident from request to completion: card, DMs, thread and replies as people read them", async () => {
    const opened = await driver.command(
      "U0ALICE",
      'rotate contoso-translator --exposure key1 --reason "leaked in `PR 123` *now*"',
    );
    expect(seen(opened)).toMatch(/CHG-1 opened for contoso-translator/);
    const root = await waitUntil("the card", () => slack.roots(CHANNEL)[0]);
    const cardLink = `/archives/${CHANNEL}/p${root.ts.replace(".", "")}`;
    // the reply is elsewhere (ephemeral): it links the thread
    expect(JSON.stringify(opened.blocks)).toContain(cardLink);

    // posted once, in its first real state: the first version Slack shows (and notifies) is the real one
    const first = root.versions[0]!;
    expect(visibleText(first.blocks)).toMatch(/AWAITING APPROVAL/);
    expect(first.text).toMatch(/AWAITING APPROVAL/);
    expect(Object.keys(buttonsOf(first.blocks))).toEqual(
      expect.arrayContaining(["Approve", "Reject", "Cancel"]),
    );
    expect(root.versions.map((v) => visibleText(v.blocks)).join("\n")).not.toMatch(/REQUESTED/);

    // approvers are asked in a DM that says what is asked, in a block, with the sandbox label and the thread
    const bobDm = await waitUntil("Bob's DM", () => slack.dms("U0BOB")[0]);
    const carolDm = await waitUntil("Carol's DM", () => slack.dms("U0CAROL")[0]);
    for (const dm of [bobDm, carolDm]) {
      expect(latest(dm)).toMatch(/Alice Ng asks you to approve CHG-1: rotate contoso-translator/);
      expect(latest(dm)).toContain("SANDBOX");
      expect(JSON.stringify(dm.blocks)).toContain(cardLink);
      expect(Object.keys(buttonsOf(dm.blocks))).toEqual(expect.arrayContaining(["Approve", "Reject"]));
    }
    // Frank has no Slack account keyturn can find: the thread names him, once, by name
    const unreachable = await waitUntil("the notice naming Frank", () => {
      const found = slack.thread(CHANNEL, root.ts).replies.filter((r) => /Frank Moe/.test(latest(r)));
      return found.length > 0 && found;
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(slack.thread(CHANNEL, root.ts).replies.filter((r) => /Frank Moe/.test(latest(r)))).toHaveLength(1);
    expect(latest(unreachable[0])).toMatch(/could not send .*direct message/i);
    expect(latest(unreachable[0])).not.toMatch(/frank@contoso\.com|U0FRANK/);

    // a refusal is a sentence a person reads, the code small print
    const approve = buttonsOf(root.versions[0]!.blocks).Approve!;
    expect(seen(await driver.press("U0ERIN", approve))).toMatch(/not an approver/);

    // Bob approves from his DM: his DM says so and has nothing left to press; Carol's says who approved
    expect(seen(await driver.press("U0BOB", buttonsOf(bobDm.blocks).Approve!))).toMatch(/1 of 2/);
    await waitUntil("Bob's DM without buttons", () => !hasButtons(slack.dms("U0BOB")[0]) && true);
    const bobAfter = latest(slack.dms("U0BOB")[0]);
    expect(bobAfter).toMatch(/You approved CHG-1/);
    expect(bobAfter).toMatch(/still waiting for .*Carol Diaz/i);
    const carolAfter = await waitUntil("Carol's DM to name Bob's approval", () => {
      const t = latest(slack.dms("U0CAROL")[0]);
      return /approved by Bob Okafor/i.test(t) && t;
    });
    expect(carolAfter).toMatch(/1 of 2/);
    expect(hasButtons(slack.dms("U0CAROL")[0])).toBe(true);

    expect(seen(await driver.press("U0CAROL", buttonsOf(carolDm.blocks).Approve!))).toMatch(/2 of 2/);
    const done = await waitUntil(
      "the completed card and the signed head in the thread",
      () => {
        const t = slack.thread(CHANNEL, root.ts);
        return (
          /COMPLETED/.test(latest(t.root)) &&
          t.replies.some((r) => /Audit log checkpoint/.test(latest(r))) &&
          t
        );
      },
      120_000,
    );

    // the card says COMPLETED only after every step reply is in the thread
    const stepReplies = done.replies.filter((r) => /^Step \d+\/\d+ /.test(latest(r)));
    expect(stepReplies).toHaveLength(8);
    const firstCompleted = done.root!.versions.find((v) => /COMPLETED/.test(visibleText(v.blocks)))!;
    for (const r of stepReplies) expect(r.versions[0]!.order!).toBeLessThan(firstCompleted.order!);

    // step replies name consumers by name and kind and read times as clock times, the date once
    const steps = stepReplies.map((r) => latest(r)).join("\n");
    expect(steps).toMatch(/App Service translator-web, setting TRANSLATOR_KEY: refresh requested/);
    expect(steps).toMatch(/Key Vault secret translator-key: Key Vault version [0-9a-f]{8}…/);
    expect(steps).not.toMatch(/secret:https?:|\bkv:|\bsite:|\bdeclared:/);
    expect(steps).not.toMatch(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/);
    expect(steps).toMatch(/\*Finished\*\n\d{2}:\d{2}:\d{2} UTC/);

    // the card says who approves as a person would, and each consumer once, in words
    const card = latest(done.root);
    expect(card).toContain(
      "secops: Bob Okafor or a Slack user group (S0SECOPS); platform: Carol Diaz or Frank Moe",
    );
    expect(card).toMatch(/Key Vault secret translator-key — holds key1; .*declared and found/);
    expect(card).not.toMatch(/group:|uses unknown|translator-key \(Key Vault\)/);

    // the card never links to itself
    for (const v of done.root!.versions) expect(JSON.stringify(v.blocks)).not.toContain(cardLink);

    // every DM followed the change: completed, who approved, nothing to press, still labelled
    await waitUntil("DMs to show the completion", () =>
      [slack.dms("U0BOB")[0], slack.dms("U0CAROL")[0]].every((m) => /completed/i.test(latest(m))),
    );
    for (const m of [slack.dms("U0BOB")[0], slack.dms("U0CAROL")[0]]) {
      expect(latest(m)).toMatch(/approved by Bob Okafor and Carol Diaz/i);
      expect(latest(m)).toContain("SANDBOX");
      expect(hasButtons(m)).toBe(false);
    }

    // keyturn's own inline code stays code; the requester's backticks and stars stay literal
    const head = latest(done.replies.find((r) => /Audit log checkpoint/.test(latest(r))));
    expect(head).toContain("`keyturn audit verify --witness");
    expect(head).not.toContain(`${ZWSP}\``);
    expect(latest(done.root)).toContain(`${ZWSP}\`PR 123\` ${ZWSP}*now*`);
    const evidence = seen(await driver.command("U0BOB", "evidence CHG-1"));
    expect(evidence).toContain("verify it offline with `keyturn audit verify --pack");
    expect(evidence).not.toContain(ZWSP);

    // step replies and notices carry their sentence in a visible block
    for (const r of done.replies) expect(latest(r).trim()).not.toBe("");
    expect(done.replies.map(latest).join("\n")).toMatch(/CHG-1 completed: contoso-translator rotated/);
  });

  it("a rejected change: the DMs say who rejected it and why, and lose their buttons", async () => {
    // another channel: the incident channel's posts are still paced at Slack's rate
    const other = new SlackDriver(() => kt, slack, SECRET, "C0OTHER");
    await other.command("U0ALICE", 'rotate fabrikam-ai --reason "quarterly"');
    const bobDm = await waitUntil("Bob's DM for CHG-2", () =>
      slack.dms("U0BOB").find((m) => /CHG-2/.test(latest(m))),
    );
    expect(hasButtons(bobDm)).toBe(true);
    expect(seen(await other.command("U0CAROL", 'reject CHG-2 --reason "wrong account"'))).toMatch(
      /Rejected CHG-2/,
    );
    await waitUntil("Bob's DM to show the rejection", () => {
      const m = slack.dms("U0BOB").find((x) => x.ts === bobDm.ts)!;
      return /rejected by Carol Diaz: wrong account/i.test(latest(m)) && !hasButtons(m);
    });
  });

  it("a consumer pinning a secret version is named on the card before anyone approves, its version labelled", async () => {
    const pinned = new SlackDriver(() => kt, slack, SECRET, "C0PINNED");
    await pinned.command("U0ALICE", 'rotate contoso-speech --reason "quarterly"');
    const card = await waitUntil("the contoso-speech card", () => slack.roots("C0PINNED")[0]);
    expect(latest(card)).toMatch(
      /BLOCKS THE CUTOVER: speech-ivr pins Key Vault version [0-9a-f]{8}… of speech-key/,
    );
  });

  it("no visible text anywhere — cards and their plan notes, replies, DMs, answers — is a bare 32-hex value (a Key Vault version looks like a legacy key)", () => {
    const all = everything();
    expect(all.join("\n")).toMatch(/BLOCKS THE CUTOVER/);
    expect(all.join("\n")).toMatch(/Key Vault version [0-9a-f]{8}…/);
    expect(all.join("\n")).toMatch(/fingerprint sha256:[0-9a-f]{12}/);
    for (const t of all) expect(t).not.toMatch(/\b[0-9a-f]{32}\b/i);
  });
});
