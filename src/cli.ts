#!/usr/bin/env node
/**
 * keyturn's command line: `start` (the bot; sandbox by default), `run <file>` (a command file
 * against the sandbox), `config check`, `doctor`, `audit verify`, `evidence <CHG>`, `backup <file>`,
 * the read-only queries (`status`, `owner`, `list`, `inventory`, `history`, `report`, with `--json`),
 * `restore <file>`.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { checkAccess } from "./azure/index.js";
import { readConfig, redactedConfig } from "./config/read-config.js";
import { parseHead, type Witness } from "./core/checkpoint.js";
import { buildEvidence } from "./core/evidence.js";
import { createPolicyBook } from "./core/policy.js";
import { offlineOwner } from "./evidence-offline-owner.js";
import { keyturnVersion } from "./keyturn-version.js";
import { isKeyturnError } from "./core/errors.js";
import { credentialFor, type RunningKeyturn, startKeyturn, type StopReport } from "./main.js";
import { auditForEvidence } from "./runner/evidence-audit.js";
import { backupStore, restoreStore } from "./store/backup.js";
import { loadSigner, signingKeyPath } from "./store/checkpoint-signer.js";
import { openKeyturnStore } from "./store/open-keyturn-store.js";
import { packWitness, verifyPack, withCheckpoint } from "./store/pack-seal.js";
import { createLogger } from "./log.js";
import { isQueryCommand, QUERY_HELP, runQuery } from "./cli-queries.js";
import { runSchedule, SCHEDULE_HELP } from "./cli-schedule.js";

const HELP = `keyturn — rotate Azure AI service keys under approval, without downtime

  keyturn start [--script <file>]   run the bot (sandbox when no AZURE_SUBSCRIPTION_IDS); --script runs a command file and exits
  keyturn run <file>                run a command file against the sandbox and exit
  keyturn config check              validate the configuration and policy file
  keyturn doctor                    check Azure access and chat configuration, with a fix per failure
  keyturn audit verify [--witness <pack.json|seq:hash>]...
                                    recompute the audit log's hash chain, rebuild every change from its
                                    events and compare with the changes table; with --witness, check the
                                    log still reaches a head seen outside the database (a pack, a thread)
  keyturn audit verify --pack <file.json>
                                    verify an evidence pack offline, on its own (content, signature, events)
  keyturn backup <file>             an online copy of the database (keyturn may keep running), verified with
                                    audit verify before it is kept; never overwrites; the signing key is not in it
  keyturn restore <file>            verify a backup and make it the database (stop keyturn first); the
                                    database it replaces is kept beside it
  keyturn migrate-store --to <postgres://…>
                                    copy the SQLite store into an empty PostgreSQL database, verified
  keyturn evidence <CHG> [--out d]  write the evidence pack (Markdown + JSON), signed; exits 1 with the
                                    warning first when the audit log does not verify
${QUERY_HELP}${SCHEDULE_HELP}
  --json on every query (and on audit verify) prints one JSON document on stdout; errors too.
`;

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case undefined:
    case "help":
    case "--help":
      process.stdout.write(HELP);
      return 0;
    case "start": {
      const { values } = parseArgs({ args: rest, options: { script: { type: "string" } } });
      return values.script ? runScript(values.script) : serve();
    }
    case "run":
      if (!rest[0]) return usage("run needs a file of commands");
      return runScript(rest[0]);
    case "config":
      if (rest[0] !== "check") return usage("did you mean: keyturn config check");
      return configCheck();
    case "doctor":
      return doctor();
    case "status":
    case "owner":
    case "list":
    case "inventory":
    case "history":
    case "report":
      if (!isQueryCommand(cmd)) return usage(`unknown command "${cmd}"`);
      return runQuery(cmd, rest);
    case "schedule":
      return runSchedule(rest);
    case "audit": {
      if (rest[0] !== "verify") return usage("did you mean: keyturn audit verify");
      const { values } = parseArgs({
        args: rest.slice(1),
        options: {
          witness: { type: "string", multiple: true },
          pack: { type: "string" },
          json: { type: "boolean" },
        },
      });
      if (values.pack) return verifyPackFile(values.pack);
      return auditVerify(values.witness ?? [], values.json ?? false);
    }
    case "backup":
      if (!rest[0])
        return usage("backup needs a file to write, e.g. keyturn backup /backups/keyturn-2026-11-30.sqlite");
      return backup(rest[0]);
    case "restore":
      if (!rest[0])
        return usage(
          "restore needs the backup file, e.g. keyturn restore /backups/keyturn-2026-11-30.sqlite",
        );
      return restore(rest[0]);
    case "migrate-store":
      return (await import("./store/pg/migrate-store-cli.js")).migrateStoreCommand(rest);
    case "evidence": {
      const { values, positionals } = parseArgs({
        args: rest,
        options: { out: { type: "string" } },
        allowPositionals: true,
      });
      if (!positionals[0]) return usage("evidence needs a change id, e.g. CHG-1");
      return evidence(positionals[0], values.out);
    }
    default:
      return usage(`unknown command "${cmd}"`);
  }
}

function usage(problem: string): number {
  process.stderr.write(`keyturn: ${problem}\n\n${HELP}`);
  return 2;
}

/**
 * How keyturn stops: it says what happens to each open change, then closes cleanly (a step in
 * flight finishes first). Ctrl-C and SIGTERM take this path too, never a silent exit.
 */
