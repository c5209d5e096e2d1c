/**
 * The one composition root: reads the configuration once, builds the store, the Azure ports (the
 * simulated tenant in sandbox mode, real Azure otherwise), the engine, one HTTP server for Slack
 * and Teams, and the console.
 */
import { mkdirSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import type { Readable, Writable } from "node:stream";
import express from "express";
import { createConsoleAdapter, type ConsoleAdapter } from "../adapters/console/index.js";
import { createSlackAdapter, type SlackAdapter } from "../adapters/slack/index.js";
import { createTeamsAdapter, type TeamsAdapter } from "../adapters/teams/index.js";
import type { TokenCredential } from "@azure/core-auth";
import { createAzurePorts, createDefaultCredential } from "./azure/index.js";
import { type KeyturnConfig, readConfig } from "./config/read-config.js";
import { knownHoldersOf } from "./core/known-holders.js";
import { declareSandboxConsumers } from "./runner/sandbox-consumers.js";
import { createPolicyBook } from "./core/policy.js";
import { keyturnVersion } from "./keyturn-version.js";
import type { Logger } from "./core/ports.js";
import { listenOn } from "./listen-on.js";
import { createLogger } from "./log.js";
import { openChangesNote } from "./open-changes-note.js";
import { type StdinKind, stdinKind } from "./stdin-kind.js";
import { ChatRegistry } from "./runner/chat-registry.js";
import { createEngine, type Engine } from "./runner/engine.js";
import { createSimulatorCredential } from "./sandbox/credential.js";
import { simulatorAzureConfig, startSimulator, type Simulator } from "./sandbox/index.js";
import { openStore } from "./store/open-store.js";

export interface RunningKeyturn {
  readonly url: string;
  readonly port: number;
  readonly engine: Engine;
  readonly config: KeyturnConfig;
  readonly console: ConsoleAdapter | null;
  readonly simulator: Simulator | null;
  /** How standard input was found: a terminal, a pipe or file of commands, or nothing to read. */
  readonly stdin: StdinKind;
  /** One line per open change: what happens to it once keyturn stops. */
  openChangesNote(): string[];
  /**
   * Waits until no change is moving on its own (approved or rotating), at most `limitMs`: what
   * still waits for a person (an approval, a paused change) is for openChangesNote to say.
   */
  settle(say: (line: string) => void, limitMs?: number): Promise<void>;
  close(): Promise<void>;
}

export interface StartOptions {
  env?: NodeJS.ProcessEnv;
  stdin?: Readable;
  stdout?: Writable;
  /** Force the console on (script runs) or off. */
  console?: boolean;
}

/**
 * keyturn's Azure identity. The simulator's credential comes from the sandbox's own wiring, here in
 * the composition root: the Azure ports never import the sandbox. Configuration refuses
 * `simulator` with NODE_ENV=production.
 */
export function credentialFor(kind: "default" | "simulator"): TokenCredential {
  return kind === "simulator" ? createSimulatorCredential() : createDefaultCredential();
}

export async function startKeyturn(opts: StartOptions = {}): Promise<RunningKeyturn> {
  const config = readConfig(opts.env ?? process.env);
  const stdout = opts.stdout ?? process.stdout;
  mkdirSync(config.dataDir, { recursive: true });
  const stdin = stdinKind(opts.stdin ?? process.stdin);
  // a terminal gets the interactive console; piped commands are read like a script
  const consoleOn =
    opts.console ??
    (config.console === "on" || (config.console === "auto" && config.sandbox && stdin !== "none"));
  // In console mode logs go to the file so the console stays readable; otherwise to stderr as JSON lines.
  const logger: Logger = createLogger({
    level: config.logLevel,
    destination: consoleOn ? config.logFile : process.stderr,
  });
  for (const w of config.warnings) logger.warn({ warning: w }, "configuration warning");

  const store = openStore(join(config.dataDir, "keyturn.db"));
  let simulator: Simulator | null = null;
  let azure;
  if (config.sandbox) {
    simulator = await startSimulator({
      dataDir: join(config.dataDir, "sandbox"),
      stateFile: join(config.dataDir, "sandbox", "tenant.json"),
      ...(config.scenario ? { scenario: config.scenario } : {}),
    });
    azure = createAzurePorts(
      {
        ...simulatorAzureConfig(simulator),
        maxRetryAfterSeconds: config.azure.maxRetryAfterSeconds,
        declaredConsumers: (id) => store.declaredConsumers(id),
        knownHolders: (id) => knownHoldersOf(store, id),
      },
      createSimulatorCredential(),
      logger,
    );
  } else {
    const a = config.azure;
    azure = createAzurePorts(
      {
        subscriptionIds: a.subscriptionIds,
        vaultUrls: a.vaultUrls,
        armEndpoint: a.armEndpoint,
        armScope: a.armScope,
        caPem: a.caPem,
        disableChallengeResourceVerification:
          !!a.armEndpoint || a.vaultUrls.some((u) => !/\.vault\.azure\.net\/?$/.test(u)),
        logAnalytics: a.logAnalytics,
        maxRetryAfterSeconds: a.maxRetryAfterSeconds,
        monitoringLatency: a.monitoringLatency,
        deadKeyProofSeconds: a.deadKeyProofSeconds,
        declaredConsumers: (id) => store.declaredConsumers(id),
        knownHolders: (id) => knownHoldersOf(store, id),
        ...(a.credential === "simulator" ? { label: "SANDBOX" } : {}),
      },
      credentialFor(a.credential),
      logger,
    );
  }

  const policy = createPolicyBook(config.policy);
  const chats = new ChatRegistry();
  const clock = { now: () => new Date() };
  const engine = createEngine({
    store,
    azure,
    policy,
    chats,
    clock,
    logger,
    sandbox: config.sandbox || config.azure.credential === "simulator",
    ...(config.digestChannel ? { digestChannel: config.digestChannel } : {}),
    // standby / take-over lines go to whoever started keyturn, not only to the log
    announce: (line) => stdout.write(line + "\n"),
    version: keyturnVersion(),
  });

  const app = express();
  app.disable("x-powered-by");
  app.get("/healthz", (_req, res) => {
    res.json({
      ok: true,
      mode: config.sandbox ? "sandbox" : "azure",
      runner: engine.role(),
      platforms: chats.all().map((g) => g.platform),
    });
  });

  let slack: SlackAdapter | null = null;
  if (config.slack) {
    slack = createSlackAdapter({
      service: engine.service,
      store,
      logger,
      clock,
      config: { ...config.slack, allowGuests: config.slack.allowGuests || policy.allowsSlackGuests() },
      policyGroups: policy.platformGroups(),
    });
    chats.register(slack.gateway);
    app.use(slack.router);
  }
  let teams: TeamsAdapter | null = null;
  if (config.teams.enabled) {
    teams = createTeamsAdapter({
      service: engine.service,
      store,
      logger,
      clock,
      config: { ...config.teams, production: config.production },
      ...(simulator ? { directory: simulator.users } : {}),
    });
    chats.register(teams.gateway);
    app.post("/api/messages", express.json({ limit: "256kb" }), teams.handler);
  }

  const users = simulator?.users ?? [];
  let consoleAdapter: ConsoleAdapter | null = null;
  if (consoleOn || config.sandbox) {
    consoleAdapter = createConsoleAdapter({
      service: engine.service,
      store,
      users,
      output: stdout,
      evidenceDir: join(config.dataDir, "evidence"),
      label: config.sandbox ? "SANDBOX" : undefined,
    });
    chats.register(consoleAdapter.gateway);
  }

  const server: Server = createServer(app);
  let port: number;
  try {
    port = await listenOn(server, config.port, config.host, { name: "keyturn", setting: "PORT" });
  } catch (e) {
    // nothing has started yet (the runner starts below): close what is open and say why
    store.close();
    await simulator?.close();
    throw e;
  }
  await engine.start();
  if (simulator) {
    // recorded by the runner only: after a crash the dead process's lease stands until this one
    // takes it, and a standby records nothing
    const sim = simulator;
    const declare = () => declareSandboxConsumers(store, sim.consumerSecrets, clock);
    if (engine.role() === "runner") declare();
    else
      void engine
        .whenRunner()
        .then(declare)
        .catch((e: unknown) => logger.warn({ err: e }, "sandbox consumers not declared"));
  }
  if (slack) await slack.start();

  const url = `http://127.0.0.1:${port}`;
  const lines = [
    config.sandbox
      ? "keyturn — SANDBOX mode: a simulated Azure tenant, nothing real is touched"
      : `keyturn — Azure mode: ${config.azure.subscriptionIds.length} subscription(s)`,
    `data: ${config.dataDir} (SQLite keyturn.db, log ${consoleOn ? config.logFile : "stderr"})`,
    `platforms: ${chats
      .all()
      .map((g) => g.platform)
      .join(
        ", ",
      )}${slack ? ` · Slack at ${url}/slack/events` : ""}${teams ? ` · Teams at ${url}/api/messages${config.teams.appId ? "" : " (anonymous, local only)"}` : ""}`,
  ];
  if (simulator) {
    lines.push(`sandbox simulator admin: ${simulator.adminUrl} (CA: ${simulator.caPath})`);
    for (const w of simulator.warnings) lines.push(`warning: ${w}`);
  }
  lines.push(`keyturn ready on ${url}`);
  if (consoleOn) {
    lines.push(
      "",
      "You are Alice (app developer). Try:",
      "  status contoso-translator",
      '  rotate contoso-translator --exposure key1 --reason "leaked in PR 123"',
      "  as bob        (then press 1 to approve; as carol, press 1 again)",
      "Type help for every command, users for the people you can act as, quit to stop.",
    );
  }
  stdout.write(lines.join("\n") + "\n");

  let closed = false;
  return {
    url,
    port,
    engine,
    config,
    console: consoleAdapter,
    simulator,
    stdin,
    openChangesNote: () => openChangesNote(store, config.dataDir),
    async settle(say, limitMs = 300_000) {
      const moving = () =>
        store.listChanges({ open: true }).filter((c) => c.state === "approved" || c.state === "running");
      // only the runner moves changes: a standby would wait for another process
      const first = engine.role() === "runner" ? moving() : [];
      if (first.length)
        say(
          `Input ended: waiting for ${first.map((c) => c.id).join(", ")} to finish (Ctrl-C stops now; a rotation resumes on the next start).`,
        );
      const end = Date.now() + limitMs;
      while (first.length && moving().length && Date.now() < end)
        await new Promise((r) => setTimeout(r, 200));
      await engine.idle();
    },
    async close() {
      if (closed) return;
      closed = true;
      await engine.stop();
      await slack?.stop();
      await teams?.stop();
      await new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      });
      store.close();
      await simulator?.close();
    },
  };
}
