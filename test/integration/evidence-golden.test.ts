/**
 * A golden evidence pack from a full sandbox incident: an exposure rotation of contoso-translator
 * against the simulated tenant (real SDK clients, SQLite file), with a NEW holder planted by someone
 * else, two approvals, a permission failure that pauses the change and a resume. The pack comes from
 * the `evidence` command as an auditor asks for it, and is checked field by field against the
 * runbook's five questions (before, expected after, validation, owner, rollback) for the change and
 * each step; then compared with the golden files, times, ids, ports, hashes and fingerprints
 * normalised. `UPDATE_GOLDEN=1` rewrites the golden files.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAzurePorts } from "../../src/azure/index.js";
import type { Change } from "../../src/core/domain.js";
import type { EvidencePack, ExpectedCheck } from "../../src/core/evidence.js";
import { keyturnVersion } from "../../src/keyturn-version.js";
import { createLogger } from "../../src/log.js";
import { declareSandboxConsumers } from "../../src/runner/sandbox-consumers.js";
import { createSimulatorCredential, simulatorAzureConfig } from "../../src/sandbox/index.js";
import { findSecrets } from "../support/scan-secrets.js";
import { startSandboxEngine, users, type SandboxEngine } from "../support/sandbox-engine.js";
import { asyncStore } from "../../src/store/async-sqlite.js";

const GOLDEN = new URL("../fixtures/evidence-golden/", import.meta.url);
const OWNER = "team-lang@contoso.com";
const FP = /^sha256:[0-9a-f]{12}$/;

let kt: SandboxEngine;
let md = "";
let pack: EvidencePack;
let keys: { before: { key1: string; key2: string }; after: { key1: string; key2: string } };

/** Stable text: every run differs in times, ports, hashes, fingerprints, secret versions and traffic counts. */
export function normalise(text: string, version: string): string {
  const labels = new Map<string, string>();
  const label = (kind: string, value: string) => {
    const k = `${kind}:${value}`;
    if (!labels.has(k))
      labels.set(k, `<${kind}${[...labels.keys()].filter((x) => x.startsWith(`${kind}:`)).length + 1}>`);
    return labels.get(k)!;
  };
  let t = text
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z/g, "<time>")
    .replace(/\d{4}-\d\d-\d\d(?: \d\d:\d\d UTC)?/g, "<date>")
    .replace(/127\.0\.0\.1:\d+/g, "127.0.0.1:<port>")
    .replace(/sha256:[0-9a-f]{12}/g, (m) => `sha256:${label("fp", m)}`);
  const hashes = [...new Set(t.match(/\b[0-9a-f]{64}\b/g) ?? [])];
  for (const h of hashes) label("hash", h);
  t = t.replace(/\b[0-9a-f]{12,64}\b/g, (m) => {
    const full = hashes.find((h) => h.startsWith(m));
    if (full) return full === m ? label("hash", full) : `${label("hash", full)}…${m.length}`;
    return m.length === 32 ? label("version", m) : m.length === 16 ? label("h16-", m) : m;
  });
  return t
    .split(version)
    .join("<version>")
    .replace(/\b\d+( calls?| client errors?| consumer\(s\))\b/g, "<n>$1")
    .replace(/× \d+/g, "× <n>")
    .replace(/"(calls|clientErrors|baselineCalls|baselineClientErrors)": "?\d+"?/g, '"$1": "<n>"')
    .replace(/^(- After (?:baselineCalls|baselineClientErrors|calls|clientErrors)\b.*): \d+$/gm, "$1: <n>")
    .replace(/"(seq|eventSeq|firstBadSeq|events)": \d+/g, '"$1": <n>')
    .replace(/\(event \d+\)/g, "(event <n>)")
    .replace(/^\| \d+ \|/gm, "| <n> |")
    .replace(/Verified: \d+ events/g, "Verified: <n> events")
    .replace(/"calls": <n>|"calls": \d+/g, '"calls": <n>');
}

