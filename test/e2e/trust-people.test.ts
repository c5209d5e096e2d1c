/**
 * The trust model as people meet it, against the built program over real HTTP: one keyturn serving
 * Slack (signed requests) and Teams, the sandbox tenant in-process.
 * - one person counts once across Slack and Teams, and never approves their own request from the other platform;
 * - Azure tags grant nothing: an `approvers` tag adds nobody and an `environment` tag picks no weaker policy;
 * - only the consumers role edits the consumer list;
 * - read commands need the read role, inventory / evidence / verify the audit role; refusals name who holds it.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Agent, fetch as undiciFetch } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FakeConnector, personalMessage } from "../fakes/bot-connector.js";
import { FakeSlack } from "../fakes/slack-api.js";
import { buttonsOf } from "../fakes/slack-sign.js";
import { SlackDriver, slackSandboxEnv } from "../support/slack-e2e.js";
import { spawnKeyturn, waitUntil, type RunningProgram } from "../support/spawn-keyturn.js";

const SECRET = "e2e-signing-secret-" + Math.random().toString(36).slice(2);
const CHANNEL = "C0TRUST";
const PROD_SUB = "00000000-0000-4000-8000-0000000000a1";
let slack: FakeSlack;
let fc: FakeConnector;
let kt: RunningProgram;
let dir: string;

const text = (r: unknown) => JSON.stringify(r);

let driver: SlackDriver;
const slackCommand = (user: string, line: string) => driver.command(user, line);
const slackPress = (user: string, button: { action_id: string; value: string }) => driver.press(user, button);

/** A personal-chat command in Teams; resolves with everything keyturn answered in that chat since. */
async function teamsCommand(who: "alice" | "bob" | "carol" | "erin", line: string): Promise<string> {
  const conversation = `a:personal-${who}`;
  const before = fc.in(conversation).length;
  const r = await fetch(`${kt.url}/api/messages`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(personalMessage(fc.url, who, line)),
  });
  expect(r.status).toBeLessThan(300);
  const replies = await waitUntil(`Teams' reply to "${line}"`, () => {
    const all = fc.in(conversation);
    return all.length > before && all.slice(before);
  });
  return text(replies.map((a) => a.body));
}

/** Whoever holds tag-write on the account changes its tags through ARM (Accounts_Update), as `az resource tag` would. */
async function patchTags(account: string, tags: Record<string, string>): Promise<void> {
  const admin = new URL(kt.adminUrl!);
  const token = Buffer.from(JSON.stringify({ name: "mallory@contoso.com", ip: "203.0.113.66" })).toString(
    "base64url",
  );
  const r = await undiciFetch(
    `${admin.origin}/subscriptions/${PROD_SUB}/resourceGroups/rg-ai-prod/providers/Microsoft.CognitiveServices/accounts/${account}?api-version=2025-09-01`,
    {
      method: "PATCH",
      headers: { authorization: `Bearer sim.${token}`, "content-type": "application/json" },
      body: JSON.stringify({ tags }),
      dispatcher: new Agent({ connect: { ca: readFileSync(kt.caPath!, "utf8") } }),
    },
  );
  expect(r.status).toBe(200);
  expect(((await r.json()) as { tags: Record<string, string> }).tags).toEqual(tags);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "keyturn-trust-people-"));
  slack = await new FakeSlack().start();
  driver = new SlackDriver(() => kt, slack, SECRET, CHANNEL);
  fc = await new FakeConnector().start();
  kt = await spawnKeyturn({
    KEYTURN_DATA_DIR: dir,
    NODE_ENV: "test",
    KEYTURN_TEAMS_ANONYMOUS: "local",
    ...slackSandboxEnv(slack, SECRET),
  });
});

