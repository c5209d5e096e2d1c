/**
 * Hostile and broken requests at the running program's Slack and Teams endpoints: each gets a 4xx
 * or a clear reply, the process stays up, nothing is created, and no key value leaks.
 */
import { createHmac } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FakeConnector, personalMessage, cardAction } from "../fakes/bot-connector.js";
import { blockAction, sign, slashCommand } from "../fakes/slack-sign.js";
import { ChaosKeyturn } from "../support/chaos-keyturn.js";
import { seeded, size } from "../support/chaos-kit.js";
import { findSecrets, scanPaths } from "../support/scan-secrets.js";
import { simulatorKeys } from "../support/spawn-keyturn.js";
import { readFileSync } from "node:fs";

const RANDOM = size(400, 30);
let dir: string;
let kt: ChaosKeyturn;
let fc: FakeConnector;
const statuses: { what: string; status: number }[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "keyturn-chaos-input-"));
  fc = await new FakeConnector().start();
  kt = await new ChaosKeyturn(dir, {
    NODE_ENV: "test",
    KEYTURN_SANDBOX: "1",
    KEYTURN_TEAMS_ANONYMOUS: "local",
  }).start();
});

afterAll(async () => {
  await kt?.stop();
  await fc?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const url = () => kt.kt!.url;

async function slack(what: string, body: string | Buffer, headers: Record<string, string>): Promise<number> {
  const r = await fetch(`${url()}/slack/events`, { method: "POST", headers, body });
  await r.arrayBuffer();
  statuses.push({ what, status: r.status });
  return r.status;
}

async function teams(what: string, body: string, contentType = "application/json"): Promise<number> {
  const r = await fetch(`${url()}/api/messages`, {
    method: "POST",
    headers: { "content-type": contentType },
    body,
  });
  await r.arrayBuffer();
  statuses.push({ what, status: r.status });
  return r.status;
}

/** Signed as Slack signs, whatever the body. */
const signed = (body: string | Buffer, contentType = "application/x-www-form-urlencoded") => {
  const ts = Math.floor(Date.now() / 1000);
  const sig = "v0=" + createHmac("sha256", kt.secret).update(`v0:${ts}:`).update(body).digest("hex");
  return { "content-type": contentType, "x-slack-request-timestamp": String(ts), "x-slack-signature": sig };
};

async function healthy(): Promise<void> {
  expect(kt.kt!.child.exitCode).toBeNull();
  const r = await fetch(`${url()}/healthz`);
  expect(r.status).toBe(200);
}

function noisyText(rng: ReturnType<typeof seeded>): string {
  const pieces = [
    "\u0000",
    "\u001b[2J",
    "\u202e",
    "🔑",
    "<!channel>",
    "<@U0BOB>",
    '"',
    "'",
    "--reason",
    "--",
    "%",
    "&",
    "=",
    "+",
    "status",
    "help",
    "approve CHG-1",
    "resume CHG-7",
    "\ud800",
    "x".repeat(rng.int(3000)),
  ];
  return Array.from({ length: 1 + rng.int(8) }, () => rng.pick(pieces)).join(rng.pick([" ", "", "\n"]));
}

describe("hostile input at the chat endpoints", () => {
  it("Slack: unsigned, mis-signed, stale, malformed, huge and nonsensical requests", async () => {
    const body = slashCommand({
      user: "U0ALICE",
      channel: "C0X",
      text: 'rotate contoso-translator --reason "x"',
      responseUrl: kt.slack.responseUrl("nope"),
    });
    expect(await slack("unsigned", body, { "content-type": "application/x-www-form-urlencoded" })).toBe(401);
    expect(
      await slack("mis-signed", body, {
        ...sign(kt.secret, body),
        "x-slack-signature": "v0=" + "f".repeat(64),
      }),
    ).toBe(401);
    expect(await slack("wrong secret", body, sign("not-the-secret", body))).toBe(401);
    expect(
      await slack("signature garbage", body, {
        ...sign(kt.secret, body),
        "x-slack-signature": "v0=zz-not-hex",
      }),
    ).toBe(401);
    expect(
      await slack("timestamp garbage", body, {
        ...sign(kt.secret, body),
        "x-slack-request-timestamp": "yesterday",
      }),
    ).toBe(401);

    const malformed = [
      "%%%",
      "=&=&=",
      "payload=",
      "payload=%7B",
      "payload=null",
      "payload=42",
      'payload={"type":"block_actions"}',
      'payload={"type":"block_actions","actions":"nope","user":{}}',
      'payload={"type":"view_submission","view":{}}',
      "command=%2Fkeyturn",
      "command=%2Fother&text=help&user_id=U0ALICE",
      "text=" + "%F0%9F".repeat(100),
      "\u0000\u0001",
    ];
    for (const m of malformed)
      expect(await slack(`malformed ${m.slice(0, 30)}`, m, signed(m))).toBeLessThan(500);
    expect(
      await slack(
        "json body",
        '{"type":"url_verification","challenge":"c"}',
        signed('{"type":"url_verification","challenge":"c"}', "application/json"),
      ),
    ).toBeLessThan(500);
    expect(await slack("bad json", "{", signed("{", "application/json"))).toBeLessThan(500);

    const huge = slashCommand({
      user: "U0ALICE",
      channel: "C0X",
      text: "status " + "y".repeat(2_000_000),
      responseUrl: kt.slack.responseUrl("huge"),
    });
    const hugeStatus = await slack("2 MB slash command", huge, signed(huge));
    expect(hugeStatus === 200 || (hugeStatus >= 400 && hugeStatus < 500)).toBe(true);

    const unknownAction = blockAction({
      user: "U0BOB",
      channel: "C0X",
      button: { action_id: "keyturn_selfdestruct", value: "CHG-1" },
      responseUrl: kt.slack.responseUrl("ua"),
    });
    expect(await slack("unknown action id", unknownAction, signed(unknownAction))).toBeLessThan(500);
    const badValue = blockAction({
      user: "U0BOB",
      channel: "C0X",
      button: { action_id: "keyturn_approve", value: "{not json" },
      responseUrl: kt.slack.responseUrl("bv"),
    });
    expect(await slack("approve with a garbage value", badValue, signed(badValue))).toBeLessThan(500);

    const rng = seeded("endpoints-slack");
    for (let i = 0; i < RANDOM; i++) {
      const text = noisyText(rng);
      const b = slashCommand({
        user: rng.pick(["U0ALICE", "U0ERIN", "U0NOBODY", ""]),
        channel: "C0X",
        text,
        responseUrl: kt.slack.responseUrl(`f${i}`),
      });
      expect(await slack(`random slash command ${i}`, b, signed(b))).toBeLessThan(500);
    }
    await healthy();
  });

  it("Teams: malformed JSON, missing fields, unknown activity types, huge text", async () => {
    expect(await teams("malformed json", "{")).toBeGreaterThanOrEqual(400);
    expect(await teams("not json", "hello", "text/plain")).toBeLessThan(500);
    for (const b of [
      "{}",
      "[]",
      "null",
      "42",
      '{"type":"message"}',
      '{"type":"message","text":"help"}',
      '{"type":"message","from":{},"conversation":{},"serviceUrl":"' + fc.url + '"}',
    ]) {
      expect(await teams(`missing fields ${b}`, b)).toBeLessThan(500);
    }
    const base = personalMessage(fc.url, "erin", "help");
    for (const type of [
      "typing",
      "endOfConversation",
      "event",
      "installationUpdate",
      "messageReaction",
      "conversationUpdate",
      "weird",
    ]) {
      expect(await teams(`activity type ${type}`, JSON.stringify({ ...base, type }))).toBeLessThan(500);
    }
    // the Bot Framework protocol answers an invoke nobody handles with 501 Not Implemented
    const r = await fetch(`${url()}/api/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...base, type: "invoke", name: "composeExtension/weird" }),
    });
    await r.arrayBuffer();
    expect([200, 400, 404, 501]).toContain(r.status);
    expect(
      await teams(
        "unknown card verb",
        JSON.stringify(
          cardAction(fc.url, "bob", "a:personal-bob", { verb: "selfDestruct", data: { changeId: "CHG-1" } }),
        ),
      ),
    ).toBeLessThan(500);
    expect(
      await teams(
        "approve a change that does not exist",
        JSON.stringify(
          cardAction(fc.url, "bob", "a:personal-bob", {
            verb: "approve",
            data: { changeId: "CHG-404", planHash: "x" },
          }),
        ),
      ),
    ).toBeLessThan(500);
    expect(
      await teams(
        "100 KB text",
        JSON.stringify(personalMessage(fc.url, "erin", "status " + "z".repeat(100_000))),
      ),
    ).toBeLessThan(500);
    const huge = await teams(
      "1 MB text",
      JSON.stringify(personalMessage(fc.url, "erin", "status " + "z".repeat(1_000_000))),
    );
    expect(huge >= 400 && huge < 500).toBe(true);
    const rng = seeded("endpoints-teams");
    for (let i = 0; i < RANDOM; i++) {
      expect(
        await teams(
          `random message ${i}`,
          JSON.stringify(personalMessage(fc.url, rng.pick(["erin", "alice"] as const), noisyText(rng))),
        ),
      ).toBeLessThan(500);
    }
    await healthy();
  });

  it("nothing was created, and no key value reached a reply, a log or a file", async () => {
    await new Promise((r) => setTimeout(r, 1000));
    await healthy();
    expect(kt.changes()).toEqual([]);
    const bad = statuses.filter((s) => s.status >= 500);
    expect(bad).toEqual([]);
    const keys = await simulatorKeys(kt.kt!.adminUrl!, readFileSync(kt.kt!.caPath!, "utf8"));
    expect(keys.length).toBeGreaterThan(10);
    const texts = [
      { name: "keyturn output", text: kt.output() },
      { name: "slack requests", text: kt.slack.bodies.join("\n") },
      { name: "teams requests", text: fc.bodies.join("\n") },
    ];
    expect(findSecrets(texts, keys)).toEqual([]);
    const sandboxState = join(dir, "sandbox");
    expect((await scanPaths([dir], keys)).filter((h) => !h.where.startsWith(sandboxState))).toEqual([]);
  });
});
