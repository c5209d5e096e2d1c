/**
 * The work behind a Slack acknowledgement waits until requests stop coming: a burst reaches the
 * process one request at a time, so "nobody waiting right now" is not enough. Fake timers: the
 * order of events is asserted, not durations.
 */
import { EventEmitter } from "node:events";
import type { NextFunction, Request, Response } from "express";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { AckFirst } from "../../adapters/slack/ack-first.js";

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

/** A request that arrives, is acknowledged and answered at once. */
function answeredRequest(a: AckFirst): void {
  const res = new EventEmitter();
  a.count({} as Request, res as unknown as Response, (() => undefined) as NextFunction);
  res.emit("finish");
}

describe("acknowledgements first", () => {
  it("work behind an acknowledgement starts after the next request of a burst, not between two of them", async () => {
    const a = new AckFirst(3_000, 100, () => Date.now());
    const order: string[] = [];
    answeredRequest(a);
    const work = a.turn().then(() => order.push("work"));
    await vi.advanceTimersByTimeAsync(10);
    answeredRequest(a);
    order.push("next request answered");
    await vi.advanceTimersByTimeAsync(50);
    answeredRequest(a);
    order.push("third request answered");
    await vi.advanceTimersByTimeAsync(200);
    await work;
    expect(order).toEqual(["next request answered", "third request answered", "work"]);
  });

  it("a steady stream of requests holds the work back no longer than the bound", async () => {
    const a = new AckFirst(1_000, 100, () => Date.now());
    let started = false;
    answeredRequest(a);
    void a.turn().then(() => (started = true));
    let requests = 0;
    while (!started && requests < 100) {
      await vi.advanceTimersByTimeAsync(50);
      answeredRequest(a);
      requests++;
    }
    expect(started).toBe(true);
    // one every 50 ms: about the bound's worth of them, never a quiet 100 ms
    expect(requests).toBeGreaterThanOrEqual(19);
    expect(requests).toBeLessThanOrEqual(21);
  });

  it("an idle bot starts the work once the quiet period has passed", async () => {
    const a = new AckFirst(3_000, 100, () => Date.now());
    answeredRequest(a);
    let started = false;
    void a.turn().then(() => (started = true));
    await vi.advanceTimersByTimeAsync(150);
    expect(started).toBe(true);
  });
});
