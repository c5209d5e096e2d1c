import { describe, expect, it } from "vitest";
import { formatDuration, parseDuration } from "../../src/core/duration.js";

describe("durations", () => {
  it.each([
    ["90s", 90],
    ["5m", 300],
    ["4h", 14400],
    ["1d", 86400],
    ["soon", null],
  ])("parses %s", (text, seconds) => expect(parseDuration(text)).toBe(seconds));

  it.each([
    [45, "45 s"],
    [300, "5 min"],
    [3599, "1 h"],
    [7170, "2 h"],
    [5400, "1 h 30 min"],
  ])("formats %d s as %s", (seconds, text) => expect(formatDuration(seconds)).toBe(text));
});
