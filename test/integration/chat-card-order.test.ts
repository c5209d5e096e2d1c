/**
 * The order a person sees in a change's thread, over the real Slack gateway and the fake Slack: the card
 * never runs ahead of the step replies, and the approvers' DMs follow the card.
 */
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSlackGateway } from "../../adapters/slack/gateway.js";
import { createWebClient } from "../../adapters/slack/web-client.js";
import type { Change, StepEvidence } from "../../src/core/domain.js";
import type { Store } from "../../src/core/ports.js";
import { createLogger } from "../../src/log.js";
import { ChatOut } from "../../src/runner/chat-out.js";
import { ChatRegistry } from "../../src/runner/chat-registry.js";
import { openStore } from "../../src/store/open-store.js";
import { FakeSlack, visibleText } from "../fakes/slack-api.js";
import { buttonsOf } from "../fakes/slack-sign.js";
import { change as fixture, people, standardPlan } from "../support/change-fixture.js";
import { createTempDir, type TempDir } from "../support/temp-dir.js";
import { asyncStore } from "../../src/store/async-sqlite.js";

const CHANNEL = { platform: "slack" as const, id: "C0ORDER" };
let slack: FakeSlack;
let dir: TempDir;
let store: Store;

function newChat(): ChatOut {
  const logger = createLogger({ level: "warn", destination: new PassThrough() });
  const chats = new ChatRegistry();
  chats.register(createSlackGateway(createWebClient("xoxb-order", { apiUrl: slack.apiUrl }), logger));
  return new ChatOut(asyncStore(store), chats, logger, "SANDBOX", { retryDelaysMs: [] });
}

const done = (index: number): StepEvidence => ({
  index,
  kind: standardPlan.steps[index]!.kind,
  startedAt: "2026-11-22T09:10:00.000Z",
  finishedAt: "2026-11-22T09:10:01.000Z",
  outcome: "succeeded",
  actor: "keyturn",
  rollback: "none needed",
});

beforeAll(async () => {
  dir = createTempDir("keyturn-chat-order-");
  store = openStore(dir.file("keyturn.db"));
  slack = await new FakeSlack().start();
});

afterAll(async () => {
  await slack?.stop();
  store?.close();
  dir?.remove();
});

describe("the thread in the order it happened", () => {
  it("the card says COMPLETED only after the last step reply, and the DMs follow it", async () => {
    const chat = newChat();
    const approved = (p: typeof people.bob) => ({
      by: { platform: p.platform, id: p.id, displayName: p.displayName },
      at: "2026-11-22T09:05:00.000Z",
      planHash: standardPlan.hash,
      afterTheFact: false,
    });
    let c: Change = fixture({ id: "CHG-1", state: "awaiting_approval" });
    store.commit(c, []);
    const thread = await chat.openThread(c, CHANNEL);
    c = { ...c, thread };
    store.commit(c, []);
    chat.notifyApprovers(c.id);
    await chat.idle();
    expect(Object.keys(buttonsOf(slack.dms("U0BOB")[0]?.blocks))).toEqual(["Approve", "Reject"]);

    // the driver's effects when the last two steps finish one right after the other
    const steps = standardPlan.steps.slice(0, 7).map((s) => done(s.index));
    c = {
      ...c,
      state: "running",
      approvals: [approved(people.bob), approved(people.carol)],
      steps,
      currentStep: 7,
    };
    store.commit(c, []);
    chat.stepReply(c.id, 6);
    chat.render(c.id);
    c = { ...c, state: "completed", steps: [...steps, done(7)], completedAt: "2026-11-22T09:20:00.000Z" };
    store.commit(c, []);
    chat.stepReply(c.id, 7);
    chat.render(c.id);
    chat.notice(c.id, "CHG-1 completed: contoso-translator rotated.", "success");
    await chat.idle();

    const root = slack.roots(CHANNEL.id)[0]!;
    const replies = slack.thread(CHANNEL.id, root.ts).replies;
    const last = replies.find((r) => /^Step 8\/8 done/.test(visibleText(r.blocks)))!;
    const completed = root.versions.find((v) => /COMPLETED/.test(visibleText(v.blocks)))!;
    expect(completed.order!).toBeGreaterThan(last.versions[0]!.order!);

    for (const user of ["U0BOB", "U0CAROL"]) {
      const dm = slack.dms(user)[0]!;
      expect(visibleText(dm.blocks)).toMatch(
        /CHG-1 completed at 2026-11-22 09:20 UTC: contoso-translator rotated, approved by Bob Okafor and Carol Diaz\./,
      );
      expect(visibleText(dm.blocks)).toContain("SANDBOX");
      expect(buttonsOf(dm.blocks)).toEqual({});
    }
  });
});
