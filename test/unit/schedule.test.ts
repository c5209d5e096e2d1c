import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import YAML from "yaml";
import { KeyturnError } from "../../src/core/errors.js";
import { parseCommand } from "../../src/core/parse-command.js";
import { createPolicyBook, parsePolicy } from "../../src/core/policy.js";
import {
  calendar,
  type FleetSchedule,
  jitterOffset,
  nextStart,
  planNow,
  type ScheduleEntry,
} from "../../src/core/schedule.js";
import { windowAt, type WindowSpec } from "../../src/core/schedule-window.js";
import { renderChangeCard } from "../../src/core/render/index.js";
import { transition } from "../../src/core/workflow.js";
import { change } from "../support/change-fixture.js";

const H = 3_600_000;
const DAY = 24 * H;
const at = (iso: string) => Date.parse(iso);
const iso = (ms: number) => new Date(ms).toISOString();

const nightly: WindowSpec = {
  days: ["mon", "tue", "wed", "thu", "fri"],
  from: "02:00",
  to: "05:00",
  timezone: "UTC",
};
const fleet: FleetSchedule = { concurrency: 3, jitterSeconds: 3600 };

const entry = (i: number, over: Partial<ScheduleEntry> = {}): ScheduleEntry => ({
  accountId: `/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/acct-${i}`,
  name: `acct-${i}`,
  policy: "production",
  mode: "auto",
  window: nightly,
  due: at("2027-01-04T00:00:00Z"), // a Monday
  cadenceDays: 90,
  estimateSeconds: 20 * 60,
  keyFree: false,
  open: null,
  ...over,
});

describe("maintenance windows", () => {
  it("a window that runs past midnight belongs to the day it opens", () => {
    const w: WindowSpec = { days: ["fri"], from: "22:00", to: "04:00", timezone: "UTC" };
    // Saturday 01:00 is inside Friday's window
    expect(windowAt(w, at("2027-01-09T01:00:00Z"))).toEqual({
      start: at("2027-01-08T22:00:00Z"),
      end: at("2027-01-09T04:00:00Z"),
    });
    // Saturday 05:00: the next one is a week later
    expect(iso(windowAt(w, at("2027-01-09T05:00:00Z"))!.start)).toBe("2027-01-15T22:00:00.000Z");
    // Thursday: Friday's, not Thursday's (Thursday is not a day of the window)
    expect(iso(windowAt(w, at("2027-01-07T23:00:00Z"))!.start)).toBe("2027-01-08T22:00:00.000Z");
  });

  it("wall-clock times follow the time zone, daylight saving included", () => {
    const berlin: WindowSpec = { ...nightly, timezone: "Europe/Berlin" };
    // winter: UTC+1, summer: UTC+2
    expect(iso(windowAt(berlin, at("2027-01-05T00:30:00Z"))!.start)).toBe("2027-01-05T01:00:00.000Z");
    expect(iso(windowAt(berlin, at("2027-07-06T00:30:00Z"))!.start)).toBe("2027-07-06T00:00:00.000Z");
    const ny: WindowSpec = { days: ["sun"], from: "23:00", to: "02:00", timezone: "America/New_York" };
    const w = windowAt(ny, at("2027-03-01T00:00:00Z"))!;
    // Sunday 23:00 EST = Monday 04:00 UTC, three hours long
    expect([iso(w.start), (w.end - w.start) / H]).toEqual(["2027-03-01T04:00:00.000Z", 3]);
    // across the spring-forward night (14 March 2027, 02:00 → 03:00): Sunday 23:00 EDT = 03:00 UTC
    expect(iso(windowAt(ny, at("2027-03-14T12:00:00Z"))!.start)).toBe("2027-03-15T03:00:00.000Z");
  });
});

