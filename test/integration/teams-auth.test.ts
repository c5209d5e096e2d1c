import express from "express";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTeamsAdapter } from "../../adapters/teams/index.js";
import type { Invocation, KeyturnService } from "../../src/core/ports.js";
import { createLogger } from "../../src/log.js";
import { openStore } from "../../src/store/open-store.js";
import { channelMessage, FakeConnector } from "../fakes/bot-connector.js";
import { LocalAuthority } from "../fakes/teams-auth.js";

const APP_ID = "0f5a6c7d-1111-4222-8333-944444444444";
let authority: LocalAuthority;
let connector: FakeConnector;
let server: Server;
let url: string;
const seen: { inv: Invocation; text: string }[] = [];

// The adapter is what is under test here: the service just records what reached it.
const service: KeyturnService = {
  async handleText(inv, text) {
    seen.push({ inv, text });
    return { visibility: "ephemeral", message: { text: `echo: ${text}` } };
  },
  async handleAction() {
    return { visibility: "ephemeral", message: { text: "ok" } };
  },
};

beforeAll(async () => {
  authority = await new LocalAuthority().start();
  connector = await new FakeConnector().start();
  const adapter = createTeamsAdapter({
    service,
    store: openStore(":memory:"),
    logger: createLogger({ level: "silent" }),
    clock: { now: () => new Date() },
    config: {
      appId: APP_ID,
      appPassword: "not-used-offline",
      tenantId: authority.tenant,
      authorityEndpoint: authority.url,
      validateServiceUrl: false,
      production: true,
    },
  });
  const app = express();
  app.post("/api/messages", express.json(), adapter.handler);
  server = await new Promise((r) => {
    const s = app.listen(0, "127.0.0.1", () => r(s));
  });
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/messages`;
});

afterAll(async () => {
  server?.close();
  await connector?.stop();
  await authority?.stop();
});

const post = (token: string | null) =>
  fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(channelMessage(connector.url, "alice", "status contoso-translator")),
  });

describe("Teams requests are authenticated when an app id is configured", () => {
  it.each([
    ["no token", async () => null],
    ["a forged token (unknown signing key)", async () => authority.token({ aud: APP_ID, forge: true })],
    ["an expired token", async () => authority.token({ aud: APP_ID, expiresInSeconds: -3600 })],
    ["a token for another app", async () => authority.token({ aud: "someone-else" })],
  ])("%s → 401, the handler never runs", async (_what, token) => {
    const before = seen.length;
    const r = await post(await token());
    expect(r.status).toBe(401);
    expect(seen.length).toBe(before);
  });

  it("a valid token signed by the published key passes authentication", async () => {
    const r = await post(await authority.token({ aud: APP_ID, serviceUrl: connector.url }));
    // past authentication the SDK needs an outbound token from Entra to reply, which cannot be had
    // offline; what is asserted is that the inbound check accepted the request (the same request
    // without a valid token is a 401 above)
    expect(r.status).not.toBe(401);
  });

  it("production without an app id refuses to start", () => {
    expect(() =>
      createTeamsAdapter({
        service,
        store: openStore(":memory:"),
        logger: createLogger({ level: "silent" }),
        clock: { now: () => new Date() },
        config: { production: true },
      }),
    ).toThrow(/Refusing to serve Teams unauthenticated in production/);
  });
});
