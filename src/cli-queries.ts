/**
 * The questions on the command line, for people and pipelines: `status`, `owner`, `list`,
 * `inventory`, `history` and `report`, each with `--json`. They read what chat reads (keyturn's
 * record in the data directory, Azure through the same ports) and change nothing. Exit codes:
 * 0 answered; 1 a `--fail-on` condition holds (report); 2 a usage or configuration error, or an
 * account that does not exist or is ambiguous; 3 the answer could not be read (Azure refused or
 * was unavailable, or an unexpected failure).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { renderText } from "../adapters/console/render.js";
import { createAzurePorts, type AzureConfig } from "./azure/index.js";
import { readConfig, type KeyturnConfig } from "./config/read-config.js";
import type { Message } from "./core/messages.js";
import { isKeyturnError, KeyturnError } from "./core/errors.js";
import { knownHoldersOf } from "./core/known-holders.js";
import { createPolicyBook } from "./core/policy.js";
import type { AzurePorts, AsyncStore } from "./core/ports.js";
import { FAIL_ON, failures, REPORT_SORTS, type FailOn, type ReportSort } from "./core/report.js";
import { REPORT_FORMATS, renderReport, type ReportFormat } from "./core/report-format.js";
import {
  renderHistory,
  renderInventory,
  renderList,
  renderOwner,
  renderStatus,
} from "./core/render/index.js";
import { keyturnVersion } from "./keyturn-version.js";
import { createLogger } from "./log.js";
import { azureConfigOf, credentialFor } from "./main.js";
import { AccountDirectory } from "./runner/account-directory.js";
import { Queries } from "./runner/queries.js";
import { gatherReport } from "./runner/report.js";
import { reportKeyAuthTraffic } from "./runner/report-key-traffic.js";
import { createSimulatorCredential } from "./sandbox/credential.js";
import { loadScenario, simulatorAzureConfig, startSimulator } from "./sandbox/index.js";
import { readPorts } from "./sandbox/stable-ports.js";
import { openKeyturnStore } from "./store/open-keyturn-store.js";

export const QUERY_COMMANDS = ["status", "owner", "list", "inventory", "history", "report"] as const;
export type QueryCommand = (typeof QUERY_COMMANDS)[number];
export const isQueryCommand = (c: string | undefined): c is QueryCommand =>
  (QUERY_COMMANDS as readonly string[]).includes(c ?? "");

export const QUERY_HELP = `  keyturn status|owner|inventory|history <account> [--json]
                                    what chat answers, on the command line (read-only)
  keyturn list [--overdue] [--json] every account with its due date
  keyturn report [--format md|csv|json] [--json] [--out <file>] [--sort risk|name|due]
                 [--fail-on overdue|new-holders|local-auth|exposed]...
                                    the fleet posture report (every account: where its key is stored,
                                    last rotation and its source, next due, known and NEW key holders,
                                    listKeys callers, local auth, key-free readiness), riskiest first
                                    Exit codes: 0 answered; 1 a --fail-on condition holds (the accounts
                                    are named on stderr); 2 usage or configuration error, unknown account;
                                    3 Azure could not be read
`;

/** Exit codes of the queries (README: "Command line for pipelines"). */
export const EXIT = { ok: 0, failOn: 1, usage: 2, azure: 3 } as const;

export interface ReadContext {
  readonly config: KeyturnConfig;
  readonly store: AsyncStore;
  readonly azure: AzurePorts;
  readonly queries: Queries;
  readonly directory: AccountDirectory;
  readonly label: string | undefined;
  close(): Promise<void>;
}

interface Out {
  write(text: string): void;
}

