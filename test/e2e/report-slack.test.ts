/**
 * The fleet posture report as people and pipelines get it from the built program: `/keyturn report`
 * in Slack (the summary in visible blocks, the Markdown and CSV files uploaded to the channel through
 * files.getUploadURLExternal + files.completeUploadExternal), and `keyturn report` / the other
 * queries on the command line against the same running sandbox, with their exit codes: the exit
 * codes a pipeline sees from the built program, the other answers from the same code in-process
 * (each start of the program costs seconds).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runQuery, type QueryCommand } from "../../src/cli-queries.js";
import { FakeSlack, visibleText } from "../fakes/slack-api.js";
import { findSecrets } from "../support/scan-secrets.js";
import { SlackDriver, slackSandboxEnv } from "../support/slack-e2e.js";
import { simulatorKeys, spawnKeyturn, waitUntil, type RunningProgram } from "../support/spawn-keyturn.js";

const SECRET = "report-signing-secret-" + Math.random().toString(36).slice(2);
const CHANNEL = "C0REPORT";
let slack: FakeSlack;
let kt: RunningProgram;
let dir: string;
let driver: SlackDriver;
const printed: string[] = [];

/** A query in this process, on the same data directory and running sandbox as the built program's. */
async function query(
  cmd: QueryCommand,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await runQuery(
    cmd,
    args,
    { stdout: { write: (t) => void (stdout += t) }, stderr: { write: (t) => void (stderr += t) } },
    { KEYTURN_DATA_DIR: join(dir, "data"), KEYTURN_SANDBOX: "1" },
  );
  printed.push(stdout, stderr);
  return { code, stdout, stderr };
}

/** The command line as a pipeline runs it, on keyturn's data directory while keyturn runs. */
const cli = (args: string[]) =>
  spawnSync(process.execPath, ["dist/src/cli.js", ...args], {
    env: { PATH: process.env.PATH ?? "", KEYTURN_DATA_DIR: join(dir, "data"), KEYTURN_SANDBOX: "1" },
    encoding: "utf8",
    timeout: 60_000,
  });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "keyturn-report-e2e-"));
  slack = await new FakeSlack().start();
  driver = new SlackDriver(() => kt, slack, SECRET, CHANNEL);
  kt = await spawnKeyturn({ KEYTURN_DATA_DIR: join(dir, "data"), ...slackSandboxEnv(slack, SECRET) });
});

