/**
 * `disable-local-auth` end to end: the built keyturn (Slack) against the standalone simulator. Refused
 * while something holds a key (named, with what to do); once the app moved to its managed identity
 * and the secret is gone, approved and run: the simulator itself refuses keys with 403; rolled back
 * on request: keys work again. The evidence verifies and no key value is anywhere.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { Agent, fetch as undiciFetch } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Change } from "../../src/core/domain.js";
import { visibleText } from "../fakes/slack-api.js";
import { ROTATABLE, SUB_PROD } from "../support/chaos-kit.js";
import { SLACK_IDS } from "../support/chaos-keyturn.js";
import { findSecrets, scanPaths } from "../support/scan-secrets.js";
import { waitUntil } from "../support/spawn-keyturn.js";
import { startStandaloneRig, type StandaloneRig } from "../support/standalone-rig.js";

const openai = ROTATABLE[1];
const TOKEN =
  "sim." +
  Buffer.from(
    JSON.stringify({ name: "observer", objectId: "0b5e0000-0000-4000-8000-000000000002", ip: "10.0.0.9" }),
  ).toString("base64url");

let rig: StandaloneRig;
let agent: Agent;
beforeAll(async () => {
  rig = await startStandaloneRig("key-free");
  agent = new Agent({ connect: { ca: rig.sim.caPem } });
}, 60_000);
afterAll(async () => {
  await agent?.close();
  await rig?.close();
});

/** What Alice sees in answer to a command (the reply posted to its response_url). */
async function ask(user: string, text: string): Promise<string> {
  const kt = rig.processes[0]!;
  const before = kt.slack.responses.length;
  await kt.command(user, text);
  const r = await waitUntil(`an answer to "${text}"`, () => kt.slack.responses.slice(before)[0]);
  return (
    visibleText(r.body.blocks as unknown[] | undefined) || String((r.body.text as string | undefined) ?? "")
  );
}

/** The simulator answering a keyed data-plane call, seen from outside keyturn. */
async function callWithKey(key: string): Promise<{ status: number; body: string }> {
  const r = await undiciFetch(
    `${rig.sim.armEndpoint}/dataplane/${SUB_PROD}/${openai.name}/openai/models?api-version=2024-10-21`,
    {
      headers: { "api-key": key },
      dispatcher: agent,
    },
  );
  return { status: r.status, body: await r.text() };
}

async function armAccount(): Promise<{ properties: { disableLocalAuth: boolean } }> {
  const r = await undiciFetch(`${rig.sim.armEndpoint}${openai.id}?api-version=2025-09-01`, {
    headers: { authorization: `Bearer ${TOKEN}` },
    dispatcher: agent,
  });
  return (await r.json()) as { properties: { disableLocalAuth: boolean } };
}

const change = (): Change | undefined =>
  rig.processes[0]!.changes().find((c) => c.accountId.toLowerCase() === openai.id.toLowerCase());

