import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  cardAction,
  cardOf,
  channelMessage,
  executes,
  FakeConnector,
  personalMessage,
} from "../fakes/bot-connector.js";
import { findSecrets, scanPaths } from "../support/scan-secrets.js";
import { simulatorKeys, spawnKeyturn, waitUntil, type RunningProgram } from "../support/spawn-keyturn.js";
import { shownOf } from "../support/teams-visible.js";

const THREAD = "19:incident@thread.tacv2;messageid=100";
let fc: FakeConnector;
let kt: RunningProgram;
let dir: string;

const send = async (
  activity: Record<string, unknown>,
): Promise<{ status: number; body: Record<string, unknown> }> => {
  const r = await fetch(`${kt.url}/api/messages`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(activity),
  });
  const text = await r.text();
  return { status: r.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "keyturn-teams-e2e-"));
  fc = await new FakeConnector().start();
  kt = await spawnKeyturn({ KEYTURN_DATA_DIR: dir, NODE_ENV: "test", KEYTURN_TEAMS_ANONYMOUS: "local" });
});

afterAll(async () => {
  await kt?.stop();
  await fc?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("a whole incident in Teams", () => {
  it("answers a personal-chat question with a card", async () => {
    for (const who of ["bob", "carol"] as const)
      expect((await send(personalMessage(fc.url, who, "help"))).status).toBe(200);
    const reply = await waitUntil("Bob's help reply", () => fc.in("a:personal-bob")[0]);
    expect(JSON.stringify(cardOf(reply.body))).toContain("rotate <account>");
    await send(personalMessage(fc.url, "erin", "status contoso-translator"));
    const status = await waitUntil("Erin's status reply", () => fc.in("a:personal-erin")[0]);
    expect(JSON.stringify(cardOf(status.body))).toContain("team-lang@contoso.com");
    // unauthenticated (the local-try switch), no identity is taken from the caller's serviceUrl
    expect(fc.memberLookups).toEqual([]);
  });

  it("runs a mention-started exposure rotation through Adaptive Card approvals to completion", async () => {
    expect(
      (
        await send(
          channelMessage(
            fc.url,
            "alice",
            'rotate contoso-translator --exposure key1 --reason "leaked in PR 123 <at>Bob</at>"',
          ),
        )
      ).status,
    ).toBe(200);
    const root = await waitUntil("the change card in the channel thread", () =>
      fc.in(THREAD).find((a) => /CHG-1 · rotate/.test(JSON.stringify(cardOf(a.body)))),
    );
    await waitUntil("Bob's proactive DM", () =>
      fc.in("a:personal-bob").find((a) => /asks you to approve CHG-1/.test(shownOf(a.body).join("\n"))),
    );
    await waitUntil("Carol's proactive DM", () =>
      fc.in("a:personal-carol").find((a) => /asks you to approve CHG-1/.test(shownOf(a.body).join("\n"))),
    );

    const actions = await waitUntil("Approve on the card", () => {
      const a = executes(cardOf(fc.in(THREAD).find((x) => x.id === root.id)?.body));
      return a["Approve › Approve"] ? a : undefined;
    });
    const approve = actions["Approve › Approve"]!;
    expect(Object.keys(actions)).toContain("Reject › Reject — submit");

    const refused = await send(cardAction(fc.url, "erin", THREAD, approve, root.id));
    expect(refused.status).toBe(200);
    expect(JSON.stringify(refused.body)).toMatch(/not an approver/);
    const bob = await send(cardAction(fc.url, "bob", THREAD, approve, root.id));
    expect(JSON.stringify(bob.body)).toMatch(/1 of 2/);
    expect((bob.body as { type?: string }).type).toBe("application/vnd.microsoft.card.adaptive");
    const carol = await send(cardAction(fc.url, "carol", THREAD, approve, root.id));
    expect(JSON.stringify(carol.body)).toMatch(/2 of 2/);

    await waitUntil(
      "the card to show COMPLETED and every step reply",
      () => {
        const card = JSON.stringify(cardOf(fc.in(THREAD).find((x) => x.id === root.id)?.body));
        return (
          /COMPLETED/.test(card) &&
          fc.in(THREAD).some((a) => /Step 8\/8 done/.test(JSON.stringify(cardOf(a.body))))
        );
      },
      120_000,
    );
    const replies = fc.in(THREAD).map((a) => JSON.stringify(cardOf(a.body)));
    expect(replies.filter((r) => /Step \d\/8 done/.test(r))).toHaveLength(8);
    expect(replies.join("\n")).toMatch(/old key → 401 \(dead\)/);
    expect(JSON.stringify(fc.activities.map((a) => a.body))).not.toContain("<at>Bob</at>");
  });

  it("an unknown card verb is answered as not implemented", async () => {
    const r = await send(cardAction(fc.url, "bob", THREAD, { verb: "other.thing", data: {} }));
    expect(JSON.stringify(r.body)).toMatch(/501|NotImplemented/);
  });

  it("malformed activities are refused and nothing changes", async () => {
    const r = await fetch(`${kt.url}/api/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{not json",
    });
    expect(r.status).toBeGreaterThanOrEqual(400);
    expect((await fetch(`${kt.url}/healthz`)).status).toBe(200);
  });

  it("no simulator key value reached Teams, the program's output or its files", async () => {
    const keys = await simulatorKeys(kt.adminUrl!, readFileSync(kt.caPath!, "utf8"));
    expect(
      findSecrets(
        [
          { name: "connector requests", text: fc.bodies.join("\n") },
          { name: "output", text: kt.output() },
        ],
        keys,
      ),
    ).toEqual([]);
    const sandboxState = join(dir, "sandbox");
    expect((await scanPaths([dir], keys)).filter((h) => !h.where.startsWith(sandboxState))).toEqual([]);
  });
});
