import { createHash } from "node:crypto";

const inspect = Symbol.for("nodejs.util.inspect.custom");

/**
 * A key or secret value. It never renders itself: `toString`, `toJSON` and `util.inspect` all
 * print `[redacted sha256:…]`. Only `reveal()` hands out the value, and only code that must send
 * it to Azure (regenerate, publish, data-plane probe) calls it.
 */
export class SecretValue {
  readonly #value: string;
  readonly fingerprint: string;

  constructor(value: string) {
    this.#value = value;
    this.fingerprint = fingerprintOf(value);
  }

  reveal(): string {
    return this.#value;
  }

  equals(other: SecretValue): boolean {
    return this.fingerprint === other.fingerprint && this.#value === other.reveal();
  }

  toString(): string {
    return `[redacted ${this.fingerprint}]`;
  }

  toJSON(): string {
    return this.toString();
  }

  [inspect](): string {
    return this.toString();
  }
}

/** `sha256:` + the first 12 hex characters of SHA-256 of the value: enough to compare, useless to attack. */
export function fingerprintOf(value: string): string {
  return "sha256:" + createHash("sha256").update(value, "utf8").digest("hex").slice(0, 12);
}

/** SHA-256 hex of a string: plan hashes and the event chain. */
export function sha256Hex(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

/** JSON with object keys sorted, so a hash of it is stable. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === "object" && !(value instanceof SecretValue)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[k];
      if (v !== undefined) out[k] = sortKeys(v);
    }
    return out;
  }
  return value;
}
