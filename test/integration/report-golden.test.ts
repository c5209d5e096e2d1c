/**
 * The fleet posture report of the sandbox fleet, in all three formats, against golden files. The
 * fleet as a platform team would have it a while after adopting keyturn: the sandbox's applications
 * declared (as `npm start` does), contoso-translator rotated by keyturn, a suspected leak of
 * contoso-speech reported and still awaiting approval, everything else as the tenant was found.
 * The report is gathered in-process against the simulated tenant (real SDK clients, SQLite file)
 * with a frozen clock; dates are written relative to it, so the files are the same on every run.
 * It is gathered without the key vs Entra token traffic reader (its figures come from the diagnostic
 * logs' timing; test/integration/key-auth-traffic.test.ts covers it), so that column says "not measured".
 * `UPDATE_GOLDEN=1` rewrites them.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAzurePorts } from "../../src/azure/index.js";
import type { Change } from "../../src/core/domain.js";
import { knownHoldersOf } from "../../src/core/known-holders.js";
import { createPolicyBook } from "../../src/core/policy.js";
import { renderReport, type ReportDocument, type ReportFormat } from "../../src/core/report-format.js";
import { createLogger } from "../../src/log.js";
import { AccountDirectory } from "../../src/runner/account-directory.js";
import { Queries } from "../../src/runner/queries.js";
import { gatherReport } from "../../src/runner/report.js";
import { declareSandboxConsumers } from "../../src/runner/sandbox-consumers.js";
import { createSimulatorCredential, simulatorAzureConfig } from "../../src/sandbox/index.js";
import { findSecrets } from "../support/scan-secrets.js";
import { fastPolicy, startSandboxEngine, users, type SandboxEngine } from "../support/sandbox-engine.js";
import { asyncStore } from "../../src/store/async-sqlite.js";

const GOLDEN = new URL("../fixtures/report-golden/", import.meta.url);
const DAY = 86_400_000;

let kt: SandboxEngine;
let doc: ReportDocument;
let frozen: Date;
const files: Partial<Record<ReportFormat, string>> = {};

/** Times relative to the frozen clock, dates and the version as placeholders: the rest must not move. */
function normalise(text: string, now: Date, version: string): string {
  return text
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z/g, (iso) => {
      const d = Math.round((Date.parse(iso) - now.getTime()) / DAY);
      return `<now${d === 0 ? "" : d > 0 ? `+${d}d` : `${d}d`}>`;
    })
    .replace(/\d{4}-\d\d-\d\d(?: \d\d:\d\d UTC)?/g, "<date>")
    .split(version)
    .join("<version>");
}

beforeAll(async () => {
  // no simulated application traffic: the calls seen in 24 h are the same on every run
  kt = await startSandboxEngine({ sim: { consumers: false } });
  await declareSandboxConsumers(asyncStore(kt.store), kt.sim.consumerSecrets, { now: () => new Date() });
  await kt.say(users.alice, 'rotate contoso-translator --reason "quarterly rotation"');
  for (const who of [users.bob, users.carol])
    await kt.press(who, { kind: "approve", changeId: "CHG-1", planHash: kt.change("CHG-1").plan.hash });
  const done = await kt.waitFor("CHG-1", [
    "completed",
    "completed_with_findings",
    "paused",
  ] as Change["state"][]);
  expect(done.state).toBe("completed");
  await kt.say(users.dave, 'rotate contoso-speech --exposure unknown --reason "key seen in a pastebin"');
  expect(kt.change("CHG-2").state).toBe("awaiting_approval");

  frozen = new Date();
  const clock = { now: () => frozen };
  const azure = createAzurePorts(
    {
      ...simulatorAzureConfig(kt.sim),
      declaredConsumers: async (id) => kt.store.declaredConsumers(id),
      knownHolders: (id) => knownHoldersOf(asyncStore(kt.store), id),
    },
    createSimulatorCredential(),
    createLogger({ level: "silent" }),
  );
  doc = await gatherReport(
    {
      directory: new AccountDirectory(azure.accounts, clock),
      queries: new Queries(asyncStore(kt.store), azure, createPolicyBook(fastPolicy()), clock),
      clock,
    },
    { label: "SANDBOX", version: "9.9.9-golden" },
  );
  for (const f of ["md", "csv", "json"] as const) files[f] = renderReport(doc, f);
}, 120_000);

