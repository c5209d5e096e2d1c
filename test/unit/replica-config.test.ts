/**
 * Settings a platform team gives keyturn for scheduled rotations and replicas: where scheduled
 * rotations post, and how long the runner's lease lasts. A wrong value names the variable and the fix.
 */
import { describe, expect, it } from "vitest";
import { readConfig } from "../../src/config/read-config.js";
import { configProblems } from "../support/config-problems.js";
import { DEFAULT_LEASE_TTL_MS, leaseTtlMs } from "../../src/runner/runner-lease.js";

const problems = configProblems;

describe("where scheduled rotations post", () => {
  it("is KEYTURN_SCHEDULE_CHANNEL when set, apart from the digest's channel", () => {
    const c = readConfig({
      KEYTURN_SCHEDULE_CHANNEL: "console:rotations",
      KEYTURN_DIGEST_CHANNEL: "console:digest",
    });
    expect(c.scheduleChannel).toEqual({ platform: "console", id: "rotations" });
    expect(c.digestChannel).toEqual({ platform: "console", id: "digest" });
    expect(readConfig({}).scheduleChannel).toBeUndefined();
  });

  it("refuses a value that names no platform, saying what it must look like", () => {
    expect(problems({ KEYTURN_SCHEDULE_CHANNEL: "C0123" }).join("\n")).toMatch(
      /KEYTURN_SCHEDULE_CHANNEL.*slack:C0123 or teams:<conversation id>/,
    );
  });
});

describe("the runner lease's time to live", () => {
  it("is 10 s unless KEYTURN_LEASE_SECONDS says otherwise", () => {
    expect(leaseTtlMs({})).toBe(DEFAULT_LEASE_TTL_MS);
    expect(DEFAULT_LEASE_TTL_MS).toBe(10_000);
    expect(leaseTtlMs({ KEYTURN_LEASE_SECONDS: "6" })).toBe(6000);
  });

  it("refuses a value a standby could not live with, naming the range", () => {
    for (const bad of ["0", "2", "301", "ten"])
      expect(() => leaseTtlMs({ KEYTURN_LEASE_SECONDS: bad })).toThrow(/KEYTURN_LEASE_SECONDS .*3 to 300/);
  });
});
