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
import { createApiRouter, createEntraVerifier } from "../adapters/api/index.js";
import type { IdempotencyRecord } from "../adapters/api/idempotency.js";
import { startSandboxEntraIssuer, type SandboxEntraIssuer } from "./sandbox/entra-issuer.js";
import type { TokenCredential } from "@azure/core-auth";
import { createAzurePorts, createDefaultCredential, type AzureConfig } from "./azure/index.js";
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
import { leaseTtlMs } from "./runner/runner-lease.js";
import { createSimulatorCredential } from "./sandbox/credential.js";
import { simulatorAzureConfig, startSimulator, type Simulator } from "./sandbox/index.js";
import { openKeyturnStore } from "./store/open-keyturn-store.js";
import { drainHttp, EffectGate, gatedAzure, shutdownLimitMs, sleep } from "./graceful-stop.js";
import { attachMetricsSources, METRICS_CONTENT_TYPE, metricsText, observeChatAck } from "./metrics.js";
import { observedStore, OverdueCount, storeSources } from "./metrics-sources.js";
import { Queries } from "./runner/queries.js";
import { startTracing, type Tracing } from "./tracing.js";

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
  openChangesNote(): Promise<string[]>;
  /**
   * Waits until no change is moving on its own (approved or rotating), at most `limitMs`: what
   * still waits for a person (an approval, a paused change) is for openChangesNote to say.
   */
  settle(say: (line: string) => void, limitMs?: number): Promise<void>;
  /**
   * Stops gracefully within the shutdown bound: takes no new request (those in flight are
   * answered), starts no new Azure write, lets the step in flight reach its boundary, releases the
   * runner lease, closes the store. Says what it did and what stays open.
   */
  close(): Promise<StopReport>;
}

export interface StopReport {
  readonly ms: number;
  /** Every HTTP request in flight was answered before the connections closed. */
  readonly requestsAnswered: boolean;
  /** Steps that reached an Azure write while stopping and were left before it (they resume on the next start). */
  readonly writesHeld: number;
  /** The engine finished what it had in flight (no step, timer or chat post was cut off by the bound). */
  readonly engineIdle: boolean;
  /** This process held the runner lease and gave it up (a standby takes over at once). */
  readonly leaseReleased: boolean;
  /** What happens to each open change, as it stands once stopped. */
  readonly openChanges: string[];
}

export interface StartOptions {
  env?: NodeJS.ProcessEnv;
  stdin?: Readable;
  stdout?: Writable;
  /** Force the console on (script runs) or off. */
  console?: boolean;
}

