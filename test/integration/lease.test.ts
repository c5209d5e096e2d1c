/**
 * The runner lease on a real SQLite file, as two keyturn processes share one data directory: one
 * runner at a time, a fencing token that grows on every take-over, a deposed runner's writes refused
 * in the transaction that would record them, and engines that stand by and take over.
 */
import { describe, expect, it } from "vitest";
import type { AzurePorts, LeaseClaim, NewEvent, Store } from "../../src/core/ports.js";
import { createPolicyBook, parsePolicy } from "../../src/core/policy.js";
import { createLogger } from "../../src/log.js";
import { ChatRegistry } from "../../src/runner/chat-registry.js";
import { createEngine, type Engine } from "../../src/runner/engine.js";
import { openStore } from "../../src/store/open-store.js";
import { change } from "../support/change-fixture.js";
import { useTempDir } from "../support/temp-dir.js";
import { asyncStore } from "../../src/store/async-sqlite.js";

const tmp = useTempDir("keyturn-lease-");
const dbPath = () => tmp.current.file("keyturn.db");
const TTL = 15_000;
const claim = (name: string, pid = 4242): LeaseClaim => ({
  holder: `host-a/${pid}/${name}`,
  pid,
  host: "host-a",
});
const ev = (type: string): NewEvent => ({
  changeId: "CHG-1",
  type,
  at: new Date().toISOString(),
  actor: "keyturn",
  payload: {},
});
const at = (t0: Date, ms: number) => new Date(t0.getTime() + ms);

describe("the runner lease in the store", () => {
  it("is taken once, renewed without a new token, and taken over with a new token after it expires", () => {
    const a = openStore(dbPath());
    const b = openStore(dbPath());
    const t0 = new Date();
    const first = a.acquireLease(claim("a"), TTL, t0);
    expect(first).toMatchObject({ acquired: true, lease: { holder: "host-a/4242/a", token: 1, pid: 4242 } });
    expect(first.lease.expiresAt).toBe(at(t0, TTL).toISOString());

    // another process while the lease is live: refused, and told who holds it
    const refused = b.acquireLease(claim("b", 5151), TTL, at(t0, 5000));
    expect(refused).toMatchObject({ acquired: false, lease: { holder: "host-a/4242/a", token: 1 } });

    // the heartbeat moves the expiry, never the token
    const renewed = a.renewLease(TTL, at(t0, 10_000));
    expect(renewed).toMatchObject({ token: 1, expiresAt: at(t0, 25_000).toISOString() });
    expect(b.acquireLease(claim("b", 5151), TTL, at(t0, 20_000)).acquired).toBe(false);

    // a renewal missed for a whole TTL: the lease is free and the next holder gets token 2
    const taken = b.acquireLease(claim("b", 5151), TTL, at(t0, 25_001));
    expect(taken).toMatchObject({ acquired: true, lease: { holder: "host-a/5151/b", token: 2 } });
    expect(a.runnerLease()).toMatchObject({ holder: "host-a/5151/b", token: 2 });

    // a clean stop gives it up at once; the next token is still one more
    b.releaseLease(at(t0, 26_000));
    expect(a.acquireLease(claim("a2"), TTL, at(t0, 26_001))).toMatchObject({
      acquired: true,
      lease: { token: 3 },
    });
    a.close();
    b.close();
  });

  it("refuses a deposed runner's renewal and commits, in the transaction that would record them", () => {
    const a = openStore(dbPath());
    const b = openStore(dbPath());
    const t0 = new Date();
    a.acquireLease(claim("a"), TTL, at(t0, -30_000));
    a.commit(change(), [ev("step_started")]);
    // a stalled a (a long pause, a frozen disk) lets its lease lapse; b takes over
    expect(b.acquireLease(claim("b", 5151), TTL, t0).acquired).toBe(true);

    expect(() => a.renewLease(TTL, t0)).toThrow(
      expect.objectContaining({
        name: "LeaseLost",
        message: expect.stringMatching(/pid 5151 on host host-a/),
      }),
    );
    // the effect a finished after waking up is not recorded: no event, no read-model change
    expect(() => a.commit(change({ state: "completed" }), [ev("step_succeeded")])).toThrow(
      expect.objectContaining({ name: "LeaseLost" }),
    );
    expect(b.events().map((e) => e.type)).toEqual(["step_started"]);
    expect(b.getChange("CHG-1")?.state).not.toBe("completed");
    // the runner writes; a process that never took the lease does not, while it is live
    b.commit(change({ state: "running" }), [ev("step_acted")]);
    const tool = openStore(dbPath());
    expect(() => tool.commit(null, [ev("note")])).toThrow(expect.objectContaining({ name: "LeaseLost" }));
    expect(b.events().map((e) => e.type)).toEqual(["step_started", "step_acted"]);
    expect(b.verify().ok).toBe(true);
    for (const s of [a, b, tool]) s.close();
  });

  it("is taken over before it expires only from the holder named as gone", () => {
    const a = openStore(dbPath());
    const b = openStore(dbPath());
    const t0 = new Date();
    a.acquireLease(claim("a"), TTL, t0);
    expect(b.acquireLease(claim("b", 5151), TTL, at(t0, 1000), "host-a/4242/someone-else").acquired).toBe(
      false,
    );
    expect(b.acquireLease(claim("b", 5151), TTL, at(t0, 1000), "host-a/4242/a")).toMatchObject({
      acquired: true,
      lease: { token: 2 },
    });
    a.close();
    b.close();
  });
});

