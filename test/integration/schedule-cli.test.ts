/** `keyturn schedule` on the command line: the calendar as text and as JSON, and usage errors with their exit codes. */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import YAML from "yaml";
import { runSchedule } from "../../src/cli-schedule.js";
import { openStore } from "../../src/store/open-store.js";

let dir: string;
let env: NodeJS.ProcessEnv;

async function schedule(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await runSchedule(
    args,
    { stdout: { write: (t) => void (stdout += t) }, stderr: { write: (t) => void (stderr += t) } },
    env,
  );
  return { code, stdout, stderr };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "keyturn-schedule-cli-"));
  const base = YAML.parse(readFileSync("src/sandbox/scenarios/default-policy.yaml", "utf8"));
  base.schedule = { concurrency: 1, jitter: "30m" };
  base.policies[1].schedule = "auto";
  base.policies[1].window = { days: ["tue", "thu"], from: "22:00", to: "03:00", timezone: "Europe/Berlin" };
  base.policies.push({ name: "dev", match: { names: ["fabrikam-ai"] }, schedule: "request" });
  writeFileSync(join(dir, "policy.yaml"), YAML.stringify(base));
  // keyturn's record, as `keyturn start` leaves it (no rotation yet)
  mkdirSync(join(dir, "data"), { recursive: true });
  openStore(join(dir, "data", "keyturn.db")).close();
  env = {
    KEYTURN_DATA_DIR: join(dir, "data"),
    KEYTURN_SANDBOX: "1",
    KEYTURN_POLICY_FILE: join(dir, "policy.yaml"),
  };
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("keyturn schedule", () => {
  it("--json: when each key rotates and how, one at a time, in the window; why the others will not", async () => {
    const { code, stdout, stderr } = await schedule(["--json", "--days", "30"]);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const doc = JSON.parse(stdout) as {
      concurrency: number;
      rotations: {
        account: string;
        mode: string;
        startsAt: string | null;
        note: string | null;
        window: string | null;
      }[];
    };
    expect(doc.concurrency).toBe(1);
    const rows = Object.fromEntries(doc.rotations.map((r) => [`${r.account}:${r.mode}`, r]));
    const translator = rows["contoso-translator:auto"]!;
    expect(translator.window).toBe("tue,thu 22:00–03:00 Europe/Berlin");
    expect(translator.note).toMatch(/asks the approvers first: its key holders are NEW/);
    // every start inside a Tuesday or Thursday night in Berlin, one at a time (20 min each)
    const starts = doc.rotations
      .filter((r) => r.mode === "auto" && r.startsAt)
      .map((r) => Date.parse(r.startsAt!))
      .sort((a, b) => a - b);
    expect(starts.length).toBeGreaterThanOrEqual(3);
    for (let i = 1; i < starts.length; i++)
      expect(starts[i]! - starts[i - 1]!).toBeGreaterThanOrEqual(10 * 60_000 + 10_000);
    for (const t of starts) {
      const local = new Intl.DateTimeFormat("en-GB", {
        timeZone: "Europe/Berlin",
        weekday: "short",
        hour: "2-digit",
        hourCycle: "h23",
      }).formatToParts(new Date(t));
      const hour = Number(local.find((p) => p.type === "hour")!.value);
      const day = local.find((p) => p.type === "weekday")!.value;
      expect(hour >= 22 ? ["Tue", "Thu"] : hour < 3 ? ["Wed", "Fri"] : []).toContain(day);
    }
    expect(rows["fabrikam-ai:request"]!.startsAt).not.toBeNull();
    expect(rows["contoso-keyless:remind"]!.note).toBe("key-free (disableLocalAuth): nothing to rotate");
    expect(rows["contoso-speech:remind"]!.note).toBe("reminders only (policy staging: schedule remind)");
  }, 60_000);

  it("prints the calendar as chat shows it, and refuses a bad --days with what to type", async () => {
    const text = await schedule(["--days", "14"]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/Scheduled rotations, next 14 days/);
    expect(text.stdout).toMatch(
      /contoso-translator — auto: keyturn starts it, no approval \(policy production, window tue,thu 22:00–03:00 Europe\/Berlin\)/,
    );
    expect(text.stdout).toMatch(/Will not rotate by schedule/);
    const bad = await schedule(["--days", "0", "--json"]);
    expect(bad.code).toBe(2);
    expect(JSON.parse(bad.stdout)).toEqual({
      error: {
        code: "usage",
        message:
          '--days takes a whole number of days from 1 to 366, not "0": e.g. keyturn schedule --days 30',
      },
    });
    expect(bad.stderr).toMatch(/keyturn schedule --days 30/);
  }, 60_000);
});
