/**
 * Approved holders only, against the built program over real HTTP (signed Slack requests, the
 * sandbox tenant): a secret planted with the leaked key before an exposure rotation is not handed
 * the new key, and a junk secret tagged for an account does not wedge a break-glass rotation.
 */
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import YAML from "yaml";
import { loadScenario } from "../../src/sandbox/scenario.js";
import { FakeSlack } from "../fakes/slack-api.js";
import { buttonsOf } from "../fakes/slack-sign.js";
import { SlackDriver, slackSandboxEnv } from "../support/slack-e2e.js";
import { spawnKeyturn, waitUntil, type RunningProgram } from "../support/spawn-keyturn.js";

const SECRET = "e2e-signing-secret-" + Math.random().toString(36).slice(2);
const CHANNEL = "C0INCIDENT";
const PROD = "00000000-0000-4000-8000-0000000000a1";
const accountId = (name: string) =>
  `/subscriptions/${PROD}/resourceGroups/rg-ai-prod/providers/Microsoft.CognitiveServices/accounts/${name}`;
const PLANTED = "translator-key-copy";
const JUNK = "openai-junk";

let slack: FakeSlack;
let kt: RunningProgram;
let dir: string;

const fingerprint = (v: string) => "sha256:" + createHash("sha256").update(v).digest("hex").slice(0, 12);

interface SimState {
  accounts: { id: string; keys: { key1: string; key2: string } }[];
  vaults: Record<string, Record<string, { value: string; version: string }[]>>;
}
/** The sandbox tenant as the simulator persisted it (values stay in this process, compared by fingerprint). */
const simState = (): SimState =>
  JSON.parse(readFileSync(join(dir, "sandbox", "tenant.json"), "utf8")) as SimState;
const liveFingerprints = (name: string) => {
  const a = simState().accounts.find((x) => x.id.toLowerCase() === accountId(name).toLowerCase())!;
  return [fingerprint(a.keys.key1), fingerprint(a.keys.key2)];
};
const secretFingerprint = (name: string) =>
  fingerprint(simState().vaults["contoso-kv"]![name]!.at(-1)!.value);
const secretVersions = (name: string) => simState().vaults["contoso-kv"]![name]!.length;

let driver: SlackDriver;
const command = async (user: string, text: string) => JSON.stringify(await driver.command(user, text));
const press = async (user: string, button: { action_id: string; value: string }) =>
  JSON.stringify(await driver.press(user, button));

/** The thread whose card names this change, once its card says `state`. */
async function cardOf(changeId: string, state: RegExp, timeoutMs = 90_000) {
  return waitUntil(
    `${changeId}'s card to say ${state}`,
    () => {
      for (const root of slack.roots(CHANNEL)) {
        const t = slack.thread(CHANNEL, root.ts);
        const card = JSON.stringify(t.root?.blocks);
        if (card.includes(changeId) && state.test(card)) return { root, card, thread: t };
      }
      return undefined;
    },
    timeoutMs,
  );
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "keyturn-holders-e2e-"));
  const scenario = loadScenario();
  const kv = scenario.vaults.find((v) => v.name === "contoso-kv")!;
  // planted before the incident by someone holding the leaked key1 (and vault write)
  kv.secrets.push({ name: PLANTED, value: `$key:${PROD}/contoso-translator/key1`, tags: {} });
  // a secret that claims to belong to contoso-openai and holds no key of it
  kv.secrets.push({
    name: JUNK,
    value: "not-a-key-of-anything",
    tags: { "keyturn-account": accountId("contoso-openai") },
  });
  mkdirSync(join(dir, "scenario"));
  const scenarioFile = join(dir, "scenario", "scenario.json");
  writeFileSync(scenarioFile, JSON.stringify(scenario));
  // the sandbox policy, with the on-call responder named by Slack id for break-glass
  const policy = YAML.parse(
    readFileSync(new URL("../../src/sandbox/scenarios/default-policy.yaml", import.meta.url), "utf8"),
  ) as { defaults: { breakGlass?: string[] } };
  policy.defaults.breakGlass = [...(policy.defaults.breakGlass ?? []), "slack:U0DAVE"];
  const policyFile = join(dir, "scenario", "policy.yaml");
  writeFileSync(policyFile, YAML.stringify(policy));
  slack = await new FakeSlack().start();
  driver = new SlackDriver(() => kt, slack, SECRET, CHANNEL);
  kt = await spawnKeyturn({
    KEYTURN_DATA_DIR: dir,
    KEYTURN_SANDBOX_SCENARIO: scenarioFile,
    KEYTURN_POLICY_FILE: policyFile,
    ...slackSandboxEnv(slack, SECRET),
  });
});