afterAll(async () => {
  await kt?.stop();
  await slack?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("the fleet posture report", () => {
  it("in Slack: the summary a person reads, and the full report uploaded to the channel as files", async () => {
    const reply = await driver.command("U0ERIN", "report");
    const seen = visibleText(reply.blocks as unknown[]);
    expect(seen).toContain("Fleet posture report");
    expect(seen).toMatch(/\*Accounts\*\n7\n/);
    expect(seen).toMatch(/\*Overdue\*\n\d+\n/);
    expect(seen).toMatch(/Needs attention first\*\n[^\n]*— high: never rotated by keyturn: due now/);
    expect(seen).toMatch(/is attached: keyturn-report-[\d-]+\.md, keyturn-report-[\d-]+\.csv/);
    expect(seen).toContain("SANDBOX");
    const files = await waitUntil(
      "the report's upload",
      () =>
        slack.files.filter((f) => f.channel === CHANNEL && f.filename.startsWith("keyturn-report-")).length >=
          2 && slack.files.filter((f) => f.channel === CHANNEL),
    );
    expect(files.map((f) => f.filename.replace(/\d{4}-\d\d-\d\d/, "<date>")).sort()).toEqual([
      "keyturn-report-<date>.csv",
      "keyturn-report-<date>.md",
    ]);
    const md = files.find((f) => f.filename.endsWith(".md"))!.content;
    expect(md).toContain("# keyturn fleet posture report");
    expect(md).toContain("### contoso-openai");
    expect(md).toContain("- **listKeys callers (90 days)**: jenkins@contoso.com");
    const csv = files.find((f) => f.filename.endsWith(".csv"))!.content;
    expect(csv.split("\r\n")[0]).toMatch(/^account,resource_group,subscription,kind,/);

    // someone without the audit role is refused by role, and nothing is uploaded for them
    const before = slack.files.length;
    expect(visibleText((await driver.command("U0ALICE", "report")).blocks as unknown[])).toMatch(/audit/);
    await new Promise((r) => setTimeout(r, 300));
    expect(slack.files.length).toBe(before);
  });

  it("on the command line: exit 1 naming the accounts a --fail-on condition holds for, 0 when none does, 2 on a usage error", async () => {
    // the built program, as a pipeline step runs it: the exit code is the process's
    const failing = cli(["report", "--fail-on", "overdue", "--format", "csv"]);
    printed.push(failing.stdout, failing.stderr);
    expect(failing.status, failing.stderr).toBe(1);
    expect(failing.stdout.split("\r\n")[0]).toMatch(/^account,/);
    expect(failing.stderr).toMatch(/--fail-on overdue: \d+ account\(s\): [^\n]*contoso-openai/);

    const fine = await query("report", ["--json", "--fail-on", "exposed"]);
    expect(fine.code, fine.stderr).toBe(0);
    const doc = JSON.parse(fine.stdout) as { schema: string; accounts: { account: { name: string } }[] };
    expect(doc.schema).toBe("keyturn.fleet-report/v1");
    expect(doc.accounts.at(-1)!.account.name).toBe("contoso-keyless");

    const wrong = await query("report", ["--fail-on", "late"]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/--fail-on takes overdue, new-holders, local-auth, exposed, not "late"/);
  });

  it("every query answers --json with a meaningful exit code", async () => {
    const status = await query("status", ["contoso-translator", "--json"]);
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout).status.account.name).toBe("contoso-translator");
    const list = await query("list", ["--overdue", "--json"]);
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout).accounts.length).toBeGreaterThan(0);
    expect(JSON.parse((await query("owner", ["contoso-openai", "--json"])).stdout)).toMatchObject({
      owner: "team-chat@contoso.com",
      ownerSource: "tag",
    });
    expect(JSON.parse((await query("history", ["contoso-openai", "--json"])).stdout).changes).toEqual([]);
    const inventory = await query("inventory", ["contoso-openai", "--json"]);
    expect(JSON.parse(inventory.stdout).inventory.consumers.length).toBeGreaterThan(0);
    // pointed at a directory with no keyturn record: a configuration error, not a report of a blank fleet
    let said = "";
    const empty = await runQuery(
      "report",
      ["--fail-on", "overdue"],
      { stdout: { write: () => undefined }, stderr: { write: (t) => void (said += t) } },
      { KEYTURN_DATA_DIR: join(dir, "elsewhere"), KEYTURN_SANDBOX: "1" },
    );
    expect(empty).toBe(2);
    expect(said).toMatch(/No keyturn database at .*elsewhere.*Set KEYTURN_DATA_DIR/);
    // an unknown account: exit 2 from the built program, the error as JSON on stdout, the fix on stderr
    const unknown = cli(["status", "contoso-translatr", "--json"]);
    expect(unknown.status).toBe(2);
    expect(JSON.parse(unknown.stdout).error.code).toBe("unknown_account");
    expect(unknown.stderr).toMatch(/Did you mean "contoso-translator"/);
  });

  it("no key value in Slack, the files or anything the command line printed", async () => {
    const keys = await simulatorKeys(kt.adminUrl!, readFileSync(kt.caPath!, "utf8"));
    expect(keys.length).toBeGreaterThan(10);
    await query("report", ["--format", "md"]);
    expect(
      findSecrets(
        [
          { name: "slack requests", text: slack.allRequestBodies().join("\n") },
          { name: "files", text: slack.files.map((f) => f.content).join("\n") },
          { name: "command line", text: printed.join("\n") },
          { name: "output", text: kt.output() },
        ],
        keys,
      ),
    ).toEqual([]);
  });
});
