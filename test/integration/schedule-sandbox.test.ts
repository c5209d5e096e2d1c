/**
 * Scheduled rotation end to end: the real engine and runner timers against the simulated tenant, with
 * keyturn's clock skipped ahead (no sleeping through days). Two cycles a month apart: the first
 * asks people (every holder is NEW before keyturn's first rotation), the second runs by itself.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Change } from "../../src/core/domain.js";
import type { Message } from "../../src/core/messages.js";
import { parsePolicy } from "../../src/core/policy.js";
import { fastPolicy, users } from "../support/sandbox-engine.js";
import { startScheduleSandbox, type ScheduleSandbox } from "../support/schedule-sandbox.js";

const DAY = 86_400_000;
const base = fastPolicy({ exposureApprovalExpiry: "4h", cadenceDays: 30 });
const policy = parsePolicy({
  ...base,
  schedule: { concurrency: 2, jitter: "30m" },
  defaults: {
    ...base.defaults,
    schedule: "remind",
    window: {
      days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
      from: "02:00",
      to: "05:00",
      timezone: "UTC",
    },
  },
  policies: [
    { ...base.policies![0]!, schedule: "auto" }, // staging: contoso-speech (a consumer pins its secret)
    { ...base.policies![1]!, schedule: "auto" }, // production: contoso-translator, contoso-openai, shared-lang
    { name: "dev", match: { names: ["fabrikam-ai"] }, schedule: "request" },
  ],
});

const visible = (m: Message): string =>
  [
    m.text,
    m.title,
    ...(m.fields ?? []).map((f) => `${f.label}: ${f.value}`),
    ...(m.sections ?? []).flatMap((s) => [s.heading ?? "", ...s.lines]),
  ].join("\n");
const hourUtc = (iso: string) => iso.slice(11, 16);
const inFlight = (c: Change) => ["approved", "running", "paused"].includes(c.state);

describe("scheduled rotation over the sandbox fleet (real engine, skipped clock)", () => {
  let kt: ScheduleSandbox;
  const day1 = new Date(Math.floor(Date.now() / DAY) * DAY + 2 * DAY);
  const at = (days: number, hhmm: string) =>
    new Date(day1.getTime() + days * DAY + Date.parse(`1970-01-01T${hhmm}:00Z`)).toISOString();
  const scheduled = () => kt.store.listChanges({ limit: 100 }).filter((c) => c.scheduled);
  const byName = (name: string, list = scheduled()) => list.filter((c) => c.accountName === name);
  let maxInFlight = 0;
  const watch = () => {
    maxInFlight = Math.max(maxInFlight, scheduled().filter(inFlight).length);
  };
  /** A minute of keyturn's time per round; the runner's own timer loop fires what is due. */
  const rounds = async (n: number, each: () => Promise<boolean>) => {
    for (let i = 0; i < n; i++) {
      kt.skipTo(new Date(kt.now().getTime() + 60_000).toISOString());
      await kt.engine.tick();
      for (let j = 0; j < 3; j++) {
        watch();
        await new Promise((r) => setTimeout(r, 30));
      }
      if (await each()) return;
    }
    throw new Error(
      `not done after ${n} rounds: ${scheduled()
        .map((c) => `${c.id} ${c.accountName} ${c.state}`)
        .join("; ")}`,
    );
  };

  beforeAll(async () => {
    kt = await startScheduleSandbox(policy);
  }, 30_000);
  afterAll(async () => kt?.close());

  it("first cycle: due keys open in the window; NEW holders and a pinned consumer make it ask people", async () => {
    kt.skipTo(at(0, "01:00"));
    await kt.engine.tick();
    expect(scheduled()).toEqual([]); // due since forever, but outside the window
    kt.skipTo(at(0, "02:35"));
    const approved = new Set<string>();
    await rounds(60, async () => {
      for (const c of scheduled()) {
        if (
          c.state !== "awaiting_approval" ||
          approved.has(c.id) ||
          c.accountName === "contoso-speech" ||
          c.accountName === "fabrikam-ai"
        )
          continue;
        // the approvers pace it, one at a time, as people would
        if (scheduled().some(inFlight)) break;
        for (const who of c.policy.approvalsRequired === 2 ? [users.bob, users.carol] : [users.bob])
          await kt.engine.service.handleAction(
            { principal: who, channel: { platform: "console", id: "rotations" } },
            { kind: "approve", changeId: c.id, planHash: c.plan.hash },
          );
        approved.add(c.id);
      }
      const done = ["contoso-translator", "contoso-openai", "shared-lang"].every((n) =>
        byName(n).some((c) => c.state === "completed"),
      );
      return done && byName("contoso-speech").length > 0 && byName("fabrikam-ai").length > 0;
    });
    const all = scheduled();
    // the key-free account and remind policies are never scheduled
    expect([...new Set(all.map((c) => c.accountName))].sort()).toEqual([
      "contoso-openai",
      "contoso-speech",
      "contoso-translator",
      "fabrikam-ai",
      "shared-lang",
    ]);
    expect(
      all.find((c) => c.accountId.includes("/rg-ai-dev/") && c.accountName === "shared-lang"),
    ).toBeUndefined();
    for (const c of all) {
      expect(c.requester.displayName).toBe("keyturn scheduler");
      expect(c.exposure).toBe(false);
      expect(hourUtc(c.createdAt) >= "02:00" && hourUtc(c.createdAt) < "05:00").toBe(true);
    }
    // auto, but every holder is NEW before keyturn's first rotation: a person decided
    const translator = byName("contoso-translator", all)[0]!;
    expect(translator.scheduled).toMatchObject({ mode: "auto", policy: "production" });
    expect(translator.scheduled!.asksPerson!.join(" ")).toMatch(/NEW key holder/);
    expect(translator.approvals.map((a) => a.by.displayName).sort()).toEqual(["Bob Okafor", "Carol Diaz"]);
    // the pinned consumer: the approvers are asked, in the thread and in their DMs
    const speech = byName("contoso-speech", all)[0]!;
    expect(speech.state).toBe("awaiting_approval");
    const thread = [...kt.chat.threads.values()].find((t) => visible(t.root).includes(speech.id))!;
    expect(visible(thread.root)).toMatch(/Schedule: schedule \(policy staging: auto\) paused for a person/);
    expect(thread.replies.map(visible).join("\n")).toMatch(
      new RegExp(
        `keyturn would have started ${speech.id} by schedule \\(policy staging: auto\\), but a person must decide first: .*speech-ivr pins`,
      ),
    );
    const dms = [...kt.chat.dms.entries()].filter(([, ms]) => ms.some((m) => visible(m).includes(speech.id)));
    expect(dms.map(([who]) => who).join(" ")).toMatch(/bob/);
    // request: opened by keyturn for its approvers, with the literal copy that will hold the cutover on its card
    const fab = byName("fabrikam-ai", all)[0]!;
    expect([fab.state, fab.scheduled?.mode, fab.approvals]).toEqual(["awaiting_approval", "request", []]);
    expect(fab.plan.notes?.join(" ")).toMatch(/BLOCKS THE CUTOVER: fabrikam-app.* holds a literal copy/);
    expect(maxInFlight).toBeLessThanOrEqual(2);
  }, 60_000);

  it("a month later: auto rotates known holders with no approval, inside the window; exposure stays with people", async () => {
    const firstCycle = new Set(scheduled().map((c) => c.id));
    // a suspected leak of contoso-openai before the window opens: a person's change, never automatic
    kt.skipTo(at(31, "01:00"));
    const leak = await kt.engine.service.handleText(
      { principal: users.alice, channel: { platform: "console", id: "incident" } },
      'rotate contoso-openai --exposure key1 --reason "pasted in a ticket"',
    );
    const exposureId = /CHG-\d+/.exec(visible(leak.message))![0];
    kt.skipTo(at(31, "02:35"));
    maxInFlight = 0;
    await rounds(60, async () => {
      const second = scheduled().filter((c) => !firstCycle.has(c.id));
      return (
        ["contoso-translator", "shared-lang"].every((n) =>
          byName(n, second).some((c) => c.state === "completed"),
        ) && ["fabrikam-ai", "contoso-speech"].every((n) => byName(n, second).length > 0)
      );
    });
    const second = scheduled().filter((c) => !firstCycle.has(c.id));
    for (const name of ["contoso-translator", "shared-lang"]) {
      const c = byName(name, second)[0]!;
      expect(c.scheduled).toEqual({ mode: "auto", policy: "production", due: expect.any(String) });
      expect(c.approvals).toEqual([]); // started by the policy's rule, not by anyone's click
      expect(c.reason).toMatch(/started by schedule \(policy production: auto\)/);
      expect(hourUtc(c.createdAt) >= "02:00" && hourUtc(c.createdAt) < "05:00").toBe(true);
      const thread = [...kt.chat.threads.values()].find((t) => visible(t.root).includes(c.id))!;
      expect(visible(thread.root)).toContain(
        "Schedule: started by schedule (policy production: auto) — no approval needed",
      );
      expect(visible(thread.root)).toContain("Requested by: keyturn scheduler");
      // the events record it: the rule that authorised it, replayable by audit verify
      const requested = kt.store.events({ changeId: c.id }).find((e) => e.type === "change_requested")!;
      expect((requested.payload as { scheduled?: unknown }).scheduled).toMatchObject({
        mode: "auto",
        policy: "production",
      });
    }
    expect(kt.store.verify().ok).toBe(true);
    expect(maxInFlight).toBeLessThanOrEqual(2);
    // the exposure change waits for its approvers; the schedule does not touch contoso-openai
    expect(kt.store.getChange(exposureId)!.state).toBe("awaiting_approval");
    expect(byName("contoso-openai", second)).toEqual([]);
    // request: opened by keyturn, the approvers only click
    const fab = byName("fabrikam-ai", second)[0]!;
    expect([fab.state, fab.scheduled?.mode]).toEqual(["awaiting_approval", "request"]);
    // the pinned consumer still asks a person (the first cycle's request expired unanswered)
    expect(byName("contoso-speech", second)[0]!.scheduled!.asksPerson!.join(" ")).toMatch(/speech-ivr pins/);

    // the calendar says what rotates when, and why not
    const reply = await kt.engine.service.handleText(
      { principal: users.erin, channel: { platform: "console", id: "incident" } },
      "schedule --days 60",
    );
    const text = visible(reply.message);
    expect(text).toMatch(/Will rotate/);
    expect(text).toMatch(
      new RegExp(
        `rg-ai-prod/shared-lang — auto: keyturn starts it, no approval \\(policy production, window every day 02:00–05:00 UTC\\)`,
      ),
    );
    expect(text).toMatch(
      new RegExp(
        `contoso-openai — auto \\(policy production\\) — ${exposureId} is open \\(exposure\\): the schedule waits for it to finish`,
      ),
    );
    expect(text).toMatch(/contoso-keyless — remind \(policy default\) — key-free/);
    expect(text).toMatch(/rg-ai-dev\/shared-lang — remind \(policy default\) — reminders only/);
  }, 60_000);

  it("eight months: every production key rotates on its 30-day cadence, in the window, never more than 2 at once (the full year runs in the planner's unit test)", async () => {
    const production = ["contoso-translator", "shared-lang", "contoso-openai"];
    maxInFlight = 0;
    // the exposure request was never approved: it expired, and contoso-openai rejoins the schedule
    for (let month = 3; month <= 8; month++) {
      const before = new Set(scheduled().map((c) => c.id));
      // the day after the keys fall due, an hour before the window
      const due = Math.max(
        ...production
          .flatMap((n) =>
            byName(n)
              .filter((c) => c.state === "completed")
              .slice(0, 1),
          )
          .map((c) => Date.parse(c.completedAt!)),
      );
      kt.skipTo(new Date(Math.floor((due + 30 * DAY) / DAY) * DAY + DAY + 3_600_000).toISOString());
      await kt.engine.tick();
      expect(
        scheduled().filter(
          (c) => !before.has(c.id) && c.accountName !== "fabrikam-ai" && c.accountName !== "contoso-speech",
        ),
      ).toEqual([]);
      kt.skipTo(new Date(kt.now().getTime() + 95 * 60_000).toISOString()); // 02:35
      await rounds(
        60,
        async () =>
          production.every((n) => byName(n).some((c) => !before.has(c.id) && c.state === "completed")) &&
          byName("contoso-speech").some((c) => !before.has(c.id)),
      );
      // three keys due, two lanes: the third started only once one of the first two had finished
      const month = production
        .map((n) => byName(n).find((c) => !before.has(c.id))!)
        .sort((x, y) => x.createdAt.localeCompare(y.createdAt));
      expect(month[2]!.createdAt >= [month[0]!, month[1]!].map((c) => c.completedAt!).sort()[0]!).toBe(true);
    }
    expect(maxInFlight).toBe(2);
    for (const name of production) {
      const done = byName(name)
        .filter((c) => c.state === "completed")
        .sort((x, y) => x.completedAt!.localeCompare(y.completedAt!));
      expect(done.length).toBe(name === "contoso-openai" ? 7 : 8);
      for (const c of done)
        expect(hourUtc(c.createdAt) >= "02:00" && hourUtc(c.createdAt) < "05:00").toBe(true);
      // on cadence: due 30 days after the last, started in the first window after that
      // (contoso-openai's second month went to the exposure change people held)
      for (let i = name === "contoso-openai" ? 2 : 1; i < done.length; i++)
        expect(Date.parse(done[i]!.createdAt) - Date.parse(done[i - 1]!.completedAt!)).toBeLessThan(32 * DAY);
      // after the first (approved by people), keyturn started every one by the policy's rule
      for (const c of done.slice(1)) expect([c.approvals.length, c.scheduled?.mode]).toEqual([0, "auto"]);
    }
    // the pinned consumer asked a person every cycle, and was never rotated past it
    const speech = byName("contoso-speech");
    expect(speech.length).toBeGreaterThanOrEqual(8);
    expect(speech.every((c) => c.state !== "completed" && c.approvals.length === 0)).toBe(true);
    // never exposure, never automatic for it
    expect(scheduled().every((c) => !c.exposure)).toBe(true);
    expect(kt.store.verify().ok).toBe(true);
  }, 120_000);
});
