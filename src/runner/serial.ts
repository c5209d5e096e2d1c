/**
 * Per-key serial queues: everything that touches one change (events, chat posts) runs in order,
 * while different changes proceed in parallel. `idle()` resolves when every queue is drained.
 */
export class SerialQueues {
  readonly #tails = new Map<string, Promise<unknown>>();
  #pending = 0;
  #waiters: (() => void)[] = [];

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const prev = this.#tails.get(key) ?? Promise.resolve();
    this.#pending++;
    const next = prev.then(task, task);
    const settled = next.then(
      () => undefined,
      () => undefined,
    );
    this.#tails.set(key, settled);
    void settled.then(() => {
      if (this.#tails.get(key) === settled) this.#tails.delete(key);
      this.#pending--;
      if (this.#pending === 0) for (const w of this.#waiters.splice(0)) w();
    });
    return next;
  }

  get pending(): number {
    return this.#pending;
  }

  idle(): Promise<void> {
    if (this.#pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }
}