beforeAll(async () => {
  kt = await startSandboxEngine({ version: keyturnVersion() });
  // the platform team declared its applications before the incident, as the sandbox does at start
  await declareSandboxConsumers(asyncStore(kt.store), kt.sim.consumerSecrets, { now: () => new Date() });
  const translator = kt.sim.consumerSecrets.find((s) => s.name === "translator-key")!;
  const azure = createAzurePorts(
    simulatorAzureConfig(kt.sim),
    createSimulatorCredential(),
    createLogger({ level: "silent" }),
  );
  // someone copied the live key into a secret of their own: a NEW holder the exposure rotation excludes
  const live = await azure.accounts.listKeys(translator.accountId);
  await azure.secrets.publish({ vaultUrl: translator.vaultUrl, name: "translator-key-copy" }, live.key1, {});
  keys = { before: kt.sim.admin.currentKeys(translator.accountId), after: { key1: "", key2: "" } };

  await kt.say(users.alice, 'rotate contoso-translator --exposure --reason "key pasted in PR 123"');
  // keyturn's identity loses regenerate permission once: the change pauses, an operator resumes it
  kt.sim.admin.injectFault({
    match: { operation: "regenerateKey" },
    effect: { type: "forbidden" },
    times: 1,
  });
  for (const who of [users.bob, users.carol])
    await kt.press(who, { kind: "approve", changeId: "CHG-1", planHash: kt.change("CHG-1").plan.hash });
  const paused = await kt.waitFor("CHG-1", ["paused", "completed"]);
  expect(paused.state).toBe("paused");
  await kt.press(users.bob, { kind: "resume", changeId: "CHG-1" });
  await kt.waitFor("CHG-1", [
    "completed",
    "completed_with_findings",
    "paused",
  ] as string[] as Change["state"][]);
  keys.after = kt.sim.admin.currentKeys(translator.accountId);

  const reply = await kt.say(users.erin, "evidence CHG-1");
  md = reply.attachments!.find((a) => a.filename === "keyturn-evidence-CHG-1.md")!.content;
  pack = JSON.parse(reply.attachments!.find((a) => a.filename === "keyturn-evidence-CHG-1.json")!.content);
}, 120_000);

afterAll(async () => {
  await kt?.close();
});

const fpOf = (v: string | null | undefined) => v?.match(/sha256:[0-9a-f]{12}/)?.[0];
const check = (checks: readonly ExpectedCheck[], item: string) => {
  const c = checks.find((x) => x.item === item);
  expect(c, `a check of ${item}`).toBeDefined();
  return c!;
};

