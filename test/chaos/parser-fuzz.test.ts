/**
 * Whatever a person (or a paste) types, the parser answers with a Command or a KeyturnError that
 * tells them what to do: never another exception, never a hang.
 */
import { describe, expect, it } from "vitest";
import { COMMAND_HELP, parseCommand } from "../../src/core/parse-command.js";
import { ERROR_CODES, KeyturnError } from "../../src/core/errors.js";
import { seeded, size } from "../support/chaos-kit.js";

const CASES = size(200_000, 20_000);

function generator(rng: ReturnType<typeof seeded>): () => string {
  const words = [
    ...COMMAND_HELP.map((c) => c.name),
    "keyturn",
    "/keyturn",
    "audit",
    "verify",
    "contoso-translator",
    "shared-lang",
    "CHG-1",
    "CHG-0",
    "CHG-999999999999",
    "key1",
    "key2",
    "both",
    "unknown",
  ];
  const flags = [
    "--reason",
    "--exposure",
    "--kill-now",
    "--break-glass",
    "--out",
    "--resaon",
    "--",
    "---",
    "--reason=",
    "--exposure=key3",
    "-r",
    "--REASON",
  ];
  const unicode = [
    "é",
    "ü",
    "日本語",
    "🔑",
    "\u200b",
    "\u202e",
    "\ufeff",
    "ﬁ",
    "İ",
    "\ud800",
    "\udfff",
    "Ω",
    "\u0301",
    "“",
    "”",
    "‘",
    "’",
    "«",
    "»",
  ];
  const controls = [
    "\u0000",
    "\u0001",
    "\u0007",
    "\b",
    "\t",
    "\n",
    "\r",
    "\u001b[31m",
    "\u007f",
    "\u0085",
    "\u2028",
  ];
  const quotes = ['"', "'", "`", '\\"', "\\", '""', "''", "“", "”"];
  const ids = [
    "/subscriptions/00000000-0000-4000-8000-0000000000a1/resourceGroups/rg-ai-prod/providers/Microsoft.CognitiveServices/accounts/contoso-translator",
    "/subscriptions//resourceGroups/",
    "<@U0BOB>",
    "<!channel>",
    "*bold*",
    "${x}",
    "%s%n",
    "../../etc/passwd",
    "'; DROP TABLE events; --",
  ];
  const token = (): string => {
    switch (rng.int(9)) {
      case 0:
        return rng.pick(words);
      case 1:
        return rng.pick(flags);
      case 2:
        return rng.pick(unicode).repeat(1 + rng.int(3));
      case 3:
        return rng.pick(controls);
      case 4:
        return rng.pick(quotes) + rng.pick(words) + (rng.int(2) ? rng.pick(quotes) : "");
      case 5:
        return rng.pick(ids);
      case 6:
        return String.fromCharCode(...Array.from({ length: 1 + rng.int(12) }, () => rng.int(0x3000)));
      case 7:
        return `${rng.pick(flags)}${rng.pick(["=", " ", ""])}"${rng.pick(words)} ${rng.pick(unicode)}"`;
      default:
        return String(rng.int(1e9) - 5e8);
    }
  };
  return () => {
    const n = rng.int(10);
    const parts = Array.from({ length: n }, token);
    return parts.join(rng.pick([" ", "  ", "\t", "", "\n"]));
  };
}

function judge(input: string): string | null {
  try {
    const c = parseCommand(input);
    if (!c || typeof c !== "object" || typeof (c as { name?: unknown }).name !== "string")
      return `returned ${JSON.stringify(c)}`;
    if (!COMMAND_HELP.some((h) => h.name === c.name)) return `returned unknown command ${c.name}`;
    return null;
  } catch (e) {
    if (!(e instanceof KeyturnError))
      return `threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`;
    if (!(e.code in ERROR_CODES)) return `error code ${e.code} outside the closed set`;
    if (!e.userMessage || e.userMessage.trim().length < 10) return `error without a message: ${e.code}`;
    return null;
  }
}

describe("command parser fuzzing", () => {
  it(`${CASES} seeded random commands: a Command or an actionable KeyturnError`, () => {
    const rng = seeded("parser-fuzz");
    const next = generator(rng);
    const failures: { input: string; problem: string }[] = [];
    for (let i = 0; i < CASES && failures.length < 5; i++) {
      const input = next();
      const problem = judge(input);
      if (problem) failures.push({ input, problem });
    }
    expect(failures).toEqual([]);
  });

  it("huge, control-only and pathological inputs answer quickly", () => {
    const rng = seeded("parser-fuzz-huge");
    const inputs = [
      "x".repeat(100_000),
      `rotate contoso-translator --reason "${"a".repeat(100_000)}"`,
      `rotate contoso-translator --reason "${"🔑".repeat(30_000)}"`,
      '"'.repeat(100_000),
      "--".repeat(50_000),
      " ".repeat(100_000) + "help",
      "\u0000".repeat(100_000),
      Array.from({ length: 100_000 }, () => String.fromCharCode(rng.int(0x10000))).join(""),
      "rotate " + "contoso-translator ".repeat(200),
      `rotate contoso-translator --reason "${'\\"'.repeat(1000)}"`,
    ];
    for (const input of inputs) {
      const t0 = performance.now();
      expect(judge(input), input.slice(0, 40)).toBeNull();
      expect(performance.now() - t0, `${input.slice(0, 40)}… took too long`).toBeLessThan(1000);
    }
    // a long command is refused with the limit named, not cut silently
    expect(() => parseCommand(`rotate contoso-translator --reason "${"a".repeat(100_000)}"`)).toThrow(
      /at most/,
    );
  });
});