describe("jitter", () => {
  it("is fixed per account, within the jitter and leaving room for the rotation", () => {
    const w = windowAt(nightly, at("2027-01-04T00:00:00Z"))!;
    const offsets = Array.from({ length: 300 }, (_, i) => jitterOffset(entry(i), fleet, w));
    for (const o of offsets) expect(o).toBeGreaterThanOrEqual(0);
    for (const o of offsets) expect(o).toBeLessThan(3600_000);
    expect(new Set(offsets).size).toBeGreaterThan(290); // spread, not lumped at 02:00
    expect(Array.from({ length: 300 }, (_, i) => jitterOffset(entry(i), fleet, w))).toEqual(offsets);
    // a jitter longer than the window is cut to what leaves the rotation room to finish inside it
    const long = { ...fleet, jitterSeconds: 10 * 3600 };
    for (let i = 0; i < 300; i++)
      expect(jitterOffset(entry(i), long, w)).toBeLessThanOrEqual(3 * H - 20 * 60_000);
  });
});

describe("planNow", () => {
  const monday3am = at("2027-01-04T03:00:00Z");

  it("opens at most the free concurrency, most overdue first", () => {
    const entries = Array.from({ length: 10 }, (_, i) =>
      entry(i, { due: at("2027-01-01T00:00:00Z") - i * DAY, window: null }),
    );
    const first = planNow(entries, fleet, monday3am).map((s) => s.entry.name);
    expect(first).toEqual(["acct-9", "acct-8", "acct-7"]);
    // two scheduled changes already open: one more
    const busy = entries.map((e, i) =>
      i < 2 ? { ...e, open: { id: `CHG-${i}`, scheduled: true, exposure: false } } : e,
    );
    expect(planNow(busy, fleet, monday3am)).toHaveLength(1);
    // a person's open change holds its account but no scheduler lane
    const person = entries.map((e, i) =>
      i === 9 ? { ...e, open: { id: "CHG-9", scheduled: false, exposure: true } } : e,
    );
    expect(planNow(person, fleet, monday3am).map((s) => s.entry.name)).toEqual([
      "acct-8",
      "acct-7",
      "acct-6",
    ]);
  });

  it("starts only inside the window, after the account's slot, when the rotation still fits", () => {
    const e = entry(1);
    const w = windowAt(nightly, at("2027-01-04T00:00:00Z"))!;
    const slot = w.start + jitterOffset(e, fleet, w);
    expect(planNow([e], fleet, slot - 1000)).toEqual([]);
    expect(planNow([e], fleet, slot)).toHaveLength(1);
    // Saturday: no window
    expect(planNow([e], fleet, at("2027-01-09T03:00:00Z"))).toEqual([]);
    // 04:50: twenty minutes do not fit before 05:00 — the next window (Tuesday)
    expect(planNow([e], fleet, at("2027-01-04T04:50:00Z"))).toEqual([]);
    const next = nextStart(e, fleet, at("2027-01-04T04:50:00Z"))!;
    expect(iso(next.at).slice(0, 10)).toBe("2027-01-05");
    expect(next.at + 20 * 60_000).toBeLessThanOrEqual(next.window.end);
    // not yet due
    expect(planNow([entry(1, { due: at("2027-02-01T00:00:00Z") })], fleet, monday3am)).toEqual([]);
  });

  it("never schedules remind policies, key-free accounts, or an account with an open change", () => {
    const now = at("2027-01-04T04:00:00Z");
    const entries = [
      entry(1, { mode: "remind" }),
      entry(2, { keyFree: true }),
      entry(3, { open: { id: "CHG-1", scheduled: false, exposure: true } }),
    ];
    expect(planNow(entries, fleet, now)).toEqual([]);
    const rows = calendar(entries, fleet, now, 90);
    expect(rows.map((r) => [r.name, r.at, r.note])).toEqual([
      ["acct-1", null, "reminders only (policy production: schedule remind)"],
      ["acct-2", null, "key-free (disableLocalAuth): nothing to rotate"],
      ["acct-3", null, "CHG-1 is open (exposure): the schedule waits for it to finish"],
    ]);
  });
});

describe("calendar", () => {
  it("pushes keys that do not fit the window's lanes to the next windows", () => {
    // 12 keys due on one Monday, 2 at once, 20 min each plus a 1 h window: 6 per night at most
    const entries = Array.from({ length: 12 }, (_, i) =>
      entry(i, { window: { ...nightly, from: "02:00", to: "03:20" } }),
    );
    const rows = calendar(entries, { concurrency: 2, jitterSeconds: 0 }, at("2027-01-03T12:00:00Z"), 30);
    const days = rows.map((r) => iso(r.at!).slice(0, 10));
    expect(days.filter((d) => d === "2027-01-04")).toHaveLength(8);
    expect(days.filter((d) => d === "2027-01-05")).toHaveLength(4);
    for (const r of rows) {
      const t = iso(r.at!).slice(11, 16);
      expect(t >= "02:00" && t <= "03:00").toBe(true);
    }
  });
});

