/** The fleet report's rules: risk order, key-free readiness, pipeline conditions, and files a spreadsheet or a Markdown viewer cannot be tricked by. */
import { describe, expect, it } from "vitest";
import type { Account, AccountStatus, Change, Consumer, Inventory } from "../../src/core/domain.js";
import { parseCommand } from "../../src/core/parse-command.js";
import { failures, reportRow, sortRows, summarise, type ReportInput } from "../../src/core/report.js";
import {
  CSV_COLUMNS,
  csvCell,
  reportCsv,
  reportMarkdown,
  type ReportDocument,
} from "../../src/core/report-format.js";

const NOW = new Date("2026-11-30T12:00:00.000Z");
const DAY = 86_400_000;

function account(name: string, over: Partial<Account> = {}): Account {
  return {
    id: `/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/${name}`,
    subscriptionId: "s",
    resourceGroup: "rg",
    name,
    kind: "OpenAI",
    location: "westeurope",
    endpoint: `https://${name}.example`,
    disableLocalAuth: false,
    provisioningState: "Succeeded",
    tags: {},
    ...over,
  };
}

const secret = (name: string, known: boolean): Consumer => ({
  id: `kv:vault/${name}`,
  name: `Key Vault secret ${name}`,
  source: "keyvault-secret",
  slot: "key1",
  reload: "versionless",
  secret: { vaultUrl: "https://vault.vault.azure.net", name },
  known,
  firstSeen: { createdAt: "2026-11-01T00:00:00.000Z", createdBy: null },
  evidence: "its current version holds key1",
});

const caller = (who: string): Consumer => ({
  id: `caller:${who}`,
  name: who,
  source: "listkeys-caller",
  slot: "unknown",
  reload: "unknown",
  evidence: "called listKeys on 2026-11-10 from 198.51.100.20: may hold an unmanaged copy",
});

interface Shape {
  dueInDays?: number | null; // null: never rotated
  consumers?: Consumer[];
  calls?: number;
  unseen?: string[];
  exposure?: Change["state"];
  keyFree?: boolean;
}

function input(name: string, s: Shape = {}): ReportInput {
  const a = account(name, { disableLocalAuth: !!s.keyFree });
  const due = s.dueInDays === undefined ? 30 : s.dueInDays;
  const nextDue = due === null ? null : new Date(NOW.getTime() + due * DAY).toISOString();
  const inventory: Inventory = {
    accountId: a.id,
    takenAt: NOW.toISOString(),
    keyFree: !!s.keyFree,
    fingerprints: null,
    activeSlot: "key1",
    consumers: s.consumers ?? [],
    services: s.calls ? [{ apiName: "ChatCompletions", calls: s.calls }] : [],
    unseen: s.unseen ?? [],
  };
  const status: AccountStatus = {
    account: a,
    owner: "team@contoso.com",
    ownerSource: "tag",
    environment: "production",
    activeSlot: "key1",
    storedIn: [],
    lastRotation:
      nextDue === null
        ? null
        : {
            at: new Date(Date.parse(nextDue) - 90 * DAY).toISOString(),
            by: "Alice",
            source: "keyturn",
            changeId: "CHG-1",
          },
    nextDue,
    overdue: !s.keyFree && (nextDue === null || Date.parse(nextDue) < NOW.getTime()),
    cadenceDays: 90,
    localAuthAllowed: !s.keyFree,
    consumers: inventory.consumers,
    openChangeId: null,
    couldDisableLocalAuth: false,
  };
  const changes = s.exposure
    ? [{ id: "CHG-9", exposure: true, state: s.exposure, createdAt: NOW.toISOString() } as unknown as Change]
    : [];
  return { account: a, shortName: name, status, inventory, changes };
}

