/**
 * Slack gives a slash command 3 s for its HTTP answer. This fires correctly signed slash commands
 * at once at the built program (child process, loopback) and times each answer.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakeSlack } from "../test/fakes/slack-api.js";
import { sign, slashCommand } from "../test/fakes/slack-sign.js";
import { spawnKeyturn } from "../test/support/spawn-keyturn.js";
import { elapsedMs, percentile, round } from "./stats.js";

export interface SlackAckFigures {
  readonly requests: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly non2xx: number;
  readonly replies: number;
  /** The same commands one at a time: what a single user waits for on an idle bot. */
  readonly aloneP50Ms: number;
}

export async function benchSlackAck(opts: { requests: number }): Promise<SlackAckFigures> {
  const dir = mkdtempSync(join(tmpdir(), "keyturn-bench-slack-"));
  const secret = "bench-signing-secret";
  const slack = await new FakeSlack().start();
  const kt = await spawnKeyturn({
    KEYTURN_DATA_DIR: dir,
    LOG_LEVEL: "warn",
    KEYTURN_SANDBOX: "1",
    SLACK_BOT_TOKEN: "xoxb-bench",
    SLACK_SIGNING_SECRET: secret,
    SLACK_API_URL: slack.apiUrl,
    SLACK_BOT_USER_ID: "U0KEYTURN",
    SLACK_TEAM_ID: "T0CONTOSO",
  });
  try {
    // one warm-up request so the figures are about steady state, not module loading
    const warm = slashCommand({
      user: "U0ERIN",
      channel: "C0BENCH",
      text: "help",
      responseUrl: slack.responseUrl("warm"),
    });
    await fetch(`${kt.url}/slack/events`, { method: "POST", headers: sign(secret, warm), body: warm });
    const post = async (body: string): Promise<{ ms: number; status: number }> => {
      const t0 = process.hrtime.bigint();
      const r = await fetch(`${kt.url}/slack/events`, { method: "POST", headers: sign(secret, body), body });
      await r.arrayBuffer();
      return { ms: elapsedMs(t0), status: r.status };
    };
    const users = ["U0ALICE", "U0BOB", "U0CAROL", "U0DAVE", "U0ERIN"];
    const alone: number[] = [];
    for (let i = 0; i < 20; i++) {
      const body = slashCommand({
        user: users[i % users.length]!,
        channel: "C0BENCH",
        text: i % 2 ? "help" : "status contoso-translator",
        responseUrl: slack.responseUrl(`alone${i}`),
      });
      alone.push((await post(body)).ms);
      // the reply follows the acknowledgement: wait for it so the next command meets an idle bot
      const end = Date.now() + 5_000;
      while (Date.now() < end && !slack.responses.some((r) => r.id === `alone${i}`))
        await new Promise((r) => setTimeout(r, 10));
    }
    const bodies = Array.from({ length: opts.requests }, (_, i) =>
      slashCommand({
        user: users[i % users.length]!,
        channel: "C0BENCH",
        text: i % 2 ? "help" : "status contoso-translator",
        responseUrl: slack.responseUrl(`b${i}`),
      }),
    );
    const results = await Promise.all(bodies.map(post));
    // the replies themselves follow on response_url; count what arrived within a few seconds
    const end = Date.now() + 15_000;
    while (Date.now() < end && slack.responses.filter((r) => r.id.startsWith("b")).length < opts.requests)
      await new Promise((r) => setTimeout(r, 100));
    const ms = results.map((r) => r.ms);
    return {
      requests: opts.requests,
      p50Ms: round(percentile(ms, 50)),
      p99Ms: round(percentile(ms, 99)),
      maxMs: round(Math.max(...ms)),
      non2xx: results.filter((r) => r.status < 200 || r.status > 299).length,
      replies: slack.responses.filter((r) => r.id.startsWith("b")).length,
      aloneP50Ms: round(percentile(alone, 50)),
    };
  } finally {
    await kt.stop();
    await slack.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