// ---------------------------------------------------------------- engines on one store

/** Engines here never reach Azure: no change is opened. Any call would be a test bug. */
const noAzure = new Proxy(
  {},
  {
    get: () =>
      new Proxy(
        {},
        {
          get: () => () => Promise.reject(new Error("Azure is not part of this test")),
        },
      ),
  },
) as AzurePorts;

function engineOn(store: Store, name: string, pid: number, lines: string[], gone = false): Engine {
  return createEngine({
    store: asyncStore(store),
    azure: noAzure,
    policy: createPolicyBook(parsePolicy({ defaults: { approvers: ["bob@contoso.com"] } })),
    chats: new ChatRegistry(),
    clock: { now: () => new Date() },
    logger: createLogger({ level: "silent" }),
    sandbox: true,
    tickMs: 50,
    announce: (l) => lines.push(`${name}: ${l}`),
    lease: {
      ttlMs: 1500,
      pollMs: 50,
      claim: { holder: `test/${pid}/${name}`, pid, host: "test-host" },
      holderGone: () => gone,
    },
  });
}

const until = async (what: string, fn: () => boolean, ms = 5000): Promise<void> => {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

const bob = {
  principal: {
    platform: "console" as const,
    id: "console:bob",
    displayName: "Bob",
    identities: ["bob@contoso.com"],
  },
  channel: { platform: "console" as const, id: "incident" },
};

describe("engines sharing one data directory", () => {
  it("runs one runner; the other stands by, refuses requests, and takes over when the runner stops", async () => {
    const lines: string[] = [];
    const sa = openStore(dbPath());
    const sb = openStore(dbPath());
    const a = engineOn(sa, "a", 101, lines);
    const b = engineOn(sb, "b", 202, lines);
    await a.start();
    await b.start();
    expect([a.role(), b.role()]).toEqual(["runner", "standby"]);
    expect(lines.join("\n")).toMatch(
      /b: keyturn: STANDBY — another keyturn process .*\(pid 101 on host test-host/,
    );
    expect(lines.join("\n")).toMatch(/KEYTURN_DATA_DIR/);

    const reply = await b.service.handleText(bob, "help");
    expect(reply.message.text).toMatch(/on standby.*pid 101 on host test-host.*Nothing was recorded/);
    expect((await a.service.handleText(bob, "help")).message.text).not.toMatch(/standby/);

    await a.stop();
    await until("b to take over", () => b.role() === "runner", 2000);
    expect(lines.at(-1)).toMatch(
      /b: keyturn: now the runner \(lease 2\), after pid 101 on host test-host stopped/,
    );
    await b.stop();
    sa.close();
    sb.close();
  });

  it("a runner whose lease was taken stops acting and stands by; a gone holder is replaced at once", async () => {
    const lines: string[] = [];
    const sa = openStore(dbPath());
    const sb = openStore(dbPath());
    const a = engineOn(sa, "a", 101, lines);
    // b believes a is gone (as for a SIGKILLed process on this host): it takes over without waiting
    const b = engineOn(sb, "b", 202, lines, true);
    await a.start();
    const t = Date.now();
    await b.start();
    expect(b.role()).toBe("runner");
    expect(Date.now() - t).toBeLessThan(1000);
    expect(sb.runnerLease()).toMatchObject({ holder: "test/202/b", token: 2 });
    expect(lines.join("\n")).toMatch(
      /b: keyturn: now the runner \(lease 2\), after pid 101 on host test-host is no longer running/,
    );

    // a learns it on its next heartbeat (or its next write): it stops and says so
    await until("a to stand by", () => a.role() === "standby", 2000);
    expect(lines.join("\n")).toMatch(
      /a: keyturn: another keyturn process took over as the runner \(pid 202 on host test-host\)/,
    );
    expect(() => sa.commit(null, [ev("note")])).toThrow(expect.objectContaining({ name: "LeaseLost" }));
    expect((await a.service.handleText(bob, "help")).message.text).toMatch(/on standby/);
    await a.stop();
    await b.stop();
    sa.close();
    sb.close();
  });
});
