/**
 * The stop's gate on Azure writes: once keyturn is stopping, a step that reaches regenerate, publish
 * or refresh does not start it (it waits, to be resumed by the next runner); reads still pass, and a
 * write already under way finishes.
 */
import { describe, expect, it } from "vitest";
import type { AzurePorts } from "../../src/core/ports.js";
import { EffectGate, gatedAzure, shutdownLimitMs } from "../../src/graceful-stop.js";

function fakeAzure(calls: string[]): AzurePorts {
  const track =
    (name: string, ms = 0) =>
    async () => {
      calls.push(`${name} start`);
      await new Promise((r) => setTimeout(r, ms));
      calls.push(`${name} done`);
      return true;
    };
  return {
    accounts: {
      listKeys: track("listKeys"),
      regenerateKey: track("regenerateKey", 50),
      setLocalAuth: track("setLocalAuth"),
    },
    secrets: { publish: track("publish") },
    consumers: { refresh: track("refresh") },
  } as unknown as AzurePorts;
}

describe("the effect gate", () => {
  it("lets a write under way finish, starts no write after closing, and lets reads through", async () => {
    const calls: string[] = [];
    const gate = new EffectGate();
    const azure = gatedAzure(fakeAzure(calls), gate);
    const underWay = azure.accounts.regenerateKey("acc", "key2");
    gate.close();
    await underWay;
    expect(calls).toEqual(["regenerateKey start", "regenerateKey done"]);

    let published = false;
    void azure.secrets.publish({} as never, {} as never, {}).then(() => (published = true));
    void azure.consumers.refresh({} as never);
    await azure.accounts.listKeys("acc");
    await gate.settled(20, 5);
    expect(published).toBe(false);
    expect(gate.held).toBe(2);
    expect(calls).toEqual(["regenerateKey start", "regenerateKey done", "listKeys start", "listKeys done"]);
  });

  it("holds turning local auth off or on like any other write", async () => {
    const calls: string[] = [];
    const gate = new EffectGate();
    const azure = gatedAzure(fakeAzure(calls), gate);
    gate.close();
    void azure.accounts.setLocalAuth?.("acc", true);
    await gate.settled(20, 5);
    expect(gate.held).toBe(1);
    expect(calls).toEqual([]);
  });

  it("reads the bound from KEYTURN_SHUTDOWN_SECONDS and says how to fix a bad one", () => {
    expect(shutdownLimitMs({})).toBe(10_000);
    expect(shutdownLimitMs({ KEYTURN_SHUTDOWN_SECONDS: "2.5" })).toBe(2500);
    expect(() => shutdownLimitMs({ KEYTURN_SHUTDOWN_SECONDS: "soon" })).toThrow(
      /KEYTURN_SHUTDOWN_SECONDS is "soon": give the seconds keyturn may take to stop/,
    );
  });
});
