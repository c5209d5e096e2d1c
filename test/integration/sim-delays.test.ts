/**
 * Rotations against a tenant that is late the way Azure is: metrics 2 min, logs 4 min (+ 30 s of
 * jitter), a regenerated key answering for 30 s, App Service re-reading references only daily unless
 * refreshed — every duration divided by 120 by configuration (scaledTiming), so 2 min is 1 s here.
 * keyturn learns the tenant's latency from its configuration and judges a window only once its data
 * has arrived; the policy windows are the fast test policy's. Neither side has a scalable clock (the
 * simulator and the SDKs use wall time), so the scaling is in the configured durations, consistently.
 */
import { request } from "node:https";
import { afterEach, describe, expect, it } from "vitest";
import { scaledTiming } from "../../src/sandbox/index.js";
import { startSandboxEngine, users, type SandboxEngine } from "../support/sandbox-engine.js";

const SCALE = 120;
const timing = scaledTiming(SCALE); // metrics 1 s, logs 2 s, jitter 0.25 s, keys 0.25 s, App Service 720 s
const OPS_SCRIPT = "203.0.113.7";

let kt: SandboxEngine | undefined;
afterEach(async () => {
  await kt?.close();
  kt = undefined;
});

async function approveAll(e: SandboxEngine, id: string) {
  for (const who of [users.bob, users.carol])
    await e.press(who, { kind: "approve", changeId: id, planHash: e.change(id).plan.hash });
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the query API's JSON, read field by field
async function kql(e: SandboxEngine, query: string): Promise<any[][]> {
  const sim = e.sim;
  const token = Buffer.from(JSON.stringify({ name: "test", aud: "https://api.loganalytics.io" })).toString(
    "base64url",
  );
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(`${sim.logAnalyticsEndpoint}/workspaces/${sim.workspaceId}/query`),
      {
        method: "POST",
        headers: { authorization: `Bearer sim.${token}`, "content-type": "application/json" },
        ca: sim.caPem,
      },
      (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString("utf8")));
        res.on("end", () => {
          const json = JSON.parse(text) as { tables?: { rows: unknown[][] }[] };
          if (!json.tables) reject(new Error(`query refused: ${text}`));
          else resolve(json.tables[0]!.rows as never);
        });
      },
    );
    req.on("error", reject);
    req.end(JSON.stringify({ query }));
  });
}

describe("rotation under Azure's delays (scaled 120× by configuration)", () => {
  it("completes: the proof probes until the old key is refused, App Service moves because keyturn refreshed it, the soak waits for its data", async () => {
    kt = await startSandboxEngine({ sim: { timing }, azure: { deadKeyProofSeconds: 120 / SCALE } });
    await kt.say(users.alice, 'rotate contoso-translator --reason "quarterly rotation"');
    await approveAll(kt, "CHG-1");
    const done = await kt.waitFor("CHG-1", ["completed", "completed_with_findings", "paused"], 60_000);
    expect(done.pause?.message ?? "").toBe("");
    expect(done.state).toBe("completed");

    // the old key answered 200 for a while: the proof kept probing until it was refused
    const old = done.steps.find((s) => s.kind === "regenerate_old")!;
    expect(old.validation?.result).toMatch(/old key → 401 \(dead\) after [2-9]\d* probes/);

    // App Service re-reads only daily here: translator-web holds the new version because keyturn refreshed it
    const web = kt.sim.admin.consumers().find((c) => c.name === "translator-web")!;
    expect(web.failures).toBe(0);
    const published = JSON.stringify(done.steps.find((s) => s.kind === "publish")!.after);
    expect(published).toContain(web.secretVersion!);

    // the soak judged its window once Azure Monitor had ingested it, and the thread says so
    const soak = done.steps.find((s) => s.kind === "soak")!;
    expect(soak.validation?.result).toMatch(/metrics and logs read at .* UTC, 2 s after the window closed/);
    expect(kt.chat.allText()).toMatch(/2 s after the window closed, once Azure Monitor had ingested it/);
    const gate = done.steps.find((s) => s.kind === "verify_cutover")!;
    expect((gate.notes ?? []).join(" ")).toMatch(/metrics read at .* 1 s after the window closed/);
  }, 60_000);

  it("catches the unexplained 401 whose log row arrives after the soak window closed", async () => {
    kt = await startSandboxEngine({ sim: { timing }, azure: { deadKeyProofSeconds: 120 / SCALE } });
    // the ops laptop script holds an undeclared copy of contoso-openai's key1, which this rotation kills
    await kt.say(users.alice, 'rotate contoso-openai --reason "quarterly rotation"');
    await approveAll(kt, "CHG-1");
    const done = await kt.waitFor("CHG-1", ["completed", "completed_with_findings", "paused"], 60_000);
    expect(done.pause?.message ?? "").toBe("");
    expect(done.state).toBe("completed_with_findings");
    const soak = done.steps.find((s) => s.kind === "soak")!;
    expect(soak.outcome).toBe("succeeded_with_findings");
    expect(done.findings?.[0]?.what).toMatch(new RegExp(`401s since the old key died .*${OPS_SCRIPT}`));
    expect(kt.chat.allText()).toMatch(new RegExp(`Find who calls from ${OPS_SCRIPT.replace(/\./g, "\\.")}`));

    // those 401s were made inside the window but were not in Log Analytics when it closed
    const windowEnd =
      Date.parse(soak.after!["data complete at"]!) - (timing.logsDelaySeconds + timing.jitterSeconds) * 1000;
    const late = await kql(
      kt,
      `AzureDiagnostics | where CallerIPAddress == "${OPS_SCRIPT}" and ResultSignature == "401" and TimeGenerated <= datetime(${new Date(windowEnd).toISOString()}) and ingestion_time() > datetime(${new Date(windowEnd).toISOString()}) | summarize count()`,
    );
    expect(Number(late[0]![0])).toBeGreaterThan(0);
  }, 60_000);

  it("App Service does not re-read the reference by itself: a refresh that never succeeds holds the cutover gate", async () => {
    kt = await startSandboxEngine({ sim: { timing }, azure: { deadKeyProofSeconds: 120 / SCALE } });
    kt.sim.admin.injectFault({
      match: { pathIncludes: "/config/configreferences/appsettings/refresh" },
      effect: { type: "not-found" },
      times: -1,
    });
    await kt.say(users.alice, 'rotate contoso-translator --reason "quarterly rotation"');
    await approveAll(kt, "CHG-1");
    const paused = await kt.waitFor("CHG-1", ["completed", "completed_with_findings", "paused"], 60_000);
    expect(paused.state).toBe("paused");
    expect(paused.pause?.code).toBe("gate_failed");
    expect(paused.pause?.message).toMatch(/translator-web still uses version/);
    // nothing was regenerated: the key translator-web still holds works
    expect(kt.sim.admin.consumers().find((c) => c.name === "translator-web")!.failures).toBe(0);
  }, 60_000);
});
