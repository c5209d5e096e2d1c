/**
 * Acknowledgements first. Slack waits 3 s for the HTTP answer to a command or a click; what the
 * request asks for may take longer (an inventory, Azure calls, a reply on response_url). Under a
 * burst, the work of requests already acknowledged competes on the event loop with the requests
 * still waiting for theirs. So the work behind an acknowledgement starts only once the requests
 * have stopped coming: none waits for its answer and none has arrived for `quietMs` — never later
 * than `maxWaitMs`, so a steady stream of requests cannot hold it back for long.
 *
 * Why a quiet period and not only "none waiting": a burst reaches the process a request at a time
 * (each is read, acknowledged and gone before the next is accepted), so "none waiting" holds
 * between any two of them, and work released there delays the accept of the next one.
 */
import type { ServerResponse } from "node:http";
import type { NextFunction, Request, Response } from "express";

/** Longest the work behind an acknowledgement waits for other requests' acknowledgements. */
export const ACK_FIRST_MAX_WAIT_MS = 3_000;
/** How long no request must have arrived before the work behind acknowledgements starts. */
export const ACK_FIRST_QUIET_MS = 100;

export class AckFirst {
  #pending = 0;
  #lastArrival = -Infinity;
  #waiting = new Set<() => void>();
  #quietTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly maxWaitMs = ACK_FIRST_MAX_WAIT_MS,
    private readonly quietMs = ACK_FIRST_QUIET_MS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Requests received and not yet answered (HTTP receiver only; Socket Mode acks have no HTTP answer). */
  get pending(): number {
    return this.#pending;
  }

  /** Counts a request from its arrival until its answer is sent (or the client left). */
  track(res: Pick<ServerResponse, "once">): void {
    this.#pending++;
    this.#lastArrival = this.now();
    let done = false;
    const answered = () => {
      if (done) return;
      done = true;
      this.#pending--;
      if (this.#pending === 0) this.#whenQuiet();
    };
    res.once("finish", answered);
    res.once("close", answered);
  }

  /** Express middleware: `track` for each request. */
  readonly count = (_req: Request, res: Response, next: NextFunction): void => {
    this.track(res);
    next();
  };

  /**
   * Resolves when the work behind an acknowledgement may start: after the I/O already waiting
   * (setImmediate runs after the poll phase), once no request waits for its answer and none has
   * arrived for `quietMs`, or after `maxWaitMs`.
   */
  turn(): Promise<void> {
    return new Promise((resolve) =>
      setImmediate(() => {
        if (this.#quiet()) return resolve();
        const go = () => {
          clearTimeout(timer);
          this.#waiting.delete(go);
          resolve();
        };
        const timer = setTimeout(go, this.maxWaitMs);
        this.#waiting.add(go);
        if (this.#pending === 0) this.#whenQuiet();
      }),
    );
  }

  #quiet(): boolean {
    return this.#pending === 0 && this.now() - this.#lastArrival >= this.quietMs;
  }

  /** Releases the waiting work once the quiet period has passed (checked again if a request came meanwhile). */
  #whenQuiet(): void {
    if (this.#quietTimer || this.#waiting.size === 0) return;
    const wait = Math.max(0, this.quietMs - (this.now() - this.#lastArrival));
    this.#quietTimer = setTimeout(() => {
      this.#quietTimer = null;
      if (this.#pending > 0) return; // the last answer to go out checks again
      if (!this.#quiet()) return this.#whenQuiet();
      this.#releaseOne();
    }, wait);
    this.#quietTimer.unref();
  }

  /**
   * One waiting piece of work a turn, so a request that arrives meanwhile is read between them; a
   * request that arrived stops the release until it is quiet again.
   */
  #releaseOne(): void {
    setImmediate(() => {
      if (!this.#quiet()) return this.#whenQuiet();
      const [go] = this.#waiting;
      if (!go) return;
      go();
      this.#releaseOne();
    });
  }
}