describe("disable-local-auth in the sandbox", () => {
  it("refused while a key holder remains; run once none does; keys refused; rolled back; evidence verifies", async () => {
    const keys = await rig.sim.liveKeys(openai.id);
    expect((await callWithKey(keys.key1)).status).toBe(200);

    // 1. the app and its Key Vault secret still hold the key: refused, naming them and what to do
    const refused = await ask(
      SLACK_IDS.alice,
      `disable-local-auth ${openai.name} --reason "move to Entra ID"`,
    );
    expect(refused).toContain(`Local auth of ${openai.name} cannot be disabled yet`);
    expect(refused).toMatch(
      /openai-chat .*switch the app to its managed identity \(Entra ID\) and remove the setting OPENAI_KEY/,
    );
    expect(refused).toMatch(
      /openai-key .*move whatever reads this secret to Microsoft Entra ID, then delete the secret/,
    );
    expect(refused).toMatch(/Key-authenticated traffic: \d+ call\(s\) with a key/);
    expect(change()).toBeUndefined();

    // 2. the app moves to its managed identity and the secret is deleted (as its owners would)
    await rig.sim.admin("POST", "/use-entra", { site: "openai-chat" });
    await rig.sim.admin("POST", "/delete-secret", { vault: "contoso-kv", secret: "openai-key" });
    const opened = await ask(
      SLACK_IDS.alice,
      `disable-local-auth ${openai.name} --reason "move to Entra ID"`,
    );
    expect(opened).toMatch(/CHG-1 opened: disable local auth of contoso-openai .*No key holder remains/);
    // the laptop script is among the key callers, wherever the ordering of callers with equal counts puts it
    expect(opened).toMatch(
      /Key-authenticated traffic: \d+ call\(s\) with a key \(last [\d-]+ [\d:]+ UTC, from (?:[\d.]+ \([^)]*\), )*203\.0\.113\.7 \(ChatCompletions, \d+\)/,
    );
    const requested = await waitUntil("approval", () => change()?.state === "awaiting_approval" && change());
    expect(requested.plan.variant).toBe("disable-local-auth");
    for (const who of [SLACK_IDS.bob, SLACK_IDS.carol])
      await rig.processes[0]!.command(who, `approve ${requested.id}`);
    const done = await waitUntil("completion", () =>
      change()?.state.startsWith("completed") ? change() : undefined,
    );
    expect(done.state).toBe("completed");
    expect(done.steps.find((s) => s.kind === "prove_keys_refused")?.validation?.result).toMatch(
      /key → 403 \(refused\)/,
    );

    // 3. checked at the simulator, not through keyturn: ARM reads true, a key gets 403, the app's token works
    expect((await armAccount()).properties.disableLocalAuth).toBe(true);
    const refusedCall = await callWithKey(keys.key1);
    expect(refusedCall.status).toBe(403);
    expect(JSON.parse(refusedCall.body)).toEqual({
      error: {
        code: "AuthenticationTypeDisabled",
        message: "Key based authentication is disabled for this resource.",
      },
    });
    await rig.sim.admin("POST", "/tick");
    const consumers = (
      await rig.sim.admin<{ consumers: { name: string; mode: string; lastStatus: number }[] }>(
        "GET",
        "/consumers",
      )
    ).consumers;
    expect(consumers.find((c) => c.name === "openai-chat" && c.mode === "entra")?.lastStatus).toBe(200);
    expect(consumers.find((c) => c.name === "ops laptop script")?.lastStatus).toBe(403);

    // 4. rolled back on request: keys work again
    const back = await ask(SLACK_IDS.alice, `rollback ${done.id}`);
    expect(back).toContain(
      `Rolling back ${done.id}: local auth of contoso-openai is re-enabled (disableLocalAuth=false).`,
    );
    const rolled = await waitUntil("rollback", () => change()?.state === "rolled_back" && change());
    expect(rolled.steps.at(-1)?.validation?.result).toMatch(/key → 200 \(works again\)/);
    expect((await armAccount()).properties.disableLocalAuth).toBe(false);
    expect((await callWithKey(keys.key1)).status).toBe(200);

    // 5. the thread tells the story as it was, never calling it a rotation
    const kt = rig.processes[0]!;
    // posts to a channel are paced at Slack's rate: the thread catches up a moment later
    const storyNow = () => {
      const root = kt.slack.roots("C0CHAOS").find((m) => visibleText(m.blocks).includes("CHG-1"));
      if (!root) return "";
      const thread = kt.slack.thread("C0CHAOS", root.ts);
      return [thread.root, ...thread.replies].map((m) => visibleText(m?.blocks)).join("\n");
    };
    const story = await waitUntil("the thread to tell the rollback", () =>
      /CHG-1 rolled back/.test(storyNow()) && /ROLLED BACK/.test(storyNow()) ? storyNow() : undefined,
    );
    expect(story).toContain("CHG-1 · disable local auth of contoso-openai");
    expect(story).toContain("contoso-openai is key-free: disableLocalAuth=true, key → 403 (refused)");
    expect(story).toContain(
      "CHG-1 rolled back: local auth of contoso-openai is enabled again (disableLocalAuth=false)",
    );
    expect(story).not.toMatch(/\brotated\b|rotation/i);

    // 6. evidence: exported, verified by the audit, free of key values
    await kt.stop();
    const cli = (args: string[]) =>
      spawnSync(process.execPath, [resolve("dist/src/cli.js"), ...args], {
        env: { PATH: process.env.PATH ?? "", KEYTURN_DATA_DIR: join(rig.dir, "data"), ...rig.env },
        encoding: "utf8",
        timeout: 120_000,
      });
    const out = join(rig.dir, "evidence");
    mkdirSync(out, { recursive: true });
    const ev = cli(["evidence", "CHG-1", "--out", out]);
    expect(ev.status, ev.stderr).toBe(0);
    const md = readFileSync(join(out, "keyturn-evidence-CHG-1.md"), "utf8");
    expect(md).toContain("# Evidence — CHG-1: disable local auth of contoso-openai");
    expect(md).toContain("rolled back: local auth enabled again (disableLocalAuth=false), keys work");
    expect(md).not.toMatch(/\brotation\b|\brotated\b/i);
    const verify = cli(["audit", "verify"]);
    expect(verify.status, verify.stdout + verify.stderr).toBe(0);
    const pack = cli(["audit", "verify", "--pack", join(out, "keyturn-evidence-CHG-1.json")]);
    expect(pack.status, pack.stdout).toBe(0);

    const secrets = (await rig.sim.admin<{ values: string[] }>("GET", "/keys")).values;
    expect(await scanPaths([join(rig.dir, "data"), out], secrets)).toEqual([]);
    expect(
      findSecrets(
        [
          ...kt.slack.allRequestBodies().map((text, i) => ({ name: `slack body ${i}`, text })),
          { name: "keyturn output", text: kt.output() },
        ],
        secrets,
      ),
    ).toEqual([]);
  }, 120_000);
});