export async function runQuery(
  cmd: QueryCommand,
  args: readonly string[],
  io: { stdout: Out; stderr: Out } = { stdout: process.stdout, stderr: process.stderr },
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      allowPositionals: true,
      options: {
        json: { type: "boolean" },
        overdue: { type: "boolean" },
        format: { type: "string" },
        out: { type: "string" },
        sort: { type: "string" },
        "fail-on": { type: "string", multiple: true },
      },
    });
  } catch (e) {
    return usage(io, `${cmd}: ${(e as Error).message}`);
  }
  const { values: v, positionals } = parsed;
  const json = !!v.json;
  const problem = checkArgs(cmd, v, positionals);
  if (problem) return usage(io, problem, json);

  let ctx: ReadContext;
  try {
    ctx = await openReadContext(readConfig(env));
  } catch (e) {
    return failed(io, e, json);
  }
  try {
    if (cmd === "report") {
      const format: ReportFormat = json ? "json" : ((v.format as ReportFormat | undefined) ?? "md");
      const failOn = (v["fail-on"] ?? []).flatMap((x) => x.split(",")).map((x) => x.trim()) as FailOn[];
      const clock = { now: () => new Date() };
      // key vs Entra token calls where the diagnostic logs tell them apart, as chat reports them
      const keyAuthTraffic = reportKeyAuthTraffic(ctx.azure.telemetry, clock);
      const doc = await gatherReport(
        {
          directory: ctx.directory,
          queries: ctx.queries,
          clock,
          ...(keyAuthTraffic ? { keyAuthTraffic } : {}),
        },
        {
          sort: (v.sort as ReportSort | undefined) ?? "risk",
          label: ctx.label,
          version: keyturnVersion(),
        },
      );
      const text = renderReport(doc, format);
      if (v.out) {
        const file = resolve(v.out);
        mkdirSync(dirname(file), { recursive: true });
        writeFileSync(file, text);
        io.stderr.write(`report written: ${file} (${doc.rows.length} account(s), ${format})\n`);
      } else io.stdout.write(text);
      const held = failures(doc.rows, failOn);
      for (const f of held)
        io.stderr.write(
          `keyturn: --fail-on ${f.condition}: ${f.accounts.length} account(s): ${f.accounts.join(", ")}\n`,
        );
      return held.length ? EXIT.failOn : EXIT.ok;
    }
    if (cmd === "list") {
      const rows = (
        await Promise.all((await ctx.directory.list(true)).map((a) => ctx.queries.brief(a)))
      ).filter((s) => !v.overdue || s.overdue);
      return answer(io, json, { accounts: rows }, renderList(rows, { overdue: !!v.overdue }));
    }
    const account = await ctx.directory.resolve(positionals[0]!);
    switch (cmd) {
      case "status": {
        const { status, inventory } = await ctx.queries.status(account);
        return answer(io, json, { status, unseen: inventory.unseen }, renderStatus(status, ctx.label));
      }
      case "owner": {
        const s = await ctx.queries.brief(account);
        return answer(
          io,
          json,
          { account: account.id, name: account.name, owner: s.owner, ownerSource: s.ownerSource },
          renderOwner(s),
        );
      }
      case "inventory": {
        const inventory = await ctx.azure.inventory.take(account);
        return answer(io, json, { account: account.id, inventory }, renderInventory(account, inventory));
      }
      case "history": {
        const changes = await ctx.queries.changes(account.id, { limit: 20 });
        return answer(
          io,
          json,
          {
            account: account.id,
            changes: changes.map((c) => ({
              id: c.id,
              state: c.state,
              createdAt: c.createdAt,
              completedAt: c.completedAt,
              requester: c.requester.displayName,
              reason: c.reason,
              exposure: c.exposure,
              variant: c.plan.variant,
            })),
          },
          renderHistory(account, changes, await ctx.store.lastRotation(account.id)),
        );
      }
    }
  } catch (e) {
    return failed(io, e, json);
  } finally {
    await ctx.close();
  }
}

function checkArgs(
  cmd: QueryCommand,
  v: {
    format?: string | undefined;
    sort?: string | undefined;
    "fail-on"?: string[] | undefined;
    overdue?: boolean | undefined;
    out?: string | undefined;
  },
  positionals: readonly string[],
): string | null {
  const needsAccount = cmd === "status" || cmd === "owner" || cmd === "inventory" || cmd === "history";
  if (needsAccount && positionals.length !== 1)
    return `${cmd} needs one account: its name, resource-group/name or resource id, e.g. keyturn ${cmd} contoso-translator`;
  if (!needsAccount && positionals.length) return `${cmd} takes no account: unexpected "${positionals[0]}"`;
  if (cmd !== "report" && (v.format || v.sort || v["fail-on"] || v.out))
    return `${cmd} takes only --json${cmd === "list" ? " and --overdue" : ""}; --format, --sort, --out and --fail-on are for keyturn report`;
  if (cmd !== "list" && v.overdue)
    return `--overdue is for keyturn list (keyturn report --fail-on overdue in a pipeline)`;
  if (v.format && !(REPORT_FORMATS as readonly string[]).includes(v.format))
    return `--format takes ${REPORT_FORMATS.join(", ")}, not "${v.format}"`;
  if (v.sort && !(REPORT_SORTS as readonly string[]).includes(v.sort))
    return `--sort takes ${REPORT_SORTS.join(", ")}, not "${v.sort}"`;
  for (const f of (v["fail-on"] ?? []).flatMap((x) => x.split(",")).map((x) => x.trim()))
    if (!(FAIL_ON as readonly string[]).includes(f))
      return `--fail-on takes ${FAIL_ON.join(", ")}, not "${f}"`;
  return null;
}

function answer(io: { stdout: Out }, json: boolean, data: unknown, message: Message): number {
  io.stdout.write(json ? JSON.stringify(data, null, 2) + "\n" : renderText(message).text + "\n");
  return EXIT.ok;
}

