/**
 * Slack's acknowledgement as a person meets it, on the built program with the sandbox tenant: a
 * command that needs nothing from Azure or Slack (help, a command that does not parse) is answered
 * in the acknowledgement itself — Slack shows that body as the reply — and a command stuck behind a
 * slow Azure call holds up neither another person's answer nor their reply.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Agent, fetch as undiciFetch } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FakeSlack, visibleText } from "../fakes/slack-api.js";
import { sign, slashCommand } from "../fakes/slack-sign.js";
import { slackSandboxEnv } from "../support/slack-e2e.js";
import { spawnKeyturn, waitUntil, type RunningProgram } from "../support/spawn-keyturn.js";

const SECRET = "slack-ack-signing-secret";
const CHANNEL = "C0ACK";
let slack: FakeSlack;
let kt: RunningProgram;
let dir: string;
let n = 0;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "keyturn-slack-ack-"));
  slack = await new FakeSlack().start();
  kt = await spawnKeyturn({ ...slackSandboxEnv(slack, SECRET), KEYTURN_DATA_DIR: dir, LOG_LEVEL: "warn" });
}, 90_000);

afterAll(async () => {
  await kt?.stop();
  await slack?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A slash command: its acknowledgement (status, parsed body) and the id its response_url files under. */
async function send(user: string, text: string): Promise<{ id: string; status: number; ack: Ack | null }> {
  const id = `ack${++n}`;
  const body = slashCommand({ user, channel: CHANNEL, text, responseUrl: slack.responseUrl(id) });
  const res = await fetch(`${kt.url}/slack/events`, { method: "POST", headers: sign(SECRET, body), body });
  const raw = await res.text();
  return { id, status: res.status, ack: raw ? (JSON.parse(raw) as Ack) : null };
}

interface Ack {
  response_type?: string;
  text?: string;
  blocks?: unknown[];
}

/** Block text as Slack shows it: mrkdwn's escapes read as the characters they stand for. */
const shown = (blocks: unknown[] | undefined): string =>
  visibleText(blocks).replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");

const replyTo = (id: string) =>
  waitUntil(`the reply to ${id}`, () => slack.responses.find((r) => r.id === id)?.body, 30_000);

async function admin(path: string, body: unknown): Promise<void> {
  const r = await undiciFetch(`${kt.adminUrl}${path}`, {
    method: "POST",
    body: JSON.stringify(body),
    headers: { "content-type": "application/json" },
    dispatcher: new Agent({ connect: { ca: readFileSync(kt.caPath!, "utf8") } }),
  });
  expect(r.status).toBe(204);
}

describe("Slack acknowledgements", () => {
  it("answers help and a command that does not parse in the acknowledgement itself, as Slack shows it", async () => {
    // Erin's first command: keyturn learns who she is (users.info), then answers on response_url
    const first = await send("U0ERIN", "owner contoso-translator");
    expect(first.status).toBe(200);
    expect(shown((await replyTo(first.id)).blocks as unknown[])).toMatch(/contoso-translator/);

    const help = await send("U0ERIN", "help rotate");
    expect(help.status).toBe(200);
    expect(help.ack?.response_type).toBe("ephemeral");
    const seen = shown(help.ack?.blocks);
    expect(seen).toMatch(/rotate <account>/);
    expect(seen).toMatch(/--reason/);

    const typo = await send("U0ERIN", 'rotate contoso-translator --resaon "x"');
    expect(typo.status).toBe(200);
    expect(typo.ack?.response_type).toBe("ephemeral");
    // the error says what was wrong and what to type instead
    expect(shown(typo.ack?.blocks)).toMatch(/--resaon[\s\S]*--reason/);

    // answered once: neither was posted to response_url as well (a later reply has come meanwhile)
    const later = await send("U0ERIN", "owner contoso-openai");
    await replyTo(later.id);
    expect(slack.responses.find((r) => r.id === help.id || r.id === typo.id)).toBeUndefined();
  }, 60_000);

  it("a command waiting on a slow Azure call holds up neither another person's answer nor their reply", async () => {
    // warm Bob's identity so his help can be answered at once
    const warm = await send("U0BOB", "owner contoso-translator");
    await replyTo(warm.id);
    // Erin's status takes the account's inventory, whose Activity Log read Azure answers late
    await admin("/faults", {
      match: { operation: "activityLog" },
      effect: { type: "latency", ms: 6000 },
      times: 1,
    });
    const slow = await send("U0ERIN", "status contoso-translator");
    expect(slow.status).toBe(200);
    expect(slow.ack).toBeNull();

    const help = await send("U0BOB", "help");
    expect(shown(help.ack?.blocks)).toMatch(/status <account>/);
    const owner = await send("U0BOB", "owner contoso-openai");
    expect(shown((await replyTo(owner.id)).blocks as unknown[])).toMatch(/contoso-openai/);
    // both of Bob's answers came while Erin's status still waited on Azure
    expect(slack.responses.find((r) => r.id === slow.id)).toBeUndefined();

    expect(shown((await replyTo(slow.id)).blocks as unknown[])).toMatch(/contoso-translator/);
  }, 60_000);
});