afterAll(async () => {
  await kt?.close();
});

describe("the fleet posture report of the sandbox fleet", () => {
  it("puts the exposed and overdue account first and the key-free one last", () => {
    const order = doc.rows.map((r) => r.account.shortName);
    expect(order[0]).toBe("contoso-speech");
    expect(doc.rows[0]!.exposure).toEqual({ changeId: "CHG-2", state: "awaiting_approval", open: true });
    expect(doc.rows[0]!.overdue).toBe(true);
    expect(order.at(-1)).toBe("contoso-keyless");
    // rotated by keyturn: not overdue, due in 90 days, holders known, below every overdue account
    const translator = doc.rows.find((r) => r.account.name === "contoso-translator")!;
    expect(translator.overdue).toBe(false);
    expect(translator.lastRotation).toMatchObject({ source: "keyturn", changeId: "CHG-1", by: "Alice Ng" });
    expect(translator.newHolders).toEqual([]);
    expect(order.indexOf("contoso-translator")).toBeGreaterThan(
      Math.max(...doc.rows.filter((r) => r.overdue).map((r) => order.indexOf(r.account.shortName))),
    );
    expect(doc.summary).toMatchObject({
      accounts: 7,
      exposed: 1,
      openIncidents: 1,
      keyFree: 1,
      keyFreeReady: 2,
      localAuthAllowed: 6,
    });
  });

  it("says where each key is stored, who holds it (known or NEW), who called listKeys, and what still uses keys", () => {
    const row = (name: string) => doc.rows.find((r) => r.account.shortName === name)!;
    const fabrikam = row("fabrikam-ai");
    expect(fabrikam.storedIn.appServiceSettings).toEqual([
      "App Service fabrikam-app, setting FABRIKAM_KEY (literal copy)",
    ]);
    expect(fabrikam.newHolders!.map((h) => h.name)).toEqual(
      expect.arrayContaining(["App Service fabrikam-app, setting FABRIKAM_KEY"]),
    );
    const openai = row("contoso-openai");
    expect(openai.listKeysCallers!.map((c) => c.caller)).toEqual(["jenkins@contoso.com"]);
    expect(openai.keyFree.state).toBe("not-ready");
    expect(openai.keyFree.stillUsesKeys.join("\n")).toMatch(/jenkins@contoso\.com \(called listKeys/);
    expect(row("rg-ai-dev/shared-lang").keyFree.state).toBe("ready");
    expect(row("contoso-keyless").keyFree.state).toBe("key-free");
    for (const r of doc.rows) expect(r.keyAuthTraffic).toEqual({ state: "not-measured" });
    expect(files.md).toContain("- **Key vs Entra token traffic**: not measured");
  });

  it("holds no key value in any format", () => {
    const values = kt.sim.admin.keyValues();
    expect(values.length).toBeGreaterThan(4);
    expect(
      findSecrets(
        Object.entries(files).map(([name, text]) => ({ name, text: text })),
        values,
      ),
    ).toEqual([]);
    expect(Object.values(files).join("\n")).not.toMatch(/sha256:[0-9a-f]{12}/);
  });

  it("matches the golden report in Markdown, CSV and JSON", () => {
    if (process.env.UPDATE_GOLDEN) mkdirSync(GOLDEN, { recursive: true });
    for (const f of ["md", "csv", "json"] as const) {
      const name = `sandbox-fleet.${f}`;
      const text = normalise(files[f]!, frozen, "9.9.9-golden");
      const file = new URL(name, GOLDEN);
      if (process.env.UPDATE_GOLDEN) writeFileSync(file, text);
      expect(existsSync(file), `${name}: run with UPDATE_GOLDEN=1 to create it`).toBe(true);
      expect(text, name).toBe(readFileSync(file, "utf8"));
    }
  });
});