function usage(io: { stdout: Out; stderr: Out }, problem: string, json = false): number {
  if (json) io.stdout.write(JSON.stringify({ error: { code: "usage", message: problem } }) + "\n");
  io.stderr.write(`keyturn: ${problem}\nSee keyturn help.\n`);
  return EXIT.usage;
}

/** A refusal people can act on: the message says what to do; the exit code says whose problem it is. */
function failed(io: { stdout: Out; stderr: Out }, e: unknown, json: boolean): number {
  if (!isKeyturnError(e)) {
    const message = `unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`;
    if (json) io.stdout.write(JSON.stringify({ error: { code: "internal", message: String(e) } }) + "\n");
    io.stderr.write(
      `keyturn: ${message}\nNothing was changed; run it again, and tell keyturn's operators if it repeats.\n`,
    );
    return EXIT.azure;
  }
  const azure = e.code.startsWith("azure_");
  const message = azure
    ? `${e.userMessage} Check keyturn's access with \`keyturn doctor\`, then run it again.`
    : e.userMessage;
  if (json) io.stdout.write(JSON.stringify({ error: { code: e.code, message } }) + "\n");
  io.stderr.write(`keyturn: ${message}\n`);
  return azure ? EXIT.azure : EXIT.usage;
}

/**
 * The store and Azure as `keyturn start` sees them, read-only. In sandbox mode the simulated tenant
 * of this data directory: the running one when keyturn runs (so the answer is what chat sees),
 * otherwise started on its saved state and ports for the time of the question.
 */
export async function openReadContext(config: KeyturnConfig): Promise<ReadContext> {
  const logger = createLogger({ level: "silent" });
  const dbPath = join(config.dataDir, "keyturn.db");
  // without keyturn's record every key would read as never rotated and every holder as NEW
  if (!existsSync(dbPath) && !process.env.KEYTURN_DATABASE_URL?.trim())
    throw new KeyturnError(
      "config_invalid",
      `No keyturn database at ${dbPath}: the answers need keyturn's record (rotations, known holders). Set KEYTURN_DATA_DIR to the data directory keyturn runs with (run the query where keyturn runs, e.g. docker exec), or ask keyturn's HTTP API from elsewhere.`,
    );
  const { store } = await openKeyturnStore(config.dataDir, process.env);
  let closeSim: () => Promise<void> = async () => undefined;
  let azureConfig: AzureConfig;
  let credential;
  try {
    if (config.sandbox) {
      const sim = await sandboxTenant(config);
      closeSim = sim.close;
      azureConfig = sim.config;
      credential = createSimulatorCredential();
    } else {
      const a = config.azure;
      azureConfig = azureConfigOf(a);
      credential = credentialFor(a.credential);
    }
  } catch (e) {
    await store.close();
    throw e;
  }
  const azure = createAzurePorts(
    {
      ...azureConfig,
      declaredConsumers: (id) => store.declaredConsumers(id),
      knownHolders: (id) => knownHoldersOf(store, id),
    },
    credential,
    logger,
  );
  const clock = { now: () => new Date() };
  const queries = new Queries(store, azure, createPolicyBook(config.policy), clock);
  return {
    config,
    store,
    azure,
    queries,
    directory: new AccountDirectory(azure.accounts, clock),
    label: config.sandbox ? "SANDBOX" : azureConfig.label,
    async close() {
      await store.close();
      await closeSim();
    },
  };
}

async function sandboxTenant(
  config: KeyturnConfig,
): Promise<{ config: AzureConfig; close: () => Promise<void> }> {
  const dir = join(config.dataDir, "sandbox");
  const ports = readPorts(dir);
  const ca = join(dir, "ca.pem");
  if (ports.arm && existsSync(ca) && (await listening(ports.arm))) {
    const scenario = loadScenario(config.scenario);
    const arm = `https://127.0.0.1:${ports.arm}`;
    return {
      config: simulatorAzureConfig({
        subscriptionIds: scenario.subscriptions.map((s) => s.id),
        armEndpoint: arm,
        caPem: readFileSync(ca, "utf8"),
        vaultUrls: Object.values(ports.vaults).map((p) => `https://127.0.0.1:${p}`),
        logAnalyticsEndpoint: `${arm}/loganalytics/v1`,
        workspaceId: scenario.logAnalytics.workspaceId,
      }),
      close: async () => undefined,
    };
  }
  const sim = await startSimulator({
    dataDir: dir,
    stateFile: join(dir, "tenant.json"),
    consumers: false,
    ...(config.scenario ? { scenario: config.scenario } : {}),
  });
  return { config: simulatorAzureConfig(sim), close: () => sim.close() };
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.once("connect", () => done(true));
    s.once("error", () => done(false));
    s.setTimeout(1000, () => done(false));
  });
}