function stopper(running: RunningKeyturn): (why: string) => Promise<void> {
  let stopping = false;
  const stop = async (why: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`\n${why}\n`);
    const r = await running.close();
    // what stays open, as it stands once stopped (a step in flight may have finished meanwhile)
    process.stdout.write(`${r.openChanges.join("\n")}\n${stoppedLine(r)}\n`);
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("keyturn stopping (Ctrl-C)."));
  process.on("SIGTERM", () => void stop("keyturn stopping (SIGTERM)."));
  return stop;
}

/** One line on how the stop went: the lease, the requests in flight, what was left for the next start. */
function stoppedLine(r: StopReport): string {
  const parts = [
    `keyturn stopped in ${(r.ms / 1000).toFixed(1)} s`,
    r.leaseReleased ? "runner lease released (a standby takes over at once)" : "",
    r.requestsAnswered ? "" : "some chat requests in flight were cut off (the platform retries them)",
    r.writesHeld > 0
      ? `${r.writesHeld} Azure write(s) not started (the rotation resumes there, after re-checking live keys)`
      : "",
    r.engineIdle || r.writesHeld > 0
      ? ""
      : "work still in flight at the time limit was left to the next start",
  ];
  return parts.filter(Boolean).join("; ") + ".";
}

async function serve(): Promise<number> {
  const running = await startKeyturn();
  const stop = stopper(running);
  const reads = running.console && running.config.console !== "off";
  if (reads && running.stdin === "tty") {
    const how = await running.console.run(process.stdin);
    await stop(how === "ctrl-c" ? "keyturn stopping (Ctrl-C)." : "keyturn stopping.");
  } else if (reads && running.stdin === "pipe") {
    // piped commands run like a script: each line is echoed, then answered
    await running.console.run(process.stdin, { echo: true });
    await running.settle((line) => process.stdout.write(line + "\n"));
    const served = [
      ...(running.config.slack ? ["Slack"] : []),
      ...(running.config.teams.enabled ? ["Teams"] : []),
    ];
    if (served.length === 0) await stop("Input ended: keyturn stopping.");
    else
      process.stdout.write(
        `Input ended: keyturn keeps serving ${served.join(" and ")} until stopped (Ctrl-C or SIGTERM).\n`,
      );
  }
  return new Promise<number>(() => undefined); // serve until a signal
}

async function runScript(file: string): Promise<number> {
  const lines = readFileSync(resolve(file), "utf8").split(/\r?\n/);
  const running = await startKeyturn({ console: true });
  const stop = stopper(running);
  try {
    await running.console!.runScript(lines);
    await running.engine.idle();
  } catch (e) {
    await running.close();
    throw e;
  }
  await stop("Script done.");
  return 0;
}

function configCheck(): number {
  const c = readConfig();
  process.stdout.write(
    `configuration OK (${c.sandbox ? "sandbox" : "Azure"} mode)\n${JSON.stringify(redactedConfig(c), null, 2)}\n`,
  );
  for (const w of c.warnings) process.stdout.write(`warning: ${w}\n`);
  return 0;
}