describe("many keys due on one day", () => {
  it("start a few at a time, spread over the nights that follow, never more than the concurrency at once", () => {
    const berlin: WindowSpec = { ...nightly, timezone: "Europe/Berlin" };
    const entries = Array.from({ length: 100 }, (_, i) =>
      entry(i, { window: berlin, estimateSeconds: 70 * 60 }),
    );
    const rows = calendar(entries, { concurrency: 4, jitterSeconds: 3600 }, at("2027-01-01T00:00:00Z"), 30);
    expect(rows.every((r) => r.at !== null)).toBe(true);
    const perNight = new Map<string, number>();
    for (const r of rows) {
      const w = windowAt(berlin, r.at!)!;
      expect(r.at!).toBeGreaterThanOrEqual(w.start);
      expect(r.at! + 70 * 60_000).toBeLessThanOrEqual(w.end);
      perNight.set(iso(w.start), (perNight.get(iso(w.start)) ?? 0) + 1);
    }
    // 3 h windows, 70 min rotations, 4 lanes: at most 8 a night
    expect(Math.max(...perNight.values())).toBeLessThanOrEqual(8);
    expect(perNight.size).toBeGreaterThanOrEqual(13);
    for (const r of rows) {
      const running = rows.filter((o) => o.at! <= r.at! && r.at! < o.at! + 70 * 60_000).length;
      expect(running).toBeLessThanOrEqual(4);
    }
  });
});

describe("a year of schedules over the sandbox fleet (pure planner)", () => {
  it("every key rotates on cadence inside its window, never more than the concurrency at once", () => {
    const scenario = JSON.parse(readFileSync("src/sandbox/scenarios/default.json", "utf8")) as {
      accounts: { subscription: string; resourceGroup: string; name: string; disableLocalAuth?: boolean }[];
    };
    const base = YAML.parse(readFileSync("src/sandbox/scenarios/default-policy.yaml", "utf8"));
    const book = createPolicyBook(
      parsePolicy({
        ...base,
        schedule: { concurrency: 2, jitter: "2h" },
        defaults: { ...base.defaults, schedule: "request", cadenceDays: 30, propagation: "30m", soak: "30m" },
        policies: base.policies.map((p: Record<string, unknown>) =>
          p.name === "production"
            ? {
                ...p,
                schedule: "auto",
                window: { days: ["tue", "thu"], from: "22:00", to: "03:00", timezone: "Europe/Berlin" },
              }
            : p,
        ),
      }),
    );
    const accounts = scenario.accounts.map((a) => ({
      id: `/subscriptions/${a.subscription}/resourceGroups/${a.resourceGroup}/providers/Microsoft.CognitiveServices/accounts/${a.name}`,
      subscriptionId: a.subscription,
      resourceGroup: a.resourceGroup,
      name: a.name,
      kind: "AIServices",
      location: "westeurope",
      endpoint: "",
      disableLocalAuth: a.disableLocalAuth === true,
      provisioningState: "Succeeded",
      tags: {},
    }));
    const sched = book.fleetSchedule();
    const start = at("2027-01-01T00:00:00Z");
    const end = start + 365 * DAY;
    const state = accounts.map((a) => {
      const how = book.scheduleFor(a);
      return {
        accountId: a.id,
        name: a.name,
        policy: how.policy,
        mode: how.mode,
        window: how.window,
        due: null as number | null,
        cadenceDays: book.cadenceDays(a),
        estimateSeconds: how.estimateSeconds,
        keyFree: a.disableLocalAuth,
        open: null as ScheduleEntry["open"],
        finishes: 0,
        starts: [] as number[],
      };
    });
    expect(state.map((s) => `${s.name}:${s.mode}`)).toEqual([
      "contoso-translator:auto",
      "contoso-openai:auto",
      "contoso-speech:request", // the staging policy: the defaults
      "shared-lang:auto",
      "fabrikam-ai:request",
      "contoso-keyless:request",
      "shared-lang:request",
    ]);
    let maxOpen = 0;
    for (let t = start; t < end; t += 5 * 60_000) {
      for (const s of state)
        if (s.open && s.finishes <= t) {
          s.open = null;
          s.due = s.finishes + s.cadenceDays * DAY;
        }
      for (const p of planNow(state, sched, t)) {
        const s = state.find((x) => x.accountId === p.entry.accountId)!;
        s.open = { id: "x", scheduled: true, exposure: false };
        s.finishes = t + s.estimateSeconds * 1000;
        s.starts.push(t);
        // inside the window, and the whole rotation too
        if (s.window) {
          const w = windowAt(s.window, t)!;
          expect(t).toBeGreaterThanOrEqual(w.start);
          expect(s.finishes).toBeLessThanOrEqual(w.end);
        }
      }
      maxOpen = Math.max(maxOpen, state.filter((s) => s.open).length);
    }
    expect(maxOpen).toBeLessThanOrEqual(2);
    for (const s of state) {
      if (s.keyFree) {
        expect(s.starts).toEqual([]);
        continue;
      }
      // 30-day cadence: twelve or more rotations a year, never more than 30 days + the wait for a window apart
      expect(s.starts.length).toBeGreaterThanOrEqual(12);
      const maxWait = s.window ? 5 * DAY : DAY;
      for (let i = 1; i < s.starts.length; i++)
        expect(s.starts[i]! - s.starts[i - 1]!).toBeLessThanOrEqual(
          30 * DAY + s.estimateSeconds * 1000 + maxWait,
        );
    }
    // production's window: Tuesday and Thursday nights in Berlin only
    for (const s of state.filter((x) => x.policy === "production"))
      for (const t of s.starts) {
        const local = new Date(
          t + (new Date(t).getUTCMonth() >= 3 && new Date(t).getUTCMonth() <= 9 ? 2 : 1) * H,
        );
        const hour = local.getUTCHours();
        expect(hour >= 22 || hour < 3).toBe(true);
      }
  });
});

