/**
 * A keyturn runner process for the durability test: engine + SQLite file + the real Azure SDK
 * clients pointed at a simulated tenant, chat written to a file. It requests and approves the
 * scenario's rotations when the store is empty, then runs until every change is closed.
 * KILL_AFTER_SEQ=n: after committing event n it prints "PAUSED n" and freezes, so the parent can
 * SIGKILL it exactly at that boundary. Every commit is printed as "EVENT <seq> <type>".
 */
import { appendFileSync, readFileSync } from "node:fs";
import { createAzurePorts } from "../../src/azure/index.js";
import type { Principal, ThreadRef } from "../../src/core/domain.js";
import type { ChatGateway, Store, StoredEvent } from "../../src/core/ports.js";
import { createPolicyBook, parsePolicy } from "../../src/core/policy.js";
import { createLogger } from "../../src/log.js";
import { ChatRegistry } from "../../src/runner/chat-registry.js";
import { createEngine } from "../../src/runner/engine.js";
import { createSimulatorCredential, simulatorAzureConfig } from "../../src/sandbox/index.js";
import { openStore } from "../../src/store/open-store.js";
import { asyncStore } from "../../src/store/async-sqlite.js";

const env = process.env;
const killAfter = env.KILL_AFTER_SEQ ? Number(env.KILL_AFTER_SEQ) : Infinity;
const freeze = new Int32Array(new SharedArrayBuffer(4));
// the events that mark a step boundary or an effect's intent: the points a crash matters most
const BOUNDARIES = new Set([
  "change_requested",
  "thread_opened",
  "submitted",
  "approved",
  "plan_revalidated",
  "step_started",
  "effect_intent",
  "step_acted",
  "step_succeeded",
]);

const raw = openStore(env.DB!);
/** Each committed event printed; at the boundary asked for, the process freezes right after it. */
const report = (stored: readonly StoredEvent[]): void => {
  for (const e of stored) {
    process.stdout.write(`EVENT ${e.seq} ${e.type}\n`);
    if (e.seq >= killAfter && BOUNDARIES.has(e.type)) {
      process.stdout.write(`PAUSED ${e.seq}\n`);
      Atomics.wait(freeze, 0, 0, 60_000);
    }
  }
};
const store: Store = {
  ...raw,
  commit(change, events, opts) {
    const stored = raw.commit(change, events, opts);
    report(stored);
    return stored;
  },
  // the runner's decisions on a change: the events it wrote are the newest of that change
  commitOn(id, decide, opts) {
    let written = 0;
    const current = raw.commitOn(
      id,
      (c) => {
        const d = decide(c);
        written = d?.events.length ?? 0;
        return d;
      },
      opts,
    );
    if (written) report(raw.events({ changeId: id }).slice(-written));
    return current;
  },
};

const chatFile = env.CHAT_FILE!;
let n = 0;
const chat: ChatGateway = {
  platform: "console",
  async postRoot(channel, m) {
    appendFileSync(chatFile, JSON.stringify({ root: true, m }) + "\n");
    return { platform: "console", channel: channel.id, root: `${process.pid}-${++n}` } satisfies ThreadRef;
  },
  async updateRoot(_t, m) {
    appendFileSync(chatFile, JSON.stringify({ update: true, m }) + "\n");
  },
  async reply(_t, m) {
    appendFileSync(chatFile, JSON.stringify({ reply: true, m }) + "\n");
  },
  async notify(_u, m) {
    appendFileSync(chatFile, JSON.stringify({ dm: true, m }) + "\n");
    return { platform: "console", channel: "dm", root: `${process.pid}-${++n}` } satisfies ThreadRef;
  },
  async permalink() {
    return undefined;
  },
  async attach() {},
};

const logger = createLogger({ level: "info", destination: env.LOG_FILE! });
const azure = createAzurePorts(
  {
    ...simulatorAzureConfig({
      subscriptionIds: JSON.parse(env.SIM_SUBSCRIPTIONS!) as string[],
      vaultUrls: JSON.parse(env.SIM_VAULTS!) as string[],
      armEndpoint: env.SIM_ARM!,
      caPem: readFileSync(env.SIM_CA!, "utf8"),
    }),
    maxRetryAfterSeconds: 2,
  },
  createSimulatorCredential(),
  logger,
);
const chats = new ChatRegistry();
chats.register(chat);
const policy = parsePolicy({
  people: Object.fromEntries(
    ["alice", "bob", "carol"].map((n) => [n, { identities: [`${n}@contoso.com`, `console:${n}`] }]),
  ),
  defaults: {
    approvers: ["group:secops", "group:platform"],
    approvalsRequired: 1,
    propagation: "1s",
    exposurePropagation: "1s",
    soak: "1s",
    exposureSoak: "1s",
  },
  groups: { secops: ["person:bob"], platform: ["person:carol"] },
  policies: [{ name: "production", match: { resourceGroups: ["rg-ai-prod"] }, approvalsRequired: 2 }],
});
const engine = createEngine({
  store: asyncStore(store),
  azure,
  policy: createPolicyBook(policy),
  chats,
  clock: { now: () => new Date() },
  logger,
  sandbox: true,
  tickMs: 100,
  sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 200))),
});

const person = (name: string, display: string): Principal => ({
  platform: "console",
  id: `console:${name}`,
  displayName: display,
  identities: [`${name}@contoso.com`, `console:${name}`],
});
const alice = person("alice", "Alice Ng");
const bob = person("bob", "Bob Okafor");
const carol = person("carol", "Carol Diaz");
const channel = { platform: "console" as const, id: "incident" };

await engine.start();
// the previous child was SIGKILLed on this host: its lease is taken over at once
await engine.whenRunner();
for (const [account, text] of [
  ["contoso-translator", 'rotate contoso-translator --reason "durability"'],
  ["contoso-openai", 'rotate contoso-openai --exposure key1 --reason "durability, exposure"'],
] as const) {
  if (store.listChanges().some((c) => c.accountName === account)) continue;
  const r = await engine.service.handleText({ principal: alice, channel }, text);
  process.stdout.write(`REPLY ${r.message.text}\n`);
}
// approvals are idempotent here: a repeat after a restart is refused as already given
for (const c of store.listChanges({ open: true })) {
  if (c.state !== "awaiting_approval") continue;
  for (const who of [bob, carol]) {
    if (c.approvals.some((a) => a.by.id === who.id)) continue;
    await engine.service.handleAction(
      { principal: who, channel },
      { kind: "approve", changeId: c.id, planHash: c.plan.hash },
    );
  }
}
for (;;) {
  const open = store.listChanges({ open: true });
  if (open.length === 0) break;
  const paused = open.find((c) => c.state === "paused");
  if (paused) {
    process.stdout.write(`PAUSE-REASON ${paused.id} ${paused.pause?.code} ${paused.pause?.message}\n`);
    await engine.service.handleAction({ principal: bob, channel }, { kind: "resume", changeId: paused.id });
  }
  await new Promise((r) => setTimeout(r, 100));
}
await engine.idle();
process.stdout.write("ALL DONE\n");
await engine.stop();
raw.close();
process.exit(0);
