/**
 * The simulator keeps its addresses across restarts on one data dir: a change records the vault and
 * endpoint addresses it works with, and must still reach them when keyturn starts again.
 */
import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { startSimulator } from "../../src/sandbox/index.js";
import { useTempDir } from "../support/temp-dir.js";

const dir = useTempDir("keyturn-sim-ports-");

describe("the sandbox simulator's ports", () => {
  it("come back the same after a restart on the same data dir, and say so when one is taken", async () => {
    const opts = () => ({ dataDir: dir.current.file("sandbox"), consumers: false });
    const first = await startSimulator(opts());
    const { armEndpoint, vaultUrls } = first;
    await first.close();

    const again = await startSimulator(opts());
    expect(again.armEndpoint).toBe(armEndpoint);
    expect(again.vaultUrls).toEqual(vaultUrls);
    expect(again.warnings).toEqual([]);
    await again.close();

    // another process took the vault's port meanwhile: the simulator moves, and says what that means
    const vaultPort = Number(new URL(vaultUrls["contoso-kv"]!).port);
    const squatter = createServer();
    await new Promise<void>((r) => squatter.listen(vaultPort, "127.0.0.1", r));
    try {
      const moved = await startSimulator(opts());
      expect(moved.armEndpoint).toBe(armEndpoint);
      expect(moved.vaultUrls["contoso-kv"]).not.toBe(vaultUrls["contoso-kv"]);
      expect(moved.warnings).toHaveLength(1);
      expect(moved.warnings[0]).toContain(
        `Key Vault contoso-kv was on port ${vaultPort} last time, and another process holds that port now`,
      );
      expect(moved.warnings[0]).toContain(`stop the process on port ${vaultPort}`);
      await moved.close();
    } finally {
      squatter.close();
    }
  });
});
