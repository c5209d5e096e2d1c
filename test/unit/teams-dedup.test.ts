import { describe, expect, it } from "vitest";
import { messageDedup } from "../../adapters/teams/dedup.js";
import { openStore } from "../../src/store/open-store.js";

describe("Teams message deduplication", () => {
  it("is kept in the store (a restart still knows the id) and bounded (the oldest ids are dropped)", () => {
    const store = openStore(":memory:");
    const first = messageDedup(store, 3);
    expect(["m1", "m2", "m1", "m3", "m4"].map((id) => first.firstDelivery(id))).toEqual([
      true,
      true,
      false,
      true,
      true,
    ]);
    const afterRestart = messageDedup(store, 3);
    expect(afterRestart.firstDelivery("m4")).toBe(false);
    expect(afterRestart.firstDelivery("m2")).toBe(false);
    // m1 fell out of the window of 3
    expect(afterRestart.firstDelivery("m1")).toBe(true);
    expect(afterRestart.firstDelivery("x".repeat(100_000))).toBe(true);
    // three entries of a fixed size, whatever the ids were
    expect(JSON.stringify(store.getKv<string[]>("teams.seen", "messages")).length).toBeLessThan(100);
  });
});
