import { describe, expect, it } from "vitest";
import { isKeyturnError } from "../../src/core/errors.js";
import { parseCommand } from "../../src/core/parse-command.js";

describe("command parser", () => {
  it.each([
    ["", { name: "help" }],
    ["help rotate", { name: "help", topic: "rotate" }],
    ["status contoso-translator", { name: "status", account: "contoso-translator" }],
    ["/keyturn owner contoso-openai", { name: "owner", account: "contoso-openai" }],
    ["keyturn list --overdue", { name: "list", overdue: true }],
    ["list", { name: "list", overdue: false }],
    [
      'rotate contoso-translator --reason "leaked in PR 123"',
      {
        name: "rotate",
        account: "contoso-translator",
        reason: "leaked in PR 123",
        exposure: false,
        leakedSlot: null,
        killNow: false,
        breakGlass: false,
      },
    ],
    [
      'rotate contoso-translator --exposure --reason "x y"',
      {
        name: "rotate",
        account: "contoso-translator",
        reason: "x y",
        exposure: true,
        leakedSlot: "unknown",
        killNow: false,
        breakGlass: false,
      },
    ],
    [
      "rotate contoso-translator --exposure KEY2 --reason=pasted",
      {
        name: "rotate",
        account: "contoso-translator",
        reason: "pasted",
        exposure: true,
        leakedSlot: "key2",
        killNow: false,
        breakGlass: false,
      },
    ],
    [
      "rotate contoso-translator --exposure key1 --kill-now --break-glass --reason “smart quotes”",
      {
        name: "rotate",
        account: "contoso-translator",
        reason: "smart quotes",
        exposure: true,
        leakedSlot: "key1",
        killNow: true,
        breakGlass: true,
      },
    ],
    ['reject CHG-2 --reason="not today"', { name: "reject", changeId: "CHG-2", reason: "not today" }],
    ["approve chg-42", { name: "approve", changeId: "CHG-42" }],
    ["approve 7", { name: "approve", changeId: "CHG-7" }],
    ["reject CHG-3 --reason 'wrong account'", { name: "reject", changeId: "CHG-3", reason: "wrong account" }],
    ["cancel CHG-3", { name: "cancel", changeId: "CHG-3" }],
    [
      'waive CHG-3 speech-ivr --reason "IVR retired"',
      { name: "waive", changeId: "CHG-3", consumer: "speech-ivr", reason: "IVR retired" },
    ],
    ["audit verify", { name: "verify" }],
    [
      "consumer add contoso-translator batch-job --owner team@contoso.com --secret https://kv.vault.azure.net/secrets/k --reload versionless",
      {
        name: "consumer",
        op: "add",
        account: "contoso-translator",
        consumer: "batch-job",
        owner: "team@contoso.com",
        secret: "https://kv.vault.azure.net/secrets/k",
        reload: "versionless",
      },
    ],
    [
      "status /subscriptions/s1/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/a1",
      {
        name: "status",
        account: "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/a1",
      },
    ],
    ["resume CHG-9", { name: "resume", changeId: "CHG-9" }],
    ["rollback chg9", { name: "rollback", changeId: "CHG-9" }],
    ["evidence 0012", { name: "evidence", changeId: "CHG-12" }],
    ["history contoso-openai", { name: "history", account: "contoso-openai" }],
    ["inventory shared-lang", { name: "inventory", account: "shared-lang" }],
    ["VERIFY", { name: "verify" }],
    ['cancel 3 --reason="not today"', { name: "cancel", changeId: "CHG-3", reason: "not today" }],
    [
      "consumer remove contoso-translator batch-job",
      { name: "consumer", op: "remove", account: "contoso-translator", consumer: "batch-job" },
    ],
    [
      'rotate contoso-translator --reason "she said \\"leaked\\" twice"',
      {
        name: "rotate",
        account: "contoso-translator",
        reason: 'she said "leaked" twice',
        exposure: false,
        leakedSlot: null,
        killNow: false,
        breakGlass: false,
      },
    ],
    [
      "rotate contoso-translator --reason ‘single smart’ --exposure",
      {
        name: "rotate",
        account: "contoso-translator",
        reason: "single smart",
        exposure: true,
        leakedSlot: "unknown",
        killNow: false,
        breakGlass: false,
      },
    ],
  ])("%s", (text, expected) => {
    expect(parseCommand(text)).toEqual(expected);
  });

  it.each([
    [
      'rotate contoso-translator --resaon "x"',
      "unknown_flag",
      /unknown flag --resaon — did you mean --reason\?/,
    ],
    ["rotat contoso-translator", "unknown_command", /Did you mean rotate\?/],
    ["frobnicate", "unknown_command", /Type `help`/],
    ["rotate contoso-translator", "missing_argument", /Give a reason: --reason/],
    ['rotate --reason "x"', "missing_argument", /Name the account/],
    ['rotate contoso-translator --reason "unterminated', "malformed_command", /Unterminated quote/],
    [
      "rotate contoso-translator --reason leaked in PR",
      "malformed_command",
      /Unexpected argument "in".*quote a reason/,
    ],
    ['rotate contoso-translator --exposure key3 --reason "x"', "malformed_command", /key1, key2 or unknown/],
    [
      'rotate contoso-translator --kill-now --reason "x"',
      "malformed_command",
      /--kill-now needs the leaked key/,
    ],
    ['rotate contoso-translator --reason "a" --reason "b"', "malformed_command", /given twice/],
    ["approve change-one", "malformed_command", /write it as CHG-42/],
    ["reject CHG-1", "missing_argument", /reason/],
    ["status <!channel>", "malformed_command", /not an account name/],
    ["x".repeat(5000), "malformed_command", /at most 4000/],
    [
      `rotate contoso-translator --reason "${"r".repeat(501)}"`,
      "malformed_command",
      /501 characters; keep it under 500/,
    ],
    ['rotate contoso-translator --reason ""', "missing_argument", /The reason is empty/],
    ["approve CHG-1 CHG-2", "malformed_command", /Unexpected argument "CHG-2"/],
    ["list --overdue=yes", "malformed_command", /--overdue takes no value/],
    ["list --all", "unknown_flag", /unknown flag --all — list takes --overdue/],
    ["approve CHG-1 --reason x", "unknown_flag", /unknown flag --reason — approve takes no flags/],
    ["waive CHG-1 --reason x", "missing_argument", /Name the consumer to waive/],
    [
      "consumer add contoso-translator job --reload sometimes",
      "malformed_command",
      /--reload takes versionless, refreshable, pinned, manual/,
    ],
    ["consumer rename a b", "missing_argument", /Say add or remove/],
    ["status", "missing_argument", /Usage: status <account>/],
  ])("%s → %s", (text, code, message) => {
    try {
      parseCommand(text);
      expect.unreachable("should have thrown");
    } catch (e) {
      expect(isKeyturnError(e)).toBe(true);
      if (isKeyturnError(e)) {
        expect(e.code).toBe(code);
        expect(e.userMessage).toMatch(message);
      }
    }
  });

  it("shows the usage line with every argument error", () => {
    expect(() => parseCommand("reject CHG-1")).toThrow(/Usage: reject <CHG> --reason/);
    expect(() => parseCommand('keyturn reject CHG-1 --reason "oops')).toThrow(
      /Unterminated quote starting at character 31: close it with "\.\nUsage: reject <CHG> --reason/,
    );
    expect(() => parseCommand(`rotate a --reason ${"x".repeat(4000)}`)).toThrow(
      /at most 4000\.\nUsage: rotate <account>/,
    );
    expect(() => parseCommand("bogus 'x")).toThrow(
      /Unterminated quote.*\nType `help` for the list of commands\./,
    );
  });

  it("strips control characters", () => {
    expect(parseCommand("status\u0000 contoso-translator\u0007")).toEqual({
      name: "status",
      account: "contoso-translator",
    });
  });
});
