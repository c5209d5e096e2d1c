/**
 * A stop (SIGTERM, Ctrl-C) while a person's command is still being answered: the answer is finished
 * before the store closes under it (it used to fail with "The database connection is not open"),
 * and a command that arrives once the stop has begun is told to come back, touching nothing.
 */
import { afterEach, describe, expect, it } from "vitest";
import { Agent, request } from "undici";
import { startSandboxEngine, users, type SandboxEngine } from "../support/sandbox-engine.js";
import { toBlocks } from "../../adapters/slack/render.js";
import type { Reply } from "../../src/core/messages.js";
import { visibleText } from "../fakes/slack-api.js";

/** What the person sees of a reply, rendered as Slack shows it. */
const visibleReplyText = (r: Reply): string => visibleText(toBlocks(r.message).blocks);

let sb: SandboxEngine | undefined;
afterEach(async () => {
  await sb?.close().catch(() => undefined);
  sb = undefined;
});

describe("stopping while a command is answered", () => {
  it("finishes the answer in flight before the store closes, and refuses what comes after", async () => {
    sb = await startSandboxEngine();
    const s = sb;
    // the account's Activity Log answers late, so the status is still working when the stop begins
    const fault = await request(`${s.sim.adminUrl}/faults`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      dispatcher: new Agent({ connect: { ca: s.sim.caPem } }),
      body: JSON.stringify({
        match: { operation: "activityLog" },
        effect: { type: "latency", ms: 1000 },
        times: 1,
      }),
    });
    expect(fault.statusCode).toBeLessThan(300);
    await fault.body.dump();

    let answered = false;
    const status = s.say(users.alice, "status contoso-translator").then((r) => {
      answered = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 200));
    expect(answered).toBe(false);

    await s.engine.stop();
    // the stop waited for the answer, which is the account's status and not an internal error
    expect(answered).toBe(true);
    const shown = visibleReplyText(await status);
    expect(shown).toMatch(/contoso-translator/);
    expect(shown).not.toMatch(/internal|correlation/i);

    // the store is closed now, as the process does next: a late command must not reach it
    s.store.close();
    const late = visibleReplyText(await s.say(users.alice, "status contoso-translator"));
    expect(late).toMatch(/stopping/i);
    expect(late).toMatch(/again/i);
    expect(s.logText()).not.toMatch(/database connection is not open/);
    sb = undefined;
    await s.sim.close();
  }, 60_000);
});
