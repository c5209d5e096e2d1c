// Builds manifest/build/keyturn-teams.zip: manifest.json (with MicrosoftAppId filled in) and the two icons.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { zipSync, strToU8 } from "fflate";

const appId = process.env.MicrosoftAppId;
if (!appId || !/^[0-9a-f-]{36}$/i.test(appId)) {
  process.stderr.write("Set MicrosoftAppId to your Azure Bot's app id (a GUID) first.\n");
  process.exit(2);
}
const dir = new URL("../manifest/teams/", import.meta.url);
const manifest = readFileSync(new URL("manifest.json", dir), "utf8").replaceAll("${MicrosoftAppId}", appId);
JSON.parse(manifest);
const out = new URL("../manifest/build/", import.meta.url);
mkdirSync(out, { recursive: true });
const zip = zipSync({
  "manifest.json": strToU8(manifest),
  "color.png": readFileSync(new URL("color.png", dir)),
  "outline.png": readFileSync(new URL("outline.png", dir)),
});
writeFileSync(new URL("keyturn-teams.zip", out), zip);
process.stdout.write(`manifest/build/keyturn-teams.zip (${zip.length} bytes)\n`);
