import { describe, expect, it } from "vitest";
import { messageDedup } from "../../adapters/teams/dedup.js";
import { openStore } from "../../src/store/open-store.js";
import { asyncStore } from "../../src/store/async-sqlite.js";

describe("Teams message deduplication", () => {
  it("is kept in the store (a restart still knows the id) and bounded (the oldest ids are dropped)", async () => {
    const store = openStore(":memory:");
    const first = messageDedup(asyncStore(store), 3);
    const seen: boolean[] = [];
    for (const id of ["m1", "m2", "m1", "m3", "m4"]) seen.push(await first.firstDelivery(id));
    expect(seen).toEqual([true, true, false, true, true]);
    const afterRestart = messageDedup(asyncStore(store), 3);
    expect(await afterRestart.firstDelivery("m4")).toBe(false);
    expect(await afterRestart.firstDelivery("m2")).toBe(false);
    // m1 fell out of the window of 3
    expect(await afterRestart.firstDelivery("m1")).toBe(true);
    expect(await afterRestart.firstDelivery("x".repeat(100_000))).toBe(true);
    // three entries of a fixed size, whatever the ids were
    expect(JSON.stringify(store.getKv<string[]>("teams.seen", "messages")).length).toBeLessThan(100);
  });
});

describe("Teams message deduplication under concurrent deliveries", () => {
  it("counts a redelivery arriving while the first is still being recorded once", async () => {
    const store = openStore(":memory:");
    const dedup = messageDedup(asyncStore(store), 10);
    // Bot Framework retries a message it got no answer to in time: both arrive before either is recorded
    const answers = await Promise.all([
      dedup.firstDelivery("m1"),
      dedup.firstDelivery("m1"),
      dedup.firstDelivery("m2"),
    ]);
    expect(answers).toEqual([true, false, true]);
  });
});
