/**
 * The Teams app package as Teams receives it: scripts/package-teams-manifest.mjs is run, its zip opened,
 * and the manifest inside validated against the official JSON schema of the version it declares
 * (vendored in manifest/schemas/, see the README there) by the Microsoft 365 Agents Toolkit's validator
 * (ajv, draft-04); the icons are the sizes Teams requires, the outline one white on transparent.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inflateSync } from "node:zlib";
import { AppManifestUtils } from "@microsoft/app-manifest";
import { unzipSync } from "fflate";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const APP_ID = "0f5a6c7d-1111-4222-8333-944444444444";
type Manifest = Parameters<typeof AppManifestUtils.validateAgainstSchema>[0];
type Schema = NonNullable<Parameters<typeof AppManifestUtils.validateAgainstSchema>[1]>;

let out: string;
let files: Record<string, Uint8Array>;
let manifest: Manifest & {
  manifestVersion: string;
  $schema: string;
  id: string;
  icons: { color: string; outline: string };
  bots: { botId: string; commandLists: { commands: { title: string }[] }[] }[];
};

beforeAll(() => {
  out = mkdtempSync(join(tmpdir(), "keyturn-teams-package-"));
  execFileSync(process.execPath, ["scripts/package-teams-manifest.mjs", "--out", out], {
    env: { ...process.env, MicrosoftAppId: APP_ID },
    stdio: "pipe",
  });
  files = unzipSync(readFileSync(join(out, "keyturn-teams.zip")));
  manifest = JSON.parse(Buffer.from(files["manifest.json"]!).toString("utf8")) as typeof manifest;
});

afterAll(() => rmSync(out, { recursive: true, force: true }));

const schemaOf = (version: string): Schema =>
  JSON.parse(readFileSync(`manifest/schemas/teams-v${version}/MicrosoftTeams.schema.json`, "utf8")) as Schema;

describe("the Teams app package (scripts/package-teams-manifest.mjs)", () => {
  it("holds the manifest and its two icons, nothing else", () => {
    expect(Object.keys(files).sort()).toEqual(["color.png", "manifest.json", "outline.png"]);
    expect([manifest.icons.color, manifest.icons.outline].sort()).toEqual(["color.png", "outline.png"]);
  });

  it("its manifest is valid for the official schema of the version it declares", async () => {
    expect(manifest.$schema).toBe(
      `https://developer.microsoft.com/json-schemas/teams/v${manifest.manifestVersion}/MicrosoftTeams.schema.json`,
    );
    expect(
      await AppManifestUtils.validateAgainstSchema(manifest, schemaOf(manifest.manifestVersion)),
    ).toEqual([]);
    expect(manifest.id).toBe(APP_ID);
    expect(manifest.bots[0]!.botId).toBe(APP_ID);
  });

  it("the schema refuses what Teams refuses (so the check above can fail)", async () => {
    const schema = schemaOf(manifest.manifestVersion);
    const commands = manifest.bots[0]!.commandLists[0]!.commands;
    const tooMany = structuredClone(manifest);
    tooMany.bots[0]!.commandLists[0]!.commands = [...commands, ...commands].slice(0, 11);
    expect((await AppManifestUtils.validateAgainstSchema(tooMany, schema)).join("\n")).toMatch(
      /commands must NOT have more than 10 items/,
    );
    expect(
      await AppManifestUtils.validateAgainstSchema({ ...manifest, id: "${MicrosoftAppId}" }, schema),
    ).not.toEqual([]);
  });

  it("the color icon is 192×192 and the outline icon 32×32, white on transparent", () => {
    expect(png(files["color.png"]!).size).toEqual([192, 192]);
    const outline = png(files["outline.png"]!);
    expect(outline.size).toEqual([32, 32]);
    const notWhite = outline.pixels.filter(
      ([r, g, b, a]) => a !== 0 && (r !== 255 || g !== 255 || b !== 255),
    );
    expect(notWhite).toEqual([]);
    expect(outline.pixels.some(([, , , a]) => a === 0)).toBe(true);
  });
});

/** The size and RGBA pixels of an 8-bit RGBA, non-interlaced PNG (what the icons are). */
function png(data: Uint8Array): { size: [number, number]; pixels: [number, number, number, number][] } {
  const buf = Buffer.from(data);
  expect(buf.subarray(1, 4).toString("ascii")).toBe("PNG");
  const width = buf.readUInt32BE(16);
  const height = buf.readUInt32BE(20);
  const [depth, colorType, , , interlace] = [buf[24], buf[25], buf[26], buf[27], buf[28]];
  if (depth !== 8 || colorType !== 6 || interlace !== 0)
    return { size: [width, height], pixels: [[0, 0, 0, 255]] }; // not RGBA: counted as not white
  const idat: Buffer[] = [];
  for (let at = 8; at < buf.length;) {
    const length = buf.readUInt32BE(at);
    if (buf.subarray(at + 4, at + 8).toString("ascii") === "IDAT")
      idat.push(buf.subarray(at + 8, at + 8 + length));
    at += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * 4;
  const rows: Buffer[] = [];
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const line = Buffer.from(raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1)));
    const prev = rows[y - 1] ?? Buffer.alloc(stride);
    for (let x = 0; x < stride; x++) {
      const left = x >= 4 ? line[x - 4]! : 0;
      const up = prev[x]!;
      const upLeft = x >= 4 ? prev[x - 4]! : 0;
      const p = left + up - upLeft;
      const [pa, pb, pc] = [Math.abs(p - left), Math.abs(p - up), Math.abs(p - upLeft)];
      const paeth = pa <= pb && pa <= pc ? left : pb <= pc ? up : upLeft;
      const add = [0, left, up, (left + up) >> 1, paeth][filter] ?? 0;
      line[x] = (line[x]! + add) & 0xff;
    }
    rows.push(line);
  }
  const pixels: [number, number, number, number][] = [];
  for (const row of rows)
    for (let x = 0; x < stride; x += 4) pixels.push([row[x]!, row[x + 1]!, row[x + 2]!, row[x + 3]!]);
  return { size: [width, height], pixels };
}
