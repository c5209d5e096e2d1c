/**
 * Shared pieces of the reliability suite: sizes (bounded inside `npm test`, full under
 * CHAOS_FULL=1), a seeded PRNG whose seed is printed, a standalone simulator child process and its
 * admin API, and a short-window policy file.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import YAML from "yaml";
import { Agent, fetch as undiciFetch } from "undici";
import { expect } from "vitest";
import type { Change } from "../../src/core/domain.js";
import { stopChild } from "./spawn-keyturn.js";

export const FULL = process.env.CHAOS_FULL === "1";
export const size = (full: number, bounded: number): number => (FULL ? full : bounded);

/** mulberry32: small, seedable, good enough to pick kill points and fuzz inputs reproducibly. */
export function seeded(label: string): {
  seed: number;
  next(): number;
  int(n: number): number;
  pick<T>(xs: readonly T[]): T;
} {
  const seed = process.env.CHAOS_SEED ? Number(process.env.CHAOS_SEED) : Math.floor(Math.random() * 2 ** 31);
  process.stdout.write(`${label}: seed ${seed} (CHAOS_SEED=${seed} repeats it)\n`);
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    seed,
    next,
    int: (n) => Math.floor(next() * n),
    pick: (xs) => xs[Math.floor(next() * xs.length)]!,
  };
}

export const SUB_PROD = "00000000-0000-4000-8000-0000000000a1";
export const SUB_DEV = "00000000-0000-4000-8000-0000000000b2";
export const accountId = (sub: string, rg: string, name: string) =>
  `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.CognitiveServices/accounts/${name}`;
/** The scenario's rotatable accounts and the Key Vault secret each one's consumers read. */
export const ROTATABLE = [
  {
    name: "contoso-translator",
    id: accountId(SUB_PROD, "rg-ai-prod", "contoso-translator"),
    secret: "translator-key",
  },
  { name: "contoso-openai", id: accountId(SUB_PROD, "rg-ai-prod", "contoso-openai"), secret: "openai-key" },
  { name: "contoso-speech", id: accountId(SUB_PROD, "rg-ai-prod", "contoso-speech"), secret: "speech-key" },
  { name: "fabrikam-ai", id: accountId(SUB_DEV, "rg-ai-dev", "fabrikam-ai"), secret: "fabrikam-key" },
] as const;

/** The sandbox policy with short windows, written where KEYTURN_POLICY_FILE can point. */
export function writeShortPolicy(dir: string, windows: Record<string, string> = {}): string {
  const base = YAML.parse(
    readFileSync(new URL("../../src/sandbox/scenarios/default-policy.yaml", import.meta.url), "utf8"),
  ) as { defaults: Record<string, unknown> };
  const policy = {
    ...base,
    defaults: {
      ...base.defaults,
      propagation: "1s",
      exposurePropagation: "1s",
      soak: "1s",
      exposureSoak: "1s",
      ...windows,
    },
  };
  const path = join(dir, "policy.yaml");
  writeFileSync(path, YAML.stringify(policy));
  return path;
}

export interface StandaloneSimulator {
  readonly child: ChildProcess;
  readonly env: Record<string, string>;
  readonly armEndpoint: string;
  readonly adminUrl: string;
  readonly caPem: string;
  readonly vaultUrl: string;
  admin<T>(method: string, path: string, body?: unknown): Promise<T>;
  /** A secret's current value and the account's two keys, read as keyturn reads them (over HTTPS). */
  secretValue(name: string): Promise<string>;
  liveKeys(accountId: string): Promise<{ key1: string; key2: string }>;
  stop(): Promise<void>;
}

const TOKEN =
  "sim." +
  Buffer.from(
    JSON.stringify({
      name: "chaos-observer",
      objectId: "0b5e0000-0000-4000-8000-000000000001",
      ip: "10.0.0.9",
    }),
  ).toString("base64url");