afterAll(async () => {
  await kt?.stop();
  await slack?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("approved holders only", () => {
  it("a secret planted with the leaked key ends the exposure rotation holding a dead key, named as an excluded NEW holder", async () => {
    const leaked = secretFingerprint(PLANTED);
    expect(liveFingerprints("contoso-translator")[0]).toBe(leaked);

    // an approver declares the secret the translator app really reads: a known holder
    const status = await command("U0BOB", "status contoso-translator");
    const vault = /(https:\/\/[^/"\s]+)\/secrets\/translator-key\b/.exec(status)?.[1];
    expect(vault, status).toBeDefined();
    expect(
      await command(
        "U0BOB",
        `consumer add contoso-translator translator-web-secret --secret ${vault}/secrets/translator-key`,
      ),
    ).toMatch(/Declared consumer translator-web-secret/);

    expect(
      await command("U0ALICE", 'rotate contoso-translator --exposure key1 --reason "key1 leaked in PR 7"'),
    ).toMatch(/CHG-1/);
    const asked = await cardOf("CHG-1", /AWAITING APPROVAL/);
    expect(asked.card).toMatch(new RegExp(`secret ${PLANTED} [^"\\\\]*NEW \\(created \\d{4}-\\d\\d-\\d\\d`));
    expect(asked.card).toMatch(new RegExp(`secret ${PLANTED} [^"\\\\]*EXCLUDED, receives nothing`));
    expect(asked.card).not.toMatch(/secret translator-key — [^"\\\\]*NEW/);

    const buttons = buttonsOf(asked.thread.root?.blocks);
    expect(await press("U0BOB", buttons.Approve!)).toMatch(/1 of 2/);
    expect(await press("U0CAROL", buttons.Approve!)).toMatch(/2 of 2/);
    const done = await cardOf("CHG-1", /COMPLETED/, 120_000);
    expect(done.card).toMatch(new RegExp(`secret ${PLANTED} [^"\\\\]*EXCLUDED`));

    // the planted copy still holds the leaked key, which is dead; the declared secret holds the live one
    const live = liveFingerprints("contoso-translator");
    expect(live).not.toContain(leaked);
    expect(secretFingerprint(PLANTED)).toBe(leaked);
    expect(secretVersions(PLANTED)).toBe(1);
    expect(live).toContain(secretFingerprint("translator-key"));

    expect(await command("U0BOB", "evidence CHG-1")).toMatch(/keyturn-evidence-CHG-1/);
    const md = await waitUntil(
      "the evidence pack",
      () => slack.files.find((f) => f.filename === "keyturn-evidence-CHG-1.md" && f.content)?.content,
    );
    expect(md).toMatch(/## NEW holders/);
    expect(md).toMatch(
      new RegExp(`secret ${PLANTED} \\(kv:[^)]+\\): EXCLUDED: received nothing; created \\d{4}`),
    );
    const json = JSON.parse(
      (
        await waitUntil("the JSON pack", () =>
          slack.files.find((f) => f.filename === "keyturn-evidence-CHG-1.json" && f.content),
        )
      ).content,
    ) as { newHolders: { name: string; excluded: boolean; delivered: boolean }[] };
    expect(json.newHolders).toContainEqual(
      expect.objectContaining({ name: `Key Vault secret ${PLANTED}`, excluded: true, delivered: false }),
    );
  }, 180_000);

  it("a junk secret tagged for the account neither blocks a break-glass rotation nor receives the key", async () => {
    const junk = secretFingerprint(JUNK);
    expect(
      await command(
        "U0DAVE",
        'rotate contoso-openai --exposure key1 --break-glass --reason "key1 on a pastebin"',
      ),
    ).toMatch(/CHG-2/);
    const done = await cardOf("CHG-2", /COMPLETED|PAUSED/, 120_000);
    expect(done.card).not.toMatch(/PAUSED/);
    expect(done.card).toMatch(new RegExp(`secret ${JUNK} [^"\\\\]*NEW[^"\\\\]*EXCLUDED`));
    expect(secretFingerprint(JUNK)).toBe(junk);
    expect(secretVersions(JUNK)).toBe(1);
    expect(liveFingerprints("contoso-openai")).not.toContain(junk);
  }, 180_000);
});