describe("policy file: schedule settings", () => {
  const base = {
    defaults: { approvers: ["bob@contoso.com", "carol@contoso.com"] },
  };
  const problems = (input: unknown): string[] => {
    try {
      parsePolicy(input);
      return [];
    } catch (e) {
      return ((e as KeyturnError).details as { problems: string[] }).problems;
    }
  };

  it("reads a schedule, a window and the fleet limits", () => {
    const book = createPolicyBook(
      parsePolicy({
        ...base,
        schedule: { concurrency: 3, jitter: "45m" },
        policies: [
          {
            name: "production",
            match: { resourceGroups: ["rg-prod"] },
            schedule: "auto",
            window: { days: ["Mon", "tuesday"], from: "22:30", to: "04:00", timezone: "Europe/Berlin" },
          },
        ],
      }),
    );
    expect(book.fleetSchedule()).toEqual({ concurrency: 3, jitterSeconds: 2700 });
    expect(book.schedulesAnything()).toBe(true);
    // the sandbox's policy only reminds: the scheduler does not even list the accounts
    const sandbox = parsePolicy(
      YAML.parse(readFileSync("src/sandbox/scenarios/default-policy.yaml", "utf8")),
    );
    expect(createPolicyBook(sandbox).schedulesAnything()).toBe(false);
    expect(createPolicyBook(sandbox).fleetSchedule()).toEqual({ concurrency: 2, jitterSeconds: 3600 });
    const acct = { resourceGroup: "rg-prod", name: "a", subscriptionId: "s", tags: {} } as never;
    expect(book.scheduleFor(acct)).toMatchObject({
      mode: "auto",
      policy: "production",
      window: { days: ["mon", "tue"], from: "22:30", to: "04:00", timezone: "Europe/Berlin" },
    });
    const other = { resourceGroup: "rg-dev", name: "a", subscriptionId: "s", tags: {} } as never;
    expect(book.scheduleFor(other)).toMatchObject({ mode: "remind", policy: "default", window: null });
  });

  it("names each mistake with its path and the fix", () => {
    const found = problems({
      ...base,
      schedule: "auto",
      policies: [
        {
          name: "p",
          match: { names: ["x"] },
          schedule: "sometimes",
          window: { days: ["funday"], from: "25:00", to: "5", timezone: "Mars/Olympus", form: "x" },
        },
      ],
    });
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /^schedule: expected fleet-wide schedule limits, got "auto" — write schedule: \{ concurrency: 4, jitter: 1h \} \(the mode auto, request or remind goes under defaults: or a policy\)$/,
        ),
        expect.stringMatching(
          /^policies\[0\]\.schedule: expected auto, request or remind, got "sometimes" — write schedule: auto/,
        ),
        expect.stringMatching(
          /^policies\[0\]\.window\.days\[0\]: expected a day, got "funday" — write days: \[mon, tue, wed, thu, fri\]/,
        ),
        expect.stringMatching(
          /^policies\[0\]\.window\.from: expected a time of day, got "25:00" — write from: "02:00"/,
        ),
        expect.stringMatching(
          /^policies\[0\]\.window\.to: expected a time of day, got "5" — write to: "05:00"/,
        ),
        expect.stringMatching(
          /^policies\[0\]\.window\.timezone: expected a time zone, got "Mars\/Olympus" — write timezone: UTC or an IANA name/,
        ),
        "policies[0].window.form: unknown setting — did you mean from?",
      ]),
    );
    expect(problems({ ...base, schedule: { concurrency: 0, jitter: "soon" } })).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^schedule\.concurrency: expected at least 1, got 0 — write concurrency: 4$/),
        expect.stringMatching(
          /^schedule\.jitter: expected a duration, got "soon" — write it as 90s, 5m, 4h or 1d$/,
        ),
      ]),
    );
    expect(
      problems({
        ...base,
        defaults: { ...base.defaults, window: { days: ["mon"], from: "02:00", to: "02:00" } },
      }),
    ).toEqual([expect.stringMatching(/^defaults\.window: expected a window of some length/)]);
  });
});

