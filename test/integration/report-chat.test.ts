/**
 * The report where people meet it, against the simulated tenant: the weekly digest says how to get
 * it, and `report` in chat answers an auditor with the summary and the files (Slack blocks; a Teams
 * card with the files attached), refuses someone
 * without the audit role by naming the role, and covers only the accounts the asker may audit.
 * Read as Slack shows them (visible blocks), never the notification text.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toBlocks } from "../../adapters/slack/render.js";
import { activityOf, fileAttachment } from "../../adapters/teams/render.js";
import { createAzurePorts } from "../../src/azure/index.js";
import type { Message } from "../../src/core/messages.js";
import { knownHoldersOf } from "../../src/core/known-holders.js";
import { createPolicyBook } from "../../src/core/policy.js";
import { createLogger } from "../../src/log.js";
import { AccountDirectory } from "../../src/runner/account-directory.js";
import { ChatRegistry } from "../../src/runner/chat-registry.js";
import { Queries } from "../../src/runner/queries.js";
import { Reminders } from "../../src/runner/reminders.js";
import { createSimulatorCredential, simulatorAzureConfig } from "../../src/sandbox/index.js";
import { visibleText } from "../fakes/slack-api.js";
import { findSecrets } from "../support/scan-secrets.js";
import { shownOf } from "../support/teams-visible.js";
import { fastPolicy, startSandboxEngine, users, type SandboxEngine } from "../support/sandbox-engine.js";
import { ThreadRecorder } from "../support/thread-recorder.js";
import { asyncStore } from "../../src/store/async-sqlite.js";

let kt: SandboxEngine;
const seen = (m: Message) => visibleText(toBlocks(m).blocks);

beforeAll(async () => {
  kt = await startSandboxEngine({ sim: { consumers: false } });
}, 60_000);

afterAll(async () => {
  await kt?.close();
});

describe("the fleet report in chat", () => {
  it("the weekly digest tells people how to get the report, in chat and in a pipeline", async () => {
    const clock = { now: () => new Date() };
    const azure = createAzurePorts(
      {
        ...simulatorAzureConfig(kt.sim),
        knownHolders: (id) => knownHoldersOf(asyncStore(kt.store), id),
      },
      createSimulatorCredential(),
      createLogger({ level: "silent" }),
    );
    const recorder = new ThreadRecorder();
    const chats = new ChatRegistry();
    chats.register(recorder);
    const policy = createPolicyBook(fastPolicy());
    const reminders = new Reminders(
      asyncStore(kt.store),
      new AccountDirectory(azure.accounts, clock),
      new Queries(asyncStore(kt.store), azure, policy, clock),
      chats,
      clock,
      createLogger({ level: "silent" }),
      { platform: "console", id: "digest" },
    );
    await reminders.digest();
    const digest = [...recorder.threads.values()].find((t) => t.channel === "digest");
    expect(digest, "the digest was posted").toBeDefined();
    const text = seen(digest!.root);
    expect(text).toMatch(/Overdue keys: \d+/);
    expect(text).toContain("Fleet posture report");
    expect(text).toMatch(/type `report` here for the summary and the full report as files/);
    expect(text).toContain("keyturn report --format md|csv|json");
  });

  it("answers an auditor with the summary and the full report as Markdown and CSV files", async () => {
    await kt.say(users.dave, 'rotate contoso-speech --exposure --reason "key in a pastebin"');
    const reply = await kt.say(users.erin, "report");
    const text = seen(reply.message);
    expect(text).toContain("Fleet posture report");
    expect(text).toMatch(/Accounts\*\n7\n/);
    expect(text).toMatch(/Exposed \(open incidents\)\*\n1 \(1 open\)\n/);
    expect(text).toMatch(
      /Needs attention first\*\ncontoso-speech — critical: exposure incident open \(CHG-1, awaiting approval\)/,
    );
    expect(text).toMatch(/\ncontoso-openai — high: [^\n]*1 listKeys caller\(s\) in 90 days/);
    expect(text).toMatch(
      /is attached: keyturn-report-\d{4}-\d\d-\d\d\.md, keyturn-report-\d{4}-\d\d-\d\d\.csv/,
    );
    expect(text).toContain("SANDBOX");
    expect(reply.attachments?.map((a) => a.contentType)).toEqual(["text/markdown", "text/csv"]);
    const md = reply.attachments![0]!.content;
    expect(md).toContain("### contoso-openai");
    expect(md).toContain("- **listKeys callers (90 days)**: jenkins@contoso.com");
    const everything = [
      { name: "summary", text: JSON.stringify(reply.message) },
      ...reply.attachments!.map((a) => ({ name: a.filename, text: a.content })),
    ];
    expect(findSecrets(everything, kt.sim.admin.keyValues())).toEqual([]);
  });

  it("in Teams: the summary on a card, the Markdown and CSV attached as files", async () => {
    const reply = await kt.say(users.bob, "report --sort name");
    const activity = activityOf(reply.message, (reply.attachments ?? []).map(fileAttachment));
    const shown = shownOf(activity).join("\n");
    expect(shown).toContain("Fleet posture report");
    expect(shown).toMatch(/Accounts\n7/);
    expect(shown).toMatch(/is attached: keyturn-report-[\d-]+\.md, keyturn-report-[\d-]+\.csv/);
    const files = (
      activity.attachments as { contentType: string; name?: string; contentUrl?: string }[]
    ).filter((a) => a.name);
    expect(files.map((f) => [f.contentType, f.name!.replace(/\d{4}-\d\d-\d\d/, "<date>")])).toEqual([
      ["text/markdown", "keyturn-report-<date>.md"],
      ["text/csv", "keyturn-report-<date>.csv"],
    ]);
    const md = Buffer.from(files[0]!.contentUrl!.replace(/^data:[^,]*,/, ""), "base64").toString("utf8");
    expect(md).toContain("sorted by name");
  });

  it("refuses someone without the audit role, naming the role and who holds it", async () => {
    const reply = await kt.say(users.alice, "report --sort name");
    expect(reply.attachments ?? []).toEqual([]);
    const text = seen(reply.message);
    expect(text).toMatch(/report/);
    expect(text).toMatch(/audit/);
    expect(text).toMatch(/Bob Okafor|Erin Cho|approvers/);
  });
});
