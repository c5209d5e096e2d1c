/**
 * keyturn's ARM clients share one bounded keep-alive pool: a burst of calls waits for a free
 * connection instead of opening one (a TCP and TLS handshake) per call in flight, and the next
 * burst reuses them. Connections are counted on the wire, by a TCP relay in front of the simulated
 * tenant (TLS passes through it untouched).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, connect, type Server } from "node:net";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createAzurePorts } from "../../src/azure/index.js";
import { AZURE_MAX_SOCKETS } from "../../src/azure/pipeline.js";
import { createLogger } from "../../src/log.js";
import {
  createSimulatorCredential,
  simulatorAzureConfig,
  startSimulator,
  type Simulator,
} from "../../src/sandbox/index.js";

const translator =
  "/subscriptions/00000000-0000-4000-8000-0000000000a1/resourceGroups/rg-ai-prod/providers/Microsoft.CognitiveServices/accounts/contoso-translator";

let dir: string;
let sim: Simulator;
let relay: Server;
let connections = 0;
const open = new Set<{ destroy(): void }>();

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "keyturn-azure-connections-"));
  sim = await startSimulator({ dataDir: join(dir, "sim"), consumers: false, armLatencyMs: 50 });
  const target = new URL(sim.armEndpoint);
  connections = 0;
  relay = createServer((client) => {
    connections++;
    const upstream = connect(Number(target.port), target.hostname);
    open.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
  });
  await new Promise<void>((r) => relay.listen(0, "127.0.0.1", r));
});

afterEach(async () => {
  // the pool keeps its connections open: the relay's close waits for them
  for (const s of open) s.destroy();
  open.clear();
  await new Promise((r) => relay?.close(r));
  await sim?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("connections to Azure", () => {
  it("a burst of ARM calls opens at most the pool's bound, and the next burst reuses them", async () => {
    const port = (relay.address() as AddressInfo).port;
    const azure = createAzurePorts(
      { ...simulatorAzureConfig(sim), armEndpoint: `https://127.0.0.1:${port}` },
      createSimulatorCredential(),
      createLogger({ level: "silent" }),
    );
    const burst = () =>
      Promise.all(Array.from({ length: AZURE_MAX_SOCKETS + 16 }, () => azure.accounts.listKeys(translator)));

    const first = await burst();
    expect(first.every((k) => k.key1 && k.key2)).toBe(true);
    expect(connections).toBeGreaterThan(0);
    expect(connections).toBeLessThanOrEqual(AZURE_MAX_SOCKETS);
    const opened = connections;

    await burst();
    expect(connections).toBe(opened);
  });
});
