/**
 * The engine: the service adapters call, and the runner that drives changes through the state
 * machine durably. Built once, in src/main.ts.
 */
import type { ChannelRef } from "../core/messages.js";
import type { AzurePorts, Clock, KeyturnService, Logger, Store } from "../core/ports.js";
import type { ChatRegistry } from "./chat-registry.js";

/** The policy book as the engine needs it (src/core/policy.ts provides it). */
export type { PolicyBook } from "../core/policy.js";
import type { PolicyBook } from "../core/policy.js";

export interface EngineDeps {
  readonly store: Store;
  readonly azure: AzurePorts;
  readonly policy: PolicyBook;
  readonly chats: ChatRegistry;
  readonly clock: Clock;
  readonly logger: Logger;
  /** True when `azure` is the simulated tenant: everything is labelled SANDBOX. */
  readonly sandbox: boolean;
  /** Where the weekly digest of overdue keys goes (optional). */
  readonly digestChannel?: ChannelRef;
  /** How often the runner looks for due timers (ms). */
  readonly tickMs?: number;
}

export interface Engine {
  readonly service: KeyturnService;
  /** Resumes open changes and starts the timer loop. */
  start(): Promise<void>;
  /** Stops the timer loop and waits for the running effect to finish. */
  stop(): Promise<void>;
  /** Resolves when no effect is running and no timer is due (for tests and the non-interactive console). */
  idle(): Promise<void>;
}

export function createEngine(_deps: EngineDeps): Engine {
  throw new Error("createEngine: not built yet");
}
