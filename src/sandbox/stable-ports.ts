/**
 * The simulator's ports, kept in its data dir. A change records the vault and endpoint addresses it
 * works with; if a restart moved the simulator to new ports, a change caught mid-rotation could
 * no longer reach its secrets to resume or roll back. So a restart reuses the ports of the last run.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface SavedPorts {
  readonly arm?: number;
  readonly vaults: Readonly<Record<string, number>>;
}

const FILE = "ports.json";

export function readPorts(dataDir: string): SavedPorts {
  try {
    const raw = JSON.parse(readFileSync(join(dataDir, FILE), "utf8")) as {
      arm?: unknown;
      vaults?: Record<string, unknown>;
    };
    const port = (v: unknown) =>
      Number.isInteger(v) && (v as number) > 0 && (v as number) < 65536 ? (v as number) : undefined;
    const vaults: Record<string, number> = {};
    for (const [name, v] of Object.entries(raw.vaults ?? {})) {
      const p = port(v);
      if (p) vaults[name] = p;
    }
    const arm = port(raw.arm);
    return { ...(arm ? { arm } : {}), vaults };
  } catch {
    return { vaults: {} }; // first run, or an unreadable file: the OS picks free ports
  }
}

export function writePorts(dataDir: string, ports: SavedPorts): void {
  writeFileSync(join(dataDir, FILE), JSON.stringify(ports, null, 2) + "\n");
}

/**
 * What to say when a port of the last run is taken by another process: the simulator moved, and
 * a change recorded against the old address cannot reach it until the port is free again.
 */
export function movedWarning(what: string, from: number, to: number, host: string): string {
  return `sandbox: ${what} was on port ${from} last time, and another process holds that port now; it listens on ${to} instead. A change caught mid-rotation that uses https://${host}:${from} cannot resume or roll back until keyturn runs again with that port free: stop the process on port ${from} (\`ss -ltnp | grep :${from}\` shows it), then restart keyturn.`;
}