describe("the evidence pack of a full sandbox incident", () => {
  it("ran the incident: completed, both keys new, paused once and resumed", () => {
    expect(pack.change.state).toBe("completed");
    expect(keys.after.key1).not.toBe(keys.before.key1);
    expect(keys.after.key2).not.toBe(keys.before.key2);
  });

  it("answers the five questions for the change", () => {
    const r = pack.runbook.change;
    // 1. before: both fingerprints, the active slot, the secret's version
    expect(r.before.key1).toMatch(FP);
    expect(r.before.key2).toMatch(FP);
    expect(r.before["active slot"]).toBe("key1");
    expect(r.before["secret translator-key"]).toMatch(/^[0-9a-f]{32} sha256:[0-9a-f]{12}$/);
    // 2. expected after beside actual: both keys new, consumers on key2, every secret holds key2
    const k1 = check(r.expectedAfter, "key1");
    const k2 = check(r.expectedAfter, "key2");
    expect(k1).toMatchObject({ expected: `a new fingerprint (not ${r.before.key1})`, met: true });
    expect(k2).toMatchObject({ expected: `a new fingerprint (not ${r.before.key2})`, met: true });
    expect(k1.actual).not.toBe(r.before.key1);
    expect(check(r.expectedAfter, "active slot")).toMatchObject({
      expected: "key2",
      actual: "key2",
      met: true,
    });
    const secret = check(r.expectedAfter, "secret translator-key");
    expect(secret.expected).toBe(`holds key2 (${k2.actual})`);
    expect(fpOf(secret.actual)).toBe(k2.actual);
    expect(secret.met).toBe(true);
    expect(check(r.expectedAfter, "Key Vault secret translator-key-copy").expected).toMatch(
      /keeps the old key \(NEW holder, excluded\)/,
    );
    expect(r.expectedAfter.filter((c) => c.met === false)).toEqual([]);
    expect(r.actualAfter).toMatchObject({
      state: "completed",
      activeSlot: "key2",
      key1: k1.actual,
      key2: k2.actual,
    });
    // 3. validation: the dead-key proofs, the gate, the soak and the final listKeys, all passed
    expect(r.validation.map((v) => v.query.split(":")[0])).toEqual([
      "step 2",
      "step 5",
      "step 6",
      "step 7",
      "step 8",
    ]);
    expect(r.validation.every((v) => v.passed)).toBe(true);
    expect(r.validation[0]!.result).toMatch(/old key → 401 \(dead\)/);
    // 4. owner: the account's owner tag
    expect(r.owner).toBe(`${OWNER} (the account's owner tag)`);
    // 5. rollback: past the point of no return there is none
    expect(r.rollback).toBe("none: key1 is dead; consumers on key2 are unaffected");
  });

  it("answers the five questions for each step, with the expected after state derived from the plan", () => {
    const steps = pack.runbook.steps;
    expect(steps.map((s) => s.kind)).toEqual([
      "preflight",
      "regenerate_standby",
      "publish",
      "move_consumers",
      "verify_cutover",
      "regenerate_old",
      "soak",
      "complete",
    ]);
    const before = pack.runbook.change.before;
    for (const s of steps) {
      expect(s.status, `step ${s.index + 1}`).toBe("succeeded");
      expect(
        Object.keys(s.before).length + Object.keys(s.actualAfter).length,
        `step ${s.index + 1}`,
      ).toBeGreaterThan(0);
      expect(s.expectedAfter.length, `step ${s.index + 1}`).toBeGreaterThan(0);
      expect(
        s.expectedAfter.filter((c) => c.met === false),
        `step ${s.index + 1}`,
      ).toEqual([]);
      expect(s.validation.length, `step ${s.index + 1}`).toBe(1);
      expect(s.validation[0]!.passed, `step ${s.index + 1}`).toBe(true);
      expect(s.owner, `step ${s.index + 1}`).toContain(OWNER);
      expect(s.rollback, `step ${s.index + 1}`).not.toBe("");
    }
    const [preflight, standby, publish, , gate, old, soak, complete] = steps;
    expect(check(preflight!.expectedAfter, "key1")).toMatchObject({ actual: before.key1, met: true });
    // after "regenerate standby": key2 changes, key1 unchanged (read again when step 6 began)
    const newKey2 = check(standby!.expectedAfter, "key2");
    expect(newKey2).toMatchObject({ expected: expect.stringContaining(`not ${before.key2}`), met: true });
    expect(check(standby!.expectedAfter, "key1")).toMatchObject({
      expected: `unchanged: ${before.key1}`,
      actual: `${before.key1} (read at step 6)`,
      met: true,
    });
    // after publish every planned secret holds key2's fingerprint
    const pub = check(publish!.expectedAfter, "secret translator-key");
    expect(pub.expected).toBe(`a new version holding key2 (${newKey2.actual})`);
    expect(fpOf(pub.actual)).toBe(newKey2.actual);
    expect(check(publish!.expectedAfter, "Key Vault secret translator-key-copy")).toMatchObject({
      actual: "not published",
      met: true,
    });
    expect(check(gate!.expectedAfter, "client errors since publish").met).toBe(true);
    expect(check(old!.expectedAfter, "key1")).toMatchObject({ met: true });
    expect(check(old!.expectedAfter, "key2")).toMatchObject({
      expected: `unchanged: ${newKey2.actual}`,
      met: true,
    });
    expect(old!.rollback).toBe("none: key1 is dead; consumers on key2 are unaffected");
    expect(check(soak!.expectedAfter, "401s after the old key died").expected).toMatch(
      /translator-key-copy \(NEW holder, excluded\)/,
    );
    expect(check(complete!.expectedAfter, "active slot")).toMatchObject({ actual: "key2", met: true });
    expect(check(complete!.expectedAfter, "next due").met).toBe(true);
    expect(preflight!.rollback).toBe("nothing changed yet");
  });

  it("names each approval's eligibility, the keyturn version, the policy hash, and who paused and resumed it and why", () => {
    expect(pack.approvals.map((a) => [a.by.displayName, a.eligibleAsRecorded, a.forCurrentPlan])).toEqual([
      ["Bob Okafor", "group:secops", true],
      ["Carol Diaz", "group:platform", true],
    ]);
    expect(pack.approvals.every((a) => a.planHash === pack.plan.hash && a.eventSeq !== null)).toBe(true);
    expect(pack.keyturn.version).toBe(JSON.parse(readFileSync("package.json", "utf8")).version);
    expect(pack.policy).toEqual({ name: "production", hash: expect.stringMatching(/^[0-9a-f]{64}$/) });
    const history = pack.history.map((h) => [h.type, h.by, h.what]);
    expect(history).toContainEqual(["step_failed", "keyturn", "paused at step 2 (azure_permission)"]);
    expect(pack.history.find((h) => h.type === "step_failed")?.why).toMatch(/regenerate|permission/i);
    expect(history).toContainEqual([
      "resumed",
      "Bob Okafor (console:bob)",
      "resumed at step 2 (regenerate standby)",
    ]);
    expect(md).toContain(`| Owner | ${OWNER} (the account's owner tag) |`);
    expect(md).toContain(`| keyturn version | ${pack.keyturn.version} |`);
    expect(md).toContain(`| Policy hash | ${pack.policy.hash} |`);
    expect(md).toMatch(/- Bob Okafor \(console:bob\) at [^\n]*; eligible as group:secops \(event \d+\)/);
    expect(md).toMatch(
      /## Decisions and interruptions\n\n[^#]*Bob Okafor \(console:bob\): resumed at step 2/,
    );
  });

  it("labels each traffic figure with its own window, and holds no key value", () => {
    const lines = md.split("\n");
    expect(lines.filter((l) => /24 h/.test(l) && /15 min/.test(l))).toEqual([]);
    expect(md).toMatch(
      /services by ApiName, TotalCalls by ApiName in the 24 h before the inventory was taken/,
    );
    expect(md).toMatch(/After baselineCalls \(TotalCalls in the 15 min before preflight\): \d+/);
    const values = kt.sim.admin.keyValues();
    expect(values.length).toBeGreaterThan(4);
    expect(
      findSecrets(
        [
          { name: "pack.md", text: md },
          { name: "pack.json", text: JSON.stringify(pack) },
        ],
        values,
      ),
    ).toEqual([]);
  });

  it("matches the golden pack (Markdown and JSON), normalised", () => {
    const version = pack.keyturn.version!;
    // the signed checkpoint the audit log adds around the pack signs each run anew: not part of the golden
    const content: Record<string, unknown> = { ...pack };
    delete content.seal;
    const files = {
      "CHG-1.md": normalise(md.replace(/\n## Signed checkpoint\n[\s\S]*$/, ""), version).trimEnd() + "\n",
      "CHG-1.json": normalise(JSON.stringify(content, null, 2), version) + "\n",
    };
    if (process.env.UPDATE_GOLDEN) {
      mkdirSync(GOLDEN, { recursive: true });
      for (const [name, text] of Object.entries(files)) writeFileSync(new URL(name, GOLDEN), text);
    }
    for (const [name, text] of Object.entries(files)) {
      const file = new URL(name, GOLDEN);
      expect(existsSync(file), `${name}: run with UPDATE_GOLDEN=1 to create it`).toBe(true);
      expect(text).toBe(readFileSync(file, "utf8"));
    }
  });
});