describe("a scheduled change in the workflow", () => {
  const submitted = (over: Parameters<typeof change>[0]) =>
    transition(change({ state: "requested", approvals: [], ...over }), {
      type: "submitted",
      at: "2027-01-04T02:10:00.000Z",
    });
  const auto = { mode: "auto" as const, policy: "production", due: "2027-01-03T00:00:00.000Z" };

  it("schedule auto is the approval: it starts with no one's click, and the card names the rule", () => {
    const r = submitted({ scheduled: auto });
    if (!r.ok) throw r.error;
    expect(r.change.state).toBe("approved");
    expect(r.effects.map((e) => e.type)).toEqual(["render", "notice", "revalidate_plan"]);
    const card = renderChangeCard(r.change);
    expect(card.fields).toContainEqual({
      label: "Schedule",
      value: "started by schedule (policy production: auto) — no approval needed",
    });
  });

  it("never for exposure, never when a person was asked for, never for request: the approvers decide", () => {
    for (const over of [
      { scheduled: auto, exposure: true },
      { scheduled: { ...auto, asksPerson: ["speech-ivr pins a version"] } },
      { scheduled: { ...auto, mode: "request" as const } },
      {},
    ]) {
      const r = submitted(over);
      if (!r.ok) throw r.error;
      expect(r.change.state).toBe("awaiting_approval");
      expect(r.effects.map((e) => e.type)).toContain("notify_approvers");
    }
  });
});

describe("the schedule command", () => {
  it("reads --days, 90 by default, and says what to type otherwise", () => {
    expect(parseCommand("schedule")).toEqual({ name: "schedule", days: 90 });
    expect(parseCommand("schedule --days 30")).toEqual({ name: "schedule", days: 30 });
    expect(() => parseCommand("schedule --days soon")).toThrow(
      /--days takes a whole number of days from 1 to 366, not "soon": e.g. schedule --days 30/,
    );
    expect(() => parseCommand("schedule contoso-translator")).toThrow(
      /Unexpected argument "contoso-translator"/,
    );
  });
});
