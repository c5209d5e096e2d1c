/**
 * A pipeline asks for a rotation over the HTTP API of the built program, with Slack as the chat
 * platform: the change appears in the configured Slack channel like any other (its card, the
 * approvers' DMs), approvers approve in Slack, and the pipeline follows the change to completion.
 * Tokens come from a local Entra issuer (real HTTP JWKS, RS256 key generated for the run).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EntraTokenIssuer } from "../fakes/entra-tokens.js";
import { FakeSlack, visibleText } from "../fakes/slack-api.js";
import { buttonsOf } from "../fakes/slack-sign.js";
import { SlackDriver, slackSandboxEnv } from "../support/slack-e2e.js";
import { spawnKeyturn, waitUntil, type RunningProgram } from "../support/spawn-keyturn.js";

const SECRET = "api-signing-secret-" + Math.random().toString(36).slice(2);
const CHANNEL = "C0PIPELINES";
const CI = "99999999-9999-4999-8999-999999999999";
let slack: FakeSlack;
let issuer: EntraTokenIssuer;
let kt: RunningProgram;
let dir: string;
let driver: SlackDriver;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "keyturn-api-slack-"));
  // the sandbox policy with the release pipeline's service principal as a person who may request
  const policy = readFileSync("src/sandbox/scenarios/default-policy.yaml", "utf8").replace(
    "  erin:\n",
    `  ci:\n    name: Release pipeline\n    identities: [aad:${CI}]\n  erin:\n`,
  );
  expect(policy).toContain(`aad:${CI}`);
  writeFileSync(join(dir, "policy.yaml"), policy);
  slack = await new FakeSlack().start();
  issuer = await new EntraTokenIssuer().start();
  driver = new SlackDriver(() => kt, slack, SECRET, CHANNEL);
  kt = await spawnKeyturn({
    KEYTURN_DATA_DIR: join(dir, "data"),
    KEYTURN_POLICY_FILE: join(dir, "policy.yaml"),
    ...slackSandboxEnv(slack, SECRET),
    ...issuer.env({ KEYTURN_API_CHANNEL: `slack:${CHANNEL}` }),
  });
}, 90_000);

afterAll(async () => {
  await kt?.stop();
  await slack?.stop();
  await issuer?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const api = async (path: string, token: string | null, body?: unknown) => {
  const res = await fetch(`${kt.url}${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any -- JSON read in assertions
};

describe("a rotation requested by a pipeline over the API", () => {
  it("says where the API is and who it trusts when it starts", () => {
    expect(kt.output()).toContain(`API: ${kt.url}/api/v1 (Entra tokens of tenant ${issuer.tenant}`);
    expect(kt.output()).toContain(`rotations post to slack:${CHANNEL}`);
  });

  it("refuses a caller without a token, from another tenant, or for another app", async () => {
    expect((await api("/api/v1/accounts/contoso-translator/status", null)).status).toBe(401);
    const other = await issuer.token({ oid: CI, tid: "0f0f0f0f-0f0f-4f0f-8f0f-0f0f0f0f0f0f" });
    expect((await api("/api/v1/accounts/contoso-translator/status", other)).status).toBe(401);
    const aud = await issuer.token({ oid: CI, aud: "api://someone-else" });
    expect((await api("/api/v1/accounts/contoso-translator/status", aud)).status).toBe(401);
  });

  it("opens a change that Slack shows like any other, approved in Slack, followed to completion", async () => {
    const token = await issuer.token({ oid: CI, version: "v1" });
    const opened = await api("/api/v1/rotations", token, {
      account: "contoso-translator",
      reason: "scheduled rotation from release 2026.11",
    });
    expect(opened.status).toBe(201);
    expect(opened.body).toMatchObject({ changeId: "CHG-1", state: "awaiting_approval" });

    // the card in the pipelines channel, as a person reads it, with the pipeline as requester
    const root = await waitUntil("the card in Slack", () => slack.roots(CHANNEL)[0]);
    const card = visibleText(root.versions[0]!.blocks);
    expect(card).toMatch(/CHG-1/);
    expect(card).toMatch(/AWAITING APPROVAL/);
    expect(card).toMatch(/Release pipeline/);
    expect(card).toMatch(/scheduled rotation from release 2026\.11/);
    expect(opened.body.threadUrl).toContain(`/archives/${CHANNEL}/p${root.ts.replace(".", "")}`);

    // the approvers are asked in Slack DMs, and approve there
    const bobDm = await waitUntil("Bob's DM", () => slack.dms("U0BOB")[0]);
    const carolDm = await waitUntil("Carol's DM", () => slack.dms("U0CAROL")[0]);
    expect(visibleText(bobDm.blocks)).toMatch(
      /Release pipeline asks you to approve CHG-1: rotate contoso-translator/,
    );
    await driver.press("U0BOB", buttonsOf(bobDm.blocks).Approve!);
    const half = await api("/api/v1/changes/CHG-1", token);
    expect(half.body.approvals).toMatchObject({ required: 2, counted: 1 });
    await driver.press("U0CAROL", buttonsOf(carolDm.blocks).Approve!);

    const done = await waitUntil(
      "the change completed, as the API says",
      async () => {
        const r = await api("/api/v1/changes/CHG-1", token);
        return r.body.state === "completed" && r;
      },
      90_000,
    );
    expect(done.body.requester).toEqual({ id: `aad:${CI}`, name: "Release pipeline" });
    expect(done.body.approvals.given.map((a: { by: { name: string } }) => a.by.name).sort()).toEqual([
      "Bob Okafor",
      "Carol Diaz",
    ]);
    await waitUntil("the completed card", () =>
      /COMPLETED/.test(visibleText(slack.roots(CHANNEL)[0]?.blocks)),
    );
    const status = await api("/api/v1/accounts/contoso-translator/status", token);
    expect(status.body).toMatchObject({ activeSlot: "key2", overdue: false, label: "SANDBOX" });
  }, 150_000);
});