/** keyturn's Azure settings as the Azure ports take them (the store-backed parts are added by the caller). */
export function azureConfigOf(a: KeyturnConfig["azure"]): AzureConfig {
  return {
    subscriptionIds: a.subscriptionIds,
    vaultUrls: a.vaultUrls,
    armEndpoint: a.armEndpoint,
    armScope: a.armScope,
    caPem: a.caPem,
    // a sovereign or private endpoint (or the simulator) answers challenges for its own resource
    disableChallengeResourceVerification:
      !!a.armEndpoint || a.vaultUrls.some((u) => !/\.vault\.azure\.net\/?$/.test(u)),
    logAnalytics: a.logAnalytics,
    maxRetryAfterSeconds: a.maxRetryAfterSeconds,
    monitoringLatency: a.monitoringLatency,
    deadKeyProofSeconds: a.deadKeyProofSeconds,
    ...(a.credential === "simulator" ? { label: "SANDBOX" } : {}),
  };
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
  const env = opts.env ?? process.env;
  const stopWithinMs = shutdownLimitMs(env);
  const tracing: Tracing | null = await startTracing(env, logger);

  const opened = await openKeyturnStore(config.dataDir, env, logger);
  const store = observedStore(opened.store, logger);
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
        ...azureConfigOf(a),
        declaredConsumers: (id) => store.declaredConsumers(id),
        knownHolders: (id) => knownHoldersOf(store, id),
      },
      credentialFor(a.credential),
      logger,
    );
  }

  const policy = createPolicyBook(config.policy);
  const chats = new ChatRegistry();
  const clock = { now: () => new Date() };
  // once stopping, a step reaching its next Azure write waits there: the stop starts no new effect
  const gate = new EffectGate();
  const engine = createEngine({
    store,
    azure: gatedAzure(azure, gate),
    policy,
    chats,
    clock,
    logger,
    sandbox: config.sandbox || config.azure.credential === "simulator",
    ...(config.digestChannel ? { digestChannel: config.digestChannel } : {}),
    ...(config.scheduleChannel ? { scheduleChannel: config.scheduleChannel } : {}),
    // standby / take-over lines go to whoever started keyturn, not only to the log
    announce: (line) => stdout.write(line + "\n"),
    version: keyturnVersion(),
    lease: { ttlMs: leaseTtlMs(env) },
    // replicas on one PostgreSQL database: a standby answers and records commands, the runner acts
    standbyAccepts: opened.kind === "postgresql",
  });

  const app = express();
  app.disable("x-powered-by");
  // acknowledgement latency as the platform sees it: from the request's arrival to its answer
  app.use((req, res, next) => {
    const platform =
      req.method !== "POST"
        ? null
        : req.path.startsWith("/slack/")
          ? "slack"
          : req.path === "/api/messages"
            ? "teams"
            : null;
    if (platform) {
      const t0 = process.hrtime.bigint();
      res.once("finish", () => observeChatAck(platform, Number(process.hrtime.bigint() - t0) / 1e9));
    }
    next();
  });
  app.get("/metrics", (_req, res) => {
    metricsText().then(
      (text) => res.type(METRICS_CONTENT_TYPE).send(text),
      (e: unknown) => {
        logger.warn({ err: e }, "metrics could not be collected");
        res.status(500).type("text/plain").send("metrics could not be collected; see keyturn's log\n");
      },
    );
  });
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

  let issuer: SandboxEntraIssuer | null = null;
  if (config.api?.sandboxIssuer && simulator) {
    issuer = await startSandboxEntraIssuer({
      tenantId: simulator.tenantId,
      audience: config.api.audiences[0]!,
    });
  }
  if (config.api) {
    const api = issuer ? { ...config.api, tenantId: issuer.tenantId, authority: issuer.url } : config.api;
    app.use(
      createApiRouter({
        api: engine.api,
        verifier: createEntraVerifier(api),
        channel: api.channel,
        // a standby replica answers the API as well; a standby on one SQLite data directory refuses
        role: () => (engine.accepts() ? "runner" : "standby"),
        logger,
        label: config.sandbox || config.azure.credential === "simulator" ? "SANDBOX" : undefined,
        permalink: (id) => store.getKv<string>("permalink", id),
        idempotency: {
          get: (key) => store.getKv<IdempotencyRecord>("api.idempotency", key),
          put: (key, record) => store.putKv("api.idempotency", key, record),
        },
      }),
    );
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

  // Slack's requests are answered ahead of express (adapters/slack/receiver.ts); the rest go to express
  const server: Server = createServer((req, res) => void (slack?.serve(req, res) || app(req, res)));
  let port: number;
  try {
    port = await listenOn(server, config.port, config.host, { name: "keyturn", setting: "PORT" });
  } catch (e) {
    // nothing has started yet (the runner starts below): close what is open and say why
    await store.close();
    await simulator?.close();
    await issuer?.close();
    await tracing?.shutdown().catch(() => undefined);
    throw e;
  }
  await engine.start();
  const queries = new Queries(store, azure, policy, clock);
  const overdue = new OverdueCount(
    () => azure.accounts.listAccounts(),
    async (a) => (await queries.brief(a)).overdue,
    () => engine.role() === "runner",
    logger,
  );
  overdue.start();
  const detachMetrics = attachMetricsSources(storeSources(store, () => engine.role() === "runner", overdue));
  if (simulator) {
    // recorded by the runner only: after a crash the dead process's lease stands until this one
    // takes it, and a standby records nothing
    const sim = simulator;
    const declare = () => declareSandboxConsumers(store, sim.consumerSecrets, clock);
    if (engine.role() === "runner") await declare();
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
    opened.kind === "sqlite"
      ? `data: ${config.dataDir} (SQLite keyturn.db, log ${consoleOn ? config.logFile : "stderr"})`
      : `data: PostgreSQL ${opened.where} (runner: ${engine.role()}; local files in ${config.dataDir}, log ${consoleOn ? config.logFile : "stderr"})`,
    `platforms: ${chats
      .all()
      .map((g) => g.platform)
      .join(
        ", ",
      )}${slack ? ` · Slack at ${url}/slack/events` : ""}${teams ? ` · Teams at ${url}/api/messages${config.teams.appId ? "" : " (anonymous, local only)"}` : ""}`,
  ];
  if (config.api)
    lines.push(
      `API: ${url}/api/v1 (Entra tokens of tenant ${issuer?.tenantId ?? config.api.tenantId} for ${config.api.audiences.join(" or ")}; rotations post to ${config.api.channel.platform}:${config.api.channel.id})`,
    );
  if (issuer)
    lines.push(
      `API tokens (SANDBOX issuer): curl -s -d grant_type=client_credentials -d client_id=<object id, e.g. 11111111-1111-4111-8111-111111111111 for Alice> -d scope=${issuer.audience}/.default ${issuer.tokenUrl}`,
    );
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

  let closing: Promise<StopReport> | null = null;
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
      const moving = async () =>
        (await store.listChanges({ open: true })).filter(
          (c) => c.state === "approved" || c.state === "running",
        );
      // only the runner moves changes: a standby would wait for another process
      const first = engine.role() === "runner" ? await moving() : [];
      if (first.length)
        say(
          `Input ended: waiting for ${first.map((c) => c.id).join(", ")} to finish (Ctrl-C stops now; a rotation resumes on the next start).`,
        );
      const end = Date.now() + limitMs;
      while (first.length && (await moving()).length && Date.now() < end)
        await new Promise((r) => setTimeout(r, 200));
      await engine.idle();
    },
    close() {
      closing ??= stopGracefully();
      return closing;
    },
  };

  async function stopGracefully(): Promise<StopReport> {
    const t0 = Date.now();
    const left = () => Math.max(0, t0 + stopWithinMs - Date.now());
    // 1. take no new request; those in flight are answered (at most half the bound)
    gate.close();
    overdue.stop();
    const requestsAnswered = await drainHttp(server, Math.floor(stopWithinMs / 2));
    logger.info({ ms: Date.now() - t0, requestsAnswered }, "stopping: no new requests");
    // commands acknowledged earlier may still be working on their answer (Slack's work behind an
    // acknowledgement, Socket Mode): they finish before the store closes under them
    const commandsAnswered = await engine.answered(Math.floor(left() / 2));
    if (!commandsAnswered)
      logger.warn({ ms: Date.now() - t0 }, "stopping: a command was still being answered");
    // 2. the step in flight reaches its boundary; a step at its next Azure write waits at the gate
    const held = engine.role() === "runner";
    const engineStopped = engine.stop({ chatGraceMs: Math.min(2000, left()), requestGraceMs: left() }).then(
      () => "idle" as const,
      (e: unknown) => {
        logger.warn({ err: e }, "engine stop failed");
        return "failed" as const;
      },
    );
    const how = await Promise.race([
      engineStopped,
      gate.settled().then(() => "held" as const),
      sleep(left()).then(() => "bound" as const),
    ]);
    logger.info({ ms: Date.now() - t0, how, writesHeld: gate.held }, "stopping: engine stopped");
    await Promise.race([slack?.stop(), sleep(Math.min(left(), 1000))]);
    await teams?.stop();
    server.closeAllConnections();
    // 3. the lease goes (engine.stop released it unless the bound or the gate cut it short); no await
    // between the release and the close: nothing in flight can record once the lease is gone
    const leaseReleased = held && (await releaseLease());
    const openChanges = await openChangesNote(store, config.dataDir).catch((e: unknown) => [
      `Open changes could not be read (${e instanceof Error ? e.message : String(e)}): run \`list\` after the next start.`,
    ]);
    await store.close();
    detachMetrics();
    await simulator?.close();
    await issuer?.close();
    // buffered spans get a short flush; an unreachable collector does not hold the stop up
    if (tracing)
      await Promise.race([
        tracing.shutdown().catch(() => undefined),
        sleep(Math.min(2000, Math.max(left(), 200))),
      ]);
    const report: StopReport = {
      ms: Date.now() - t0,
      requestsAnswered,
      writesHeld: gate.held,
      engineIdle: how === "idle",
      leaseReleased,
      openChanges,
    };
    logger.info({ ...report, openChanges: openChanges.length }, "keyturn stopped");
    return report;
  }

  async function releaseLease(): Promise<boolean> {
    try {
      const mine = await store.runnerLease();
      await store.releaseLease(new Date());
      const after = await store.runnerLease();
      return !!mine && !!after && Date.parse(after.expiresAt) <= Date.now();
    } catch (e) {
      logger.warn({ err: e }, "could not release the runner lease; it expires by itself");
      return false;
    }
  }
}
