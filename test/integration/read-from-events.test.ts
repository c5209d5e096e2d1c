/**
 * The events are the record: `status`, `list` and `history` say what a change's events say, even when
 * the `changes` table (a cache) was edited behind keyturn's back — and `verify` names the edit.
 */
import Database from "better-sqlite3";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startSandboxEngine, users, type SandboxEngine } from "../support/sandbox-engine.js";

let kt: SandboxEngine;
beforeAll(async () => {
  kt = await startSandboxEngine();
});
afterAll(async () => {
  await kt?.close();
});

it("history, status and list read a change from its events, not from an edited changes row", async () => {
  await kt.say(users.alice, 'rotate contoso-translator --reason "quarterly rotation"');
  for (const who of [users.bob, users.carol])
    await kt.press(who, { kind: "approve", changeId: "CHG-1", planHash: kt.change("CHG-1").plan.hash });
  await kt.waitFor("CHG-1", ["completed"], 60_000);
  await kt.engine.idle();

  // someone with write access to the database rewrites the cached row: a rotation that "never completed"
  const db = new Database(join(kt.dir, "keyturn.db"));
  const row = db.prepare("SELECT doc FROM changes WHERE id = 'CHG-1'").get() as { doc: string };
  const doc = JSON.parse(row.doc) as Record<string, unknown>;
  db.prepare("UPDATE changes SET doc = ?, state = 'cancelled' WHERE id = 'CHG-1'").run(
    JSON.stringify({ ...doc, state: "cancelled", reason: "routine" }),
  );
  db.close();

  const text = async (line: string) => JSON.stringify((await kt.say(users.bob, line)).message);
  const history = await text("history contoso-translator");
  expect(history).toMatch(/CHG-1 — completed — .* — quarterly rotation/);
  expect(history).not.toMatch(/routine|cancelled/);
  expect(await text("status contoso-translator")).toMatch(/CHG-1/);
  expect(await text("list")).toMatch(/contoso-translator/);
  expect(await text("list --overdue")).not.toMatch(/contoso-translator/);
  expect(await text("verify")).toMatch(/CHG-1: .*differs/);
}, 120_000);