async function doctor(): Promise<number> {
  const c = readConfig();
  const rows: { check: string; scope: string; ok: boolean; detail: string; fix?: string | undefined }[] = [
    {
      check: "configuration",
      scope: c.policyFile,
      ok: true,
      detail: `${c.sandbox ? "sandbox" : "Azure"} mode`,
    },
  ];
  let close: (() => Promise<void>) | null = null;
  const logger = createLogger({ level: "silent" });
  let azure = {
    subscriptionIds: c.azure.subscriptionIds,
    vaultUrls: c.azure.vaultUrls,
    armEndpoint: c.azure.armEndpoint,
    armScope: c.azure.armScope,
    caPem: c.azure.caPem,
    disableChallengeResourceVerification: !!c.azure.armEndpoint,
  };
  let credential = credentialFor(c.azure.credential);
  if (c.sandbox) {
    const { startSimulator } = await import("./sandbox/index.js");
    const sim = await startSimulator({ consumers: false });
    close = () => sim.close();
    azure = {
      subscriptionIds: [...sim.subscriptionIds],
      vaultUrls: Object.values(sim.vaultUrls),
      armEndpoint: sim.armEndpoint,
      armScope: undefined,
      caPem: sim.caPem,
      disableChallengeResourceVerification: true,
    };
    credential = credentialFor("simulator");
  }
  try {
    rows.push(...(await checkAccess(azure, credential, logger)));
  } finally {
    await close?.();
  }
  if (c.slack) {
    try {
      const r = await fetch(`${c.slack.apiUrl ?? "https://slack.com/api/"}auth.test`, {
        method: "POST",
        headers: { authorization: `Bearer ${c.slack.botToken}` },
      });
      const body = (await r.json()) as { ok: boolean; error?: string; team?: string };
      const scopes = (r.headers.get("x-oauth-scopes") ?? "").split(",").map((s) => s.trim());
      const missing = ["commands", "chat:write", "users:read", "users:read.email"].filter(
        (s) => scopes.length > 1 && !scopes.includes(s),
      );
      rows.push({
        check: "slack token",
        scope: body.team ?? "slack",
        ok: body.ok && missing.length === 0,
        detail: body.ok
          ? missing.length
            ? `missing scopes ${missing.join(", ")}`
            : "auth.test OK"
          : `auth.test: ${body.error ?? "failed"}`,
        fix: body.ok
          ? "add the scopes in manifest/slack.yaml and reinstall"
          : "copy the Bot User OAuth Token again",
      });
    } catch (e) {
      rows.push({
        check: "slack token",
        scope: "slack",
        ok: false,
        detail: e instanceof Error ? e.message : String(e),
        fix: "check network access to Slack (or SLACK_API_URL)",
      });
    }
  }
  if (c.teams.enabled) {
    const ok = !!c.teams.appId || !c.production;
    rows.push({
      check: "teams",
      scope: c.teams.appId ?? "anonymous",
      ok,
      detail: c.teams.appId
        ? `app ${c.teams.appId} (${c.teams.appType ?? "MultiTenant"})`
        : "no MicrosoftAppId: local, unauthenticated use only",
      ...(ok ? {} : { fix: "set MicrosoftAppId / MicrosoftAppPassword / MicrosoftAppTenantId" }),
    });
  }
  const w = [14, 40, 4];
  process.stdout.write(
    `${"check".padEnd(w[0]!)} ${"scope".padEnd(w[1]!)} ${"".padEnd(w[2]!)} detail / fix\n`,
  );
  for (const r of rows) {
    process.stdout.write(
      `${r.check.padEnd(w[0]!)} ${r.scope.slice(0, w[1]).padEnd(w[1]!)} ${(r.ok ? "OK" : "FAIL").padEnd(w[2]!)} ${r.detail}${!r.ok && r.fix ? `\n${"".padEnd(w[0]! + w[1]! + w[2]! + 3)} fix: ${r.fix}` : ""}\n`,
    );
  }
  return rows.every((r) => r.ok) ? 0 : 1;
}

