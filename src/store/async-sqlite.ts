/**
 * The SQLite store behind the asynchronous port: each call runs at once (better-sqlite3 is
 * synchronous) and its answer, or its error, comes back through a promise. A caller written against
 * `AsyncStore` runs on SQLite and on PostgreSQL alike.
 */
import type { AsyncStore, Store } from "../core/ports.js";

export function asyncStore(s: Store): AsyncStore {
  const later =
    <A extends unknown[], R>(f: (...a: A) => R) =>
    (...a: A): Promise<R> => {
      // an async function turns a throw into a rejection with the very same error
      const run = async () => f(...a);
      return run();
    };
  return {
    acquireLease: later(s.acquireLease.bind(s)),
    renewLease: later(s.renewLease.bind(s)),
    releaseLease: later(s.releaseLease.bind(s)),
    runnerLease: later(s.runnerLease.bind(s)),
    nextChangeId: later(s.nextChangeId.bind(s)),
    commit: later(s.commit.bind(s)),
    commitOn: later(s.commitOn.bind(s)),
    getChange: later(s.getChange.bind(s)),
    listChanges: later(s.listChanges.bind(s)),
    lastRotation: later(s.lastRotation.bind(s)),
    events: later(s.events.bind(s)),
    verify: later(s.verify.bind(s)),
    checkpoint: later(s.checkpoint.bind(s)),
    changeFromEvents: later(s.changeFromEvents.bind(s)),
    setTimer: later(s.setTimer.bind(s)),
    clearTimer: later(s.clearTimer.bind(s)),
    dueTimers: later(s.dueTimers.bind(s)),
    claimIdempotencyKey: later(s.claimIdempotencyKey.bind(s)),
    addDeclaredConsumer: later(s.addDeclaredConsumer.bind(s)),
    removeDeclaredConsumer: later(s.removeDeclaredConsumer.bind(s)),
    declaredConsumers: later(s.declaredConsumers.bind(s)),
    putKv: later(s.putKv.bind(s)),
    getKv: <T>(namespace: string, key: string) => later(() => s.getKv<T>(namespace, key))(),
    listKv: <T>(namespace: string) => later(() => s.listKv<T>(namespace))(),
    close: later(s.close.bind(s)),
  };
}
