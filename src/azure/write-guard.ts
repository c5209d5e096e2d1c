/**
 * The one list of Azure calls that change something, and a wrapper that makes every one of them
 * pass a guard (the runner's fencing check, the graceful stop's gate) while reads pass through.
 * A write added to the ports is added here once, and every guard covers it.
 */
import type { AzurePorts } from "../core/ports.js";

/** Runs a write: decides whether (and when) it may start. */
export type WriteGuard = <T>(write: () => Promise<T>) => Promise<T>;

type WriteLists = {
  readonly [K in keyof AzurePorts]?: readonly (keyof AzurePorts[K] & string)[];
};

export const AZURE_WRITES = {
  accounts: ["regenerateKey", "setLocalAuth"],
  secrets: ["publish"],
  consumers: ["refresh"],
} as const satisfies WriteLists;

/** The same ports, every write passing `guard`; every other method (including ones added later) untouched. */
export function guardAzureWrites(azure: AzurePorts, guard: WriteGuard): AzurePorts {
  return {
    ...azure,
    accounts: guardMethods(azure.accounts, AZURE_WRITES.accounts, guard),
    secrets: guardMethods(azure.secrets, AZURE_WRITES.secrets, guard),
    consumers: guardMethods(azure.consumers, AZURE_WRITES.consumers, guard),
  };
}

function guardMethods<T extends object>(target: T, writes: readonly string[], guard: WriteGuard): T {
  return new Proxy(target, {
    get(t, prop) {
      const v: unknown = Reflect.get(t, prop, t);
      if (typeof v !== "function") return v;
      const fn = v as (...args: unknown[]) => Promise<unknown>;
      if (typeof prop !== "string" || !writes.includes(prop)) return fn.bind(t);
      return (...args: unknown[]) => guard(() => fn.apply(t, args));
    },
  });
}