async function auditVerify(witnessArgs: readonly string[], json = false): Promise<number> {
  const witnesses: Witness[] = [];
  const bad: string[] = [];
  for (const arg of witnessArgs) {
    const head = parseHead(arg);
    if (head) {
      witnesses.push({ ...head, source: `witness ${head.seq}:${head.hash.slice(0, 12)}…` });
      continue;
    }
    let text: string;
    try {
      text = readFileSync(resolve(arg), "utf8");
    } catch (e) {
      process.stderr.write(
        `keyturn: cannot read witness ${arg} (${(e as Error).message}). Give an evidence pack's .json file or a head as <seq>:<hash>.\n`,
      );
      return 2;
    }
    const w = packWitness(text, basename(arg));
    if ("problem" in w) bad.push(`witness ${arg} cannot be trusted: ${w.problem}`);
    else witnesses.push(w);
  }
  const c = readConfig();
  const dbPath = join(c.dataDir, "keyturn.db");
  const { store, kind, where } = await openKeyturnStore(c.dataDir, process.env);
  try {
    const r = await store.verify({ witnesses });
    if (json) {
      const problems = [...(r.ok ? [] : (r.problems ?? [r.problem])), ...bad];
      process.stdout.write(JSON.stringify({ ...r, ok: r.ok && bad.length === 0, problems }, null, 2) + "\n");
      return r.ok && bad.length === 0 ? 0 : 1;
    }
    if (r.ok && bad.length === 0) {
      process.stdout.write(`chain OK: ${r.events} events, head ${r.head}\n`);
      process.stdout.write(
        `changes OK: ${r.changes ?? 0} change(s) rebuilt from their events match the changes table\n`,
      );
      for (const w of r.witnessed ?? []) process.stdout.write(`witness OK: the log still reaches ${w}\n`);
      const key = signingKeyPath(dbPath);
      if (key && existsSync(key))
        process.stdout.write(`checkpoints are signed by key ${loadSigner(key).keyId} (${key})\n`);
      return 0;
    }
    // each problem names the event or the change ("event 17 (approved) hash does not match…", "CHG-3: reason differs…")
    const problems = [...(r.ok ? [] : (r.problems ?? [r.problem])), ...bad];
    for (const p of problems) process.stdout.write(`TAMPERED: ${p}\n`);
    process.stdout.write(
      `The audit log does not verify (${problems.length} problem(s)). Keep the database as it is (${kind === "sqlite" ? `copy ${c.dataDir} aside` : `snapshot ${where}`}), and tell your security team; compare with the last exported packs (\`keyturn audit verify --witness <pack.json>\`).\n`,
    );
    return 1;
  } finally {
    await store.close();
  }
}

/** backup and restore copy the SQLite file; a PostgreSQL store is backed up by its server. */
function sqliteOnly(what: "backup" | "restore"): number | null {
  if (!process.env.KEYTURN_DATABASE_URL?.trim()) return null;
  process.stderr.write(
    `keyturn: \`keyturn ${what}\` copies the SQLite store, and KEYTURN_DATABASE_URL makes the store PostgreSQL. Use the server's backups instead (Azure Database for PostgreSQL: automatic backups with point-in-time restore, or pg_dump / pg_restore), then run \`keyturn audit verify\` against the restored database.\n`,
  );
  return 2;
}

async function backup(file: string): Promise<number> {
  const refused = sqliteOnly("backup");
  if (refused !== null) return refused;
  const c = readConfig();
  const dbPath = join(c.dataDir, "keyturn.db");
  let r;
  try {
    r = await backupStore(dbPath, resolve(file));
  } catch (e) {
    // a copy that does not verify is an audit finding, not a usage error: exit 1 like audit verify
    if (isKeyturnError(e) && e.code === "tampered") {
      process.stderr.write(`keyturn: ${e.userMessage}\n`);
      return 1;
    }
    throw e;
  }
  const v = r.verify;
  process.stdout.write(
    [
      `backup written: ${r.file} (${Math.ceil(r.bytes / 1024)} KiB, schema version ${r.schemaVersion}) from ${dbPath}`,
      `audit verify on the copy: chain OK (${v.events} events, head ${v.head}); ${v.changes ?? 0} change(s) rebuilt from their events match`,
      signingKeyNote(dbPath),
      `To restore: stop keyturn, then keyturn restore ${r.file}`,
    ].join("\n") + "\n",
  );
  return 0;
}