afterAll(async () => {
  await kt?.stop();
  await fc?.stop();
  await slack?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("trust model: people, roles and tags", () => {
  it("tags grant nothing: an approvers tag adds nobody, an environment tag picks no weaker policy", async () => {
    await patchTags("contoso-translator", {
      environment: "dev",
      approvers: "erin@contoso.com",
      owner: "team-lang@contoso.com",
    });
    const opened = await slackCommand("U0ALICE", 'rotate contoso-translator --reason "scheduled"');
    expect(text(opened)).toMatch(/CHG-1 opened for contoso-translator/);
    expect(text(opened)).toMatch(
      /needs 2 approval\(s\) from Bob Okafor or members of Slack user group S0SECOPS \(group:secops\); Carol Diaz/,
    );
    const root = await waitUntil("the card", () => slack.roots(CHANNEL)[0]);
    const buttons = await waitUntil("Approve on the card", () => {
      const b = buttonsOf(slack.thread(CHANNEL, root.ts).root?.blocks);
      return b.Approve && b;
    });
    expect(text(await slackPress("U0ERIN", buttons.Approve!))).toMatch(
      /not an approver for CHG-1: approving needs the approve role \(policy \\"production\\"\)\. Approvers: Bob Okafor/,
    );
  });

  it("one person counts once across Slack and Teams, and never approves their own request from the other platform", async () => {
    // CHG-1 was requested by Alice in Slack; she tries to approve it from Teams
    expect(await teamsCommand("alice", "approve CHG-1")).toMatch(/You requested CHG-1; someone else/);
    // Bob approves in Slack, then again from Teams: still one approval of two
    expect(text(await slackCommand("U0BOB", "approve CHG-1"))).toMatch(/Approved CHG-1: 1 of 2/);
    expect(await teamsCommand("bob", "approve CHG-1")).toMatch(/You already approved CHG-1/);
    const status = await slackCommand("U0BOB", "history contoso-translator");
    expect(text(status)).toMatch(/CHG-1/);
    expect(text(status)).toMatch(/awaiting approval/i);
    // Carol, in Teams, is the second person
    expect(await teamsCommand("carol", "approve CHG-1")).toMatch(/Approved CHG-1: 2 of 2/);
    await waitUntil(
      "CHG-1 to complete",
      async () => /completed/i.test(text(await slackCommand("U0BOB", "history contoso-translator"))),
      90_000,
    );
  });

  it("only the consumers role edits the consumer list; the refusal names who holds it", async () => {
    const refused = await slackCommand(
      "U0ALICE",
      "consumer add contoso-openai rogue-app --secret https://contoso-kv.vault.azure.net/secrets/rogue",
    );
    expect(text(refused)).toMatch(
      /Declaring a consumer of contoso-openai needs the consumers role for contoso-openai \(policy \\"production\\"\), which you do not hold\. It is held by: Bob Okafor or members of Slack user group S0SECOPS \(group:secops\); Carol Diaz \(group:platform\)/,
    );
    expect(await teamsCommand("erin", "consumer remove contoso-openai openai-chat")).toMatch(
      /Removing a consumer of contoso-openai needs the consumers role/,
    );
    expect(
      text(await slackCommand("U0BOB", "consumer add contoso-openai batch-job --owner bob@contoso.com")),
    ).toMatch(/Declared consumer batch-job on contoso-openai/);
    expect(text(await slackCommand("U0ALICE", "consumer remove contoso-openai batch-job"))).toMatch(
      /needs the consumers role/,
    );
    expect(text(await slackCommand("U0BOB", "consumer remove contoso-openai batch-job"))).toMatch(
      /Removed declared consumer batch-job/,
    );
  });

  it("read commands need the read role; inventory, evidence and verify the audit role", async () => {
    // Alice (a person of the policy, not an approver or auditor)
    expect(text(await slackCommand("U0ALICE", "status contoso-openai"))).toMatch(/team-chat@contoso\.com/);
    for (const line of ["inventory contoso-openai", "evidence CHG-1", "verify"]) {
      const r = text(await slackCommand("U0ALICE", line));
      expect(r).toMatch(/needs the audit role/);
      expect(r).toMatch(
        /It is held by: Bob Okafor or members of Slack user group S0SECOPS \(group:secops\); Carol Diaz \(group:platform\); Erin Cho \(group:auditors\)/,
      );
      expect(r).not.toMatch(/ops laptop script|198\.51\.100|openai-key/);
    }
    // Erin is an auditor: she sees the evidence and the inventory, in Teams too
    expect(text(await slackCommand("U0ERIN", "inventory contoso-openai"))).toMatch(/openai-key/);
    expect(await teamsCommand("erin", "evidence CHG-1")).toMatch(/keyturn-evidence-CHG-1/);
    // someone the policy does not name resolves to nobody: no reads
    for (const line of [
      "status contoso-translator",
      "list",
      "history contoso-translator",
      "owner contoso-openai",
    ]) {
      const r = text(await slackCommand("U0MALLORY", line));
      expect(r).toMatch(/needs the read role/);
      expect(r).toMatch(/It is held by: everyone the policy names/);
      expect(r).not.toMatch(/team-lang@contoso\.com|CHG-1/);
    }
    expect(text(await slackCommand("U0MALLORY", 'rotate contoso-openai --reason "x"'))).toMatch(
      /needs the request role/,
    );
  });
});