describe("risk order", () => {
  it("exposed and overdue first, then exposed, overdue, NEW holders, listKeys callers, unreadable sources, the rest; key-free last", () => {
    const rows = [
      input("keyless", { keyFree: true }),
      input("quiet", { dueInDays: 40 }),
      input("unreadable", { unseen: ["Key Vault secrets: 403"] }),
      input("callers", { consumers: [caller("jenkins@contoso.com")] }),
      input("new-holder", { consumers: [secret("copy", false)] }),
      input("overdue", { dueInDays: -3 }),
      input("exposed", { exposure: "awaiting_approval" }),
      input("exposed-overdue", { dueInDays: -1, exposure: "cancelled" }),
      input("quieter", { dueInDays: 80 }),
    ].map(reportRow);
    expect(sortRows(rows).map((r) => r.account.shortName)).toEqual([
      "exposed-overdue",
      "exposed",
      "overdue",
      "new-holder",
      "callers",
      "unreadable",
      "quiet", // due sooner than quieter
      "quieter",
      "keyless",
    ]);
    expect(sortRows(rows, "name")[0]!.account.shortName).toBe("callers");
    expect(
      sortRows(rows, "due")
        .map((r) => r.account.shortName)
        .slice(0, 2),
    ).toEqual(["overdue", "exposed-overdue"]);
    expect(sortRows(rows, "due").at(-1)!.account.shortName).toBe("keyless");
  });

  it("an exposure a completed rotation dealt with is no longer a risk; one that ended without rotating still is", () => {
    expect(reportRow(input("done", { exposure: "completed" })).exposure).toBeNull();
    const cancelled = reportRow(input("left", { exposure: "rolled_back" }));
    expect(cancelled.exposure).toEqual({ changeId: "CHG-9", state: "rolled_back", open: false });
    expect(cancelled.risk.level).toBe("critical");
    expect(cancelled.risk.reasons[0]).toMatch(/ended rolled back: the leaked key may still work/);
  });
});

describe("key-free readiness", () => {
  it("ready only when no holder, no listKeys caller and no traffic of unknown authentication remain", () => {
    expect(reportRow(input("idle")).keyFree.state).toBe("ready");
    const held = reportRow(
      input("held", { consumers: [secret("app-key", true), caller("ops@contoso.com")] }),
    );
    expect(held.keyFree.state).toBe("not-ready");
    expect(held.keyFree.stillUsesKeys).toEqual([
      "Key Vault secret app-key in vault",
      "ops@contoso.com (called listKeys on 2026-11-10)",
    ]);
    // traffic, but whether by key or Entra token is not measured: cannot be known, and says why
    const busy = reportRow(input("busy", { calls: 120 }));
    expect(busy.keyFree.state).toBe("cannot-be-known");
    expect(busy.keyFree.cannotBeKnown).toEqual([
      "120 call(s) in 24 h: whether by key or by Entra token is not measured",
    ]);
    expect(
      reportRow({
        ...input("measured", { calls: 120 }),
        keyAuthTraffic: { state: "measured", days: 7, keyCalls: 0, tokenCalls: 120, source: "test" },
      }).keyFree.state,
    ).toBe("ready");
    expect(
      reportRow({
        ...input("keyed", { calls: 120 }),
        keyAuthTraffic: { state: "measured", days: 7, keyCalls: 5, tokenCalls: 115, source: "test" },
      }).keyFree.stillUsesKeys,
    ).toEqual(["5 key-authenticated call(s) in 7 days"]);
    const blind = reportRow(input("blind", { unseen: ["Activity Log (listKeys callers, 90 days): 403"] }));
    expect(blind.keyFree.state).toBe("cannot-be-known");
    expect(blind.listKeysCallers).toBeNull();
    const noInventory = reportRow({
      ...input("denied"),
      inventory: null,
      inventoryError: "keyturn lacks listKeys",
    });
    expect(noInventory.keyFree.state).toBe("cannot-be-known");
    expect(noInventory.knownHolders).toBeNull();
    expect(reportRow(input("keyless", { keyFree: true })).keyFree.state).toBe("key-free");
  });
});