function restore(file: string): number {
  const refused = sqliteOnly("restore");
  if (refused !== null) return refused;
  const c = readConfig();
  mkdirSync(c.dataDir, { recursive: true });
  const dbPath = join(c.dataDir, "keyturn.db");
  const r = restoreStore(resolve(file), dbPath);
  const v = r.verify;
  process.stdout.write(
    [
      `backup verified: chain OK (${v.events} events, head ${v.head}); ${v.changes ?? 0} change(s) match their events`,
      `restored into ${r.restored}${r.keptAside ? `; the database it replaced is kept as ${r.keptAside} (remove it once keyturn runs well on the restored data)` : ""}`,
      "Whatever happened after the backup was made is not in it: check open changes with `list` once keyturn runs, and compare live keys with `status <account>`.",
      signingKeyNote(dbPath),
      "Next: start keyturn, then run keyturn audit verify.",
    ].join("\n") + "\n",
  );
  return 0;
}

function signingKeyNote(dbPath: string): string {
  const key = signingKeyPath(dbPath);
  if (!key) return "No checkpoint signing key is configured.";
  return existsSync(key)
    ? `The checkpoint signing key is NOT in the backup: it is ${key}. Keep a copy with your secrets (e.g. in Key Vault), apart from the backups: whoever holds it can sign checkpoints as keyturn. Without it, keyturn signs new checkpoints with a new key; packs already exported still verify.`
    : `No checkpoint signing key exists yet at ${key} (keyturn creates it with the first signed checkpoint); it is never in a backup.`;
}

function verifyPackFile(file: string): number {
  let text: string;
  try {
    text = readFileSync(resolve(file), "utf8");
  } catch (e) {
    process.stderr.write(
      `keyturn: cannot read ${file} (${(e as Error).message}). Give the .json file of an evidence pack.\n`,
    );
    return 2;
  }
  const r = verifyPack(text, basename(file));
  for (const line of r.lines) process.stdout.write(`${line}\n`);
  process.stdout.write(
    r.ok ? `pack OK: ${basename(file)} verifies on its own\n` : `pack NOT verified: ${basename(file)}\n`,
  );
  return r.ok ? 0 : 1;
}

async function evidence(id: string, out?: string): Promise<number> {
  const c = readConfig();
  const { store } = await openKeyturnStore(c.dataDir, process.env);
  try {
    const changeId = id.toUpperCase().replace(/^(\d+)$/, "CHG-$1");
    const audit = await auditForEvidence(store, changeId);
    if (!audit.change) {
      process.stderr.write(
        `keyturn: no change ${changeId} in ${c.dataDir}. Run \`keyturn audit verify\`, or check KEYTURN_DATA_DIR.\n`,
      );
      return 2;
    }
    // the warning before anything else: a pack from a store that does not verify is not evidence
    if (audit.warning) process.stderr.write(`keyturn: ${audit.warning}\n`);
    const generatedAt = new Date().toISOString();
    const built = buildEvidence(audit.change, await store.events({ changeId }), audit.verify, {
      label: audit.change.sandbox ? "SANDBOX" : undefined,
      generatedAt,
      version: keyturnVersion(),
      owner: offlineOwner(createPolicyBook(c.policy), audit.change),
    });
    const pack = await withCheckpoint(
      built,
      (subject) => store.checkpoint(generatedAt, subject),
      audit.warning,
    );
    const dir = resolve(out ?? join(c.dataDir, "evidence"));
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${pack.filenameBase}.md`), pack.markdown);
    writeFileSync(join(dir, `${pack.filenameBase}.json`), pack.json);
    process.stdout.write(`${join(dir, pack.filenameBase)}.md\n${join(dir, pack.filenameBase)}.json\n`);
    return audit.warning ? 1 : 0;
  } finally {
    await store.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== 0 || process.argv[2] !== "start") process.exit(code);
  },
  (e: unknown) => {
    if (isKeyturnError(e)) {
      process.stderr.write(`keyturn: ${e.userMessage}\n`);
      process.exit(2);
    }
    process.stderr.write(
      `keyturn: unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
    );
    process.exit(1);
  },
);
