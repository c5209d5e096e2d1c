// Builds manifest/build/keyturn-teams.zip (or <dir>/keyturn-teams.zip with --out <dir>): manifest.json
// with MicrosoftAppId filled in, and the two icons. Teams refuses a package whose manifest is invalid for
// the schema it declares: the manifest is checked against that schema (vendored in manifest/schemas/)
// first, and nothing is written when it does not pass.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { zipSync, strToU8 } from "fflate";

const appId = process.env.MicrosoftAppId;
if (!appId || !/^[0-9a-f-]{36}$/i.test(appId)) {
  process.stderr.write("Set MicrosoftAppId to your Azure Bot's app id (a GUID) first.\n");
  process.exit(2);
}
const outArg = process.argv.indexOf("--out");
const out =
  outArg > 0 && process.argv[outArg + 1]
    ? pathToFileURL(resolve(process.argv[outArg + 1]) + "/")
    : new URL("../manifest/build/", import.meta.url);
const dir = new URL("../manifest/teams/", import.meta.url);
const manifest = readFileSync(new URL("manifest.json", dir), "utf8").replaceAll("${MicrosoftAppId}", appId);
const parsed = JSON.parse(manifest);

const schemaFile = new URL(
  `../manifest/schemas/teams-v${parsed.manifestVersion}/MicrosoftTeams.schema.json`,
  import.meta.url,
);
if (!existsSync(schemaFile)) {
  process.stderr.write(
    `No schema for manifest version ${parsed.manifestVersion} in manifest/schemas/: vendor it first (manifest/schemas/README.md says how).\n`,
  );
  process.exit(1);
}
try {
  const { AppManifestUtils } = await import("@microsoft/app-manifest");
  const errors = await AppManifestUtils.validateAgainstSchema(
    parsed,
    JSON.parse(readFileSync(schemaFile, "utf8")),
  );
  if (errors.length) {
    process.stderr.write(
      `manifest/teams/manifest.json is not valid for schema v${parsed.manifestVersion}; Teams would refuse it. Fix:\n  ${errors.join("\n  ")}\n`,
    );
    process.exit(1);
  }
} catch (e) {
  if (e?.code !== "ERR_MODULE_NOT_FOUND") throw e;
  // a production install has no dev dependencies: the test suite validates the same package
  process.stderr.write(
    "note: @microsoft/app-manifest is not installed (npm ci installs it); the schema check was skipped\n",
  );
}

mkdirSync(out, { recursive: true });
const zip = zipSync({
  "manifest.json": strToU8(manifest),
  "color.png": readFileSync(new URL("color.png", dir)),
  "outline.png": readFileSync(new URL("outline.png", dir)),
});
writeFileSync(new URL("keyturn-teams.zip", out), zip);
process.stdout.write(`${new URL("keyturn-teams.zip", out).pathname} (${zip.length} bytes)\n`);
