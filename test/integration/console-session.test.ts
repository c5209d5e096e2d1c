/**
 * The console as a person at the keyboard reads it: keyturn started in-process on a fresh data dir
 * (SQLite file, simulated tenant over HTTPS), lines typed one by one, the printed text asserted.
 */
import { Writable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { type RunningKeyturn, startKeyturn } from "../../src/main.js";
import { useTempDir } from "../support/temp-dir.js";

const dir = useTempDir("keyturn-console-");
let running: RunningKeyturn | null = null;
afterEach(async () => {
  await running?.close();
  running = null;
});

async function consoleSession() {
  let out = "";
  const stdout = new Writable({
    write(chunk: Buffer, _enc, done) {
      out += chunk.toString();
      done();
    },
  });
  running = await startKeyturn({
    env: { KEYTURN_DATA_DIR: dir.current.path, PORT: "0", LOG_LEVEL: "warn", HOME: dir.current.path },
    stdout,
    console: true,
  });
  const c = running.console!;
  /** Types a line and returns what the console printed for it. */
  const type = async (line: string) => {
    const from = out.length;
    await c.runLine(line);
    return out.slice(from);
  };
  return { type };
}

describe("the console", () => {
  it("press after inbox acts on the DM inbox showed, and says which message it acts on", async () => {
    const { type } = await consoleSession();
    await type('rotate contoso-translator --reason "cadence"');
    await type('rotate contoso-openai --reason "cadence"'); // the last live card is now CHG-2's
    await type("as bob");
    const inbox = await type("inbox");
    expect(inbox).toMatch(/DM 1 of 2 to Bob Okafor[\s\S]*CHG-1[\s\S]*\[1\] Approve\s+\[2\] Reject/);
    expect(inbox).toMatch(/DM 2 of 2 to Bob Okafor[\s\S]*CHG-2[\s\S]*\[3\] Approve\s+\[4\] Reject/);
    const pressed = await type("press 1");
    expect(pressed).toMatch(/pressing Approve on Bob Okafor's DM 1 \(.*CHG-1/);
    expect(pressed).toContain("Approved CHG-1: 1 of 2");
    expect(pressed).not.toContain("Approved CHG-2");
    // the inbox shows the DMs as they now stand, numbered again
    const again = await type("inbox");
    expect(again).toMatch(/DM 2 of 2[\s\S]*CHG-2[\s\S]*\[\d\] Approve/);
    expect(await type("press 9")).toMatch(/No button \[9\] on Bob Okafor's inbox \(it has \[1\]/);
  });

  it("names an account by resource-group/name, and shows those forms when a name is ambiguous", async () => {
    const { type } = await consoleSession();
    const ambiguous = await type("status shared-lang");
    expect(ambiguous).toContain(
      '"shared-lang" names 2 accounts. Name the one you mean as resource-group/name',
    );
    expect(ambiguous).toContain("rg-ai-prod/shared-lang");
    expect(ambiguous).toContain("rg-ai-dev/shared-lang");
    const status = await type("status rg-ai-dev/shared-lang");
    expect(status).toContain("Status · shared-lang");
    expect(status).toContain("/resourceGroups/rg-ai-dev/");
    const scoped = await type("status 00000000-0000-4000-8000-0000000000a1/rg-ai-prod/shared-lang");
    expect(scoped).toContain("/resourceGroups/rg-ai-prod/");
    const list = await type("list");
    expect(list).toMatch(/rg-ai-prod\/shared-lang \(/);
    expect(list).toMatch(/rg-ai-dev\/shared-lang \(/);
    expect(list).toMatch(/^\W*contoso-translator \(/m);
    expect(await type("status rg-nowhere/shared-lang")).toContain(
      'No account "shared-lang" in rg-nowhere. Accounts with that name: rg-ai-prod/shared-lang, rg-ai-dev/shared-lang.',
    );
  });

  it("warns at request time about consumers that will hold the cutover check", async () => {
    const { type } = await consoleSession();
    const pinned = await type('rotate contoso-speech --reason "cadence"');
    expect(pinned).toContain("Warning: 1 consumer(s) will hold the cutover check.");
    expect(pinned).toMatch(
      /speech-ivr.* pins Key Vault version [0-9a-f]{8}… of speech-key: the cutover check waits until it is re-pinned.*waive CHG-1 /,
    );
    // on the card approvers read, before anyone approves
    expect(await type("thread CHG-1")).toMatch(
      /Note: BLOCKS THE CUTOVER: speech-ivr.* pins Key Vault version [0-9a-f]{8}… /,
    );
    const literal = await type('rotate fabrikam-ai --reason "cadence"');
    expect(literal).toMatch(
      /fabrikam-app.* holds a literal copy of key1 in FABRIKAM_KEY: the cutover check waits until/,
    );
    const plain = await type('rotate contoso-translator --reason "cadence"');
    expect(plain).not.toContain("hold the cutover check");
  });

  it("consumer add refuses a vault keyturn is not configured for, with the fix", async () => {
    const { type } = await consoleSession();
    await type("as bob");
    const refused = await type(
      "consumer add contoso-translator batch-job --secret https://elsewhere.vault.azure.net/secrets/translator-key",
    );
    expect(refused).toContain(
      "Not declared: https://elsewhere.vault.azure.net is not a Key Vault keyturn is configured for",
    );
    expect(refused).toContain("use a vault of the simulated tenant");
    expect(await type("inventory contoso-translator")).not.toContain("batch-job");
  });
});
