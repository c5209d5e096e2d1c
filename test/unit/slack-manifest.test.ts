import { readFileSync } from "node:fs";
import { Ajv } from "ajv";
import YAML from "yaml";
import { describe, expect, it } from "vitest";

const schema = JSON.parse(readFileSync("test/fixtures/slack-manifest.schema.json", "utf8")) as object;
const manifest = YAML.parse(readFileSync("manifest/slack.yaml", "utf8")) as {
  features: { slash_commands: { command: string; url: string }[] };
  oauth_config: { scopes: { bot: string[]; user?: string[] } };
  settings: {
    interactivity: { request_url: string };
    socket_mode_enabled: boolean;
    token_rotation_enabled: boolean;
  };
};

const validate = new Ajv({ allErrors: true }).compile(schema);

describe("manifest/slack.yaml", () => {
  it("is a valid Slack app manifest", () => {
    expect(validate(manifest), JSON.stringify(validate.errors)).toBe(true);
  });

  it("the schema refuses what Slack refuses", () => {
    expect(validate({ ...manifest, display_information: { name: "x".repeat(36) } })).toBe(false);
    expect(
      validate({
        ...manifest,
        features: { ...manifest.features, slash_commands: [{ command: "keyturn", description: "no slash" }] },
      }),
    ).toBe(false);
    expect(
      validate({
        ...manifest,
        settings: { ...manifest.settings, interactivity: { request_url: "https://x/slack/events" } },
      }),
    ).toBe(false);
    expect(validate({ ...manifest, unknown_section: {} })).toBe(false);
  });

  it("asks for exactly the scopes keyturn uses, and no user scopes", () => {
    expect([...manifest.oauth_config.scopes.bot].sort()).toEqual([
      "chat:write",
      "chat:write.public",
      "commands",
      "files:write",
      "im:write",
      "usergroups:read",
      "users:read",
      "users:read.email",
    ]);
    expect(manifest.oauth_config.scopes.user).toBeUndefined();
  });

  it("sends the command and interactivity to /slack/events, over HTTP by default, without token rotation", () => {
    expect(manifest.features.slash_commands.map((c) => c.command)).toEqual(["/keyturn"]);
    expect(manifest.features.slash_commands[0]!.url).toBe("https://YOUR-HOST/slack/events");
    expect(manifest.settings.interactivity.request_url).toBe("https://YOUR-HOST/slack/events");
    expect(manifest.settings.socket_mode_enabled).toBe(false);
    expect(manifest.settings.token_rotation_enabled).toBe(false);
  });
});