describe("the report command in chat", () => {
  it("reads report [--sort risk|name|due], risk by default, and names a wrong sort with the usage", () => {
    expect(parseCommand("report")).toEqual({ name: "report", sort: "risk" });
    expect(parseCommand("/keyturn report --sort DUE")).toEqual({ name: "report", sort: "due" });
    expect(() => parseCommand("report --sort owner")).toThrow(
      /--sort takes risk, name or due[\s\S]*Usage: report/,
    );
    expect(() => parseCommand("report contoso-openai")).toThrow(/Unexpected argument "contoso-openai"/);
  });
});

describe("pipeline conditions", () => {
  it("names the accounts each condition holds for, and nothing for a condition that does not hold", () => {
    const rows = sortRows(
      [
        input("late", { dueInDays: -2 }),
        input("copied", { consumers: [secret("copy", false)] }),
        input("keyless", { keyFree: true }),
      ].map(reportRow),
    );
    expect(failures(rows, ["overdue", "new-holders", "local-auth", "exposed"])).toEqual([
      { condition: "overdue", accounts: ["late"] },
      { condition: "new-holders", accounts: ["copied"] },
      { condition: "local-auth", accounts: ["late", "copied"] },
    ]);
    expect(failures(rows, [])).toEqual([]);
    expect(summarise(rows)).toMatchObject({
      accounts: 3,
      overdue: 1,
      newHolders: 1,
      keyFree: 1,
      localAuthAllowed: 2,
    });
  });
});

describe("files that cannot be turned against their reader", () => {
  it("quotes CSV fields per RFC 4180 and never lets a cell start a formula", () => {
    expect(csvCell("plain")).toBe("plain");
    expect(csvCell("a, b")).toBe('"a, b"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell("two\nlines")).toBe('"two\nlines"');
    expect(csvCell('=HYPERLINK("http://evil")')).toBe('"\'=HYPERLINK(""http://evil"")"');
    expect(csvCell("+1")).toBe("'+1");
    expect(csvCell("-2")).toBe("'-2");
    expect(csvCell("@SUM(A1)")).toBe("'@SUM(A1)");
    expect(csvCell("\tcmd")).toBe("'\tcmd");
    expect(csvCell(null)).toBe("");
    expect(csvCell(false)).toBe("false");
  });

  it("an owner tag written to attack the reader stays text in CSV and Markdown", () => {
    const evil = input("evil");
    const row = reportRow({
      ...evil,
      status: { ...evil.status, owner: '=cmd|" /C calc"!A0\r\n| <img src=x onerror=alert(1)>' },
    });
    const doc: ReportDocument = {
      generatedAt: NOW.toISOString(),
      sort: "risk",
      summary: summarise([row]),
      rows: [row],
    };
    const csv = reportCsv(doc);
    // read back as a spreadsheet reads RFC 4180: one record besides the header, the owner whole, as text
    const records = parseCsv(csv);
    expect(records).toHaveLength(2);
    expect(records[1]).toHaveLength(CSV_COLUMNS.length);
    expect(records[1]![CSV_COLUMNS.indexOf("owner")]).toBe(
      '\'=cmd|" /C calc"!A0\r\n| <img src=x onerror=alert(1)>',
    );
    const md = reportMarkdown(doc);
    expect(md).not.toContain("<img");
    expect(md).toContain("&lt;img src=x onerror=alert(1)&gt;");
    expect(md).toMatch(/- \*\*Owner\*\*: =cmd\\\|" \/C calc"!A0 \\\| &lt;img/);
  });
});

/** RFC 4180 as a spreadsheet reads it: quoted fields may hold commas, doubled quotes and line breaks. */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let field = "";
  let record: string[] = [];
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") {
      record.push(field);
      field = "";
    } else if (ch === "\r" && text[i + 1] === "\n") {
      record.push(field);
      records.push(record);
      record = [];
      field = "";
      i++;
    } else field += ch;
  }
  expect(quoted, "an unterminated quote").toBe(false);
  expect(field === "" && record.length === 0, "the file ends with CRLF").toBe(true);
  return records;
}
