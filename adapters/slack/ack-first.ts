/**
 * Acknowledgements first. Slack waits 3 s for the HTTP answer to a command or a click; what the
 * request asks for may take longer (an inventory, Azure calls, a reply on response_url). Under a
 * burst, the work of requests already acknowledged competes on the event loop with the requests
 * still waiting for theirs. So the work behind an acknowledgement starts only once no request is
 * waiting for its answer — never later than `maxWaitMs`, so a steady stream of requests cannot hold
 * it back for long.
 */
import type { NextFunction, Request, Response } from "express";

/** Longest the work behind an acknowledgement waits for other requests' acknowledgements. */
export const ACK_FIRST_MAX_WAIT_MS = 2_000;

export class AckFirst {
  #pending = 0;
  #waiting = new Set<() => void>();

  constructor(private readonly maxWaitMs = ACK_FIRST_MAX_WAIT_MS) {}

  /** Requests received and not yet answered (HTTP receiver only; Socket Mode acks have no HTTP answer). */
  get pending(): number {
    return this.#pending;
  }

  /** Express middleware counting a request from its arrival until its answer is sent (or the client left). */
  readonly count = (_req: Request, res: Response, next: NextFunction): void => {
    this.#pending++;
    let done = false;
    const answered = () => {
      if (done) return;
      done = true;
      this.#pending--;
      if (this.#pending === 0) this.#release();
    };
    res.once("finish", answered);
    res.once("close", answered);
    next();
  };

  /**
   * Resolves when the work behind an acknowledgement may start: after the I/O already waiting
   * (setImmediate runs after the poll phase), once no request waits for its answer, or after
   * `maxWaitMs`.
   */
  turn(): Promise<void> {
    return new Promise((resolve) =>
      setImmediate(() => {
        if (this.#pending === 0) return resolve();
        const go = () => {
          clearTimeout(timer);
          this.#waiting.delete(go);
          resolve();
        };
        const timer = setTimeout(go, this.maxWaitMs);
        this.#waiting.add(go);
      }),
    );
  }

  #release(): void {
    const waiting = [...this.#waiting];
    // each on its own turn, so a request that arrives meanwhile is read between them
    for (const go of waiting) setImmediate(go);
  }
}