export async function startStandaloneSimulator(
  dir: string,
  extra: string[] = [],
): Promise<StandaloneSimulator> {
  const child = spawn(
    process.execPath,
    [
      "dist/src/sandbox/standalone.js",
      "--state-file",
      join(dir, "sim-state.json"),
      "--data-dir",
      join(dir, "sim"),
      "--consumer-tick-ms",
      "200",
      // no monitoring delays or slow key invalidation unless a suite asks (the standalone default is Azure's)
      "--timing",
      "fast",
      ...extra,
    ],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`simulator did not start:\n${out}`)), 30_000);
    child.stdout.on("data", () => {
      if (/simulator ready on/.test(out)) {
        clearTimeout(t);
        resolve();
      }
    });
    child.once("exit", (c) => reject(new Error(`simulator exited ${c}:\n${out}`)));
  });
  const env: Record<string, string> = {};
  for (const m of out.matchAll(/^\s+([A-Z_]+)=(\S+)$/gm)) env[m[1]!] = m[2]!;
  const adminUrl = /Admin:\s+(\S+)/.exec(out)![1]!;
  const caPem = readFileSync(env.AZURE_CA_FILE!, "utf8");
  const dispatcher = new Agent({ connect: { ca: caPem } });
  const vaultUrl = env.AZURE_KEY_VAULT_URLS!.split(",")[0]!;
  const call = async <T>(
    url: string,
    init: { method?: string; body?: string; headers?: Record<string, string> } = {},
  ): Promise<T> => {
    const r = await undiciFetch(url, { ...init, dispatcher });
    const text = await r.text();
    if (r.status >= 400) throw new Error(`${init.method ?? "GET"} ${url} → ${r.status}`);
    return (text ? JSON.parse(text) : undefined) as T;
  };
  const auth = { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" };
  return {
    child,
    env,
    armEndpoint: env.AZURE_ARM_ENDPOINT!,
    adminUrl,
    caPem,
    vaultUrl,
    admin: (method, path, body) =>
      call(`${adminUrl}${path}`, {
        method,
        ...(body === undefined
          ? {}
          : { body: JSON.stringify(body), headers: { "content-type": "application/json" } }),
      }),
    secretValue: async (name) =>
      (await call<{ value: string }>(`${vaultUrl}/secrets/${name}?api-version=7.5`, { headers: auth })).value,
    liveKeys: async (id) =>
      call<{ key1: string; key2: string }>(`${env.AZURE_ARM_ENDPOINT}${id}/listKeys?api-version=2023-05-01`, {
        method: "POST",
        headers: auth,
      }),
    async stop() {
      await stopChild(child);
      await dispatcher.close();
    },
  };
}

/** The keyturn env that points it at a standalone simulator, as at real Azure. */
export const azureEnv = (sim: StandaloneSimulator): Record<string, string> => ({
  AZURE_SUBSCRIPTION_IDS: sim.env.AZURE_SUBSCRIPTION_IDS!,
  AZURE_KEY_VAULT_URLS: sim.env.AZURE_KEY_VAULT_URLS!,
  AZURE_ARM_ENDPOINT: sim.env.AZURE_ARM_ENDPOINT!,
  AZURE_CA_FILE: sim.env.AZURE_CA_FILE!,
  AZURE_CREDENTIAL: "simulator",
  AZURE_LOG_ANALYTICS_ENDPOINT: sim.env.AZURE_LOG_ANALYTICS_ENDPOINT!,
  AZURE_LOG_ANALYTICS_WORKSPACE_ID: sim.env.AZURE_LOG_ANALYTICS_WORKSPACE_ID!,
  KEYTURN_METRICS_LATENCY_SECONDS: sim.env.KEYTURN_METRICS_LATENCY_SECONDS ?? "0",
  KEYTURN_LOGS_LATENCY_SECONDS: sim.env.KEYTURN_LOGS_LATENCY_SECONDS ?? "0",
});

/** The caller the simulator's laptop script calls from: a soak's findings must name it. */
export const LAPTOP = "203.0.113.7";

/**
 * How every change of a chaos run must end, printed one a line: paused with a reason, rolled back
 * only when a pause asked for it (`pausedWithReason`), completed with findings naming the laptop, or
 * completed.
 */
export function expectEveryChangeEnded(
  changes: readonly Change[],
  pausedWithReason: ReadonlyMap<string, string>,
): void {
  process.stdout.write(
    changes
      .map(
        (c) =>
          `  ${c.id} ${c.accountName}: ${c.state}${c.pause ? ` (${c.pause.code}: ${c.pause.message})` : ""}`,
      )
      .join("\n") + "\n",
  );
  for (const c of changes) {
    if (c.state === "paused") expect(c.pause?.message, `${c.id} paused without a reason`).toBeTruthy();
    else if (c.state === "rolled_back")
      expect(pausedWithReason.has(c.id), `${c.id} rolled back unasked`).toBe(true);
    else if (c.state === "completed_with_findings")
      expect(JSON.stringify(c.findings), `${c.id}: its findings name the laptop`).toContain(LAPTOP);
    else expect(c.state, `${c.id}: ${c.pause?.message ?? ""}`).toBe("completed");
  }
}
