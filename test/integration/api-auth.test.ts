/**
 * The HTTP API's front door, over real HTTP: keyturn's engine on the simulated tenant, the API router
 * on 127.0.0.1, and a local Entra token issuer (its own JWKS, tokens signed with a generated RSA key).
 * Refused: no token, a forged signature, an expired token, another tenant, another app, a caller the
 * policy does not give the role. Accepted: v1 and v2 tokens of the configured tenant and app.
 */
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { randomUUID } from "node:crypto";
import express from "express";
import YAML from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiRouter, createEntraVerifier } from "../../adapters/api/index.js";
import { parsePolicy } from "../../src/core/policy.js";
import { EntraTokenIssuer } from "../fakes/entra-tokens.js";
import { startSandboxEngine, users, type SandboxEngine } from "../support/sandbox-engine.js";
import { renderText } from "../../adapters/console/render.js";
import type { Message } from "../../src/core/messages.js";
import type { IdempotencyRecord } from "../../adapters/api/idempotency.js";

const CI = "99999999-9999-4999-8999-999999999999"; // the release pipeline's service principal
const ERIN = "55555555-5555-4555-8555-555555555555"; // a person who may read, not request
const STRANGER = "77777777-7777-4777-8777-777777777777"; // a principal the policy does not name

/** A message as the console shows it to a person. */
const visibleLines = (m: Message) => renderText(m).text;

let issuer: EntraTokenIssuer;
let kt: SandboxEngine;
let server: Server;
let base = "";

/** The sandbox policy with a release pipeline as a person, and requests kept to it and Alice. */
function pipelinePolicy() {
  const raw = YAML.parse(readFileSync("src/sandbox/scenarios/default-policy.yaml", "utf8"));
  raw.people.ci = { name: "Release pipeline", identities: [`aad:${CI}`] };
  raw.defaults = {
    ...raw.defaults,
    propagation: "2s",
    exposurePropagation: "1s",
    soak: "2s",
    exposureSoak: "1s",
    roles: { ...raw.defaults.roles, request: ["person:ci", "person:alice"] },
  };
  return parsePolicy(raw);
}

beforeAll(async () => {
  issuer = await new EntraTokenIssuer().start();
  kt = await startSandboxEngine({ policy: pipelinePolicy() });
  const app = express();
  app.use(
    createApiRouter({
      api: kt.engine.api,
      verifier: createEntraVerifier({
        tenantId: issuer.tenant,
        audiences: [issuer.clientId, issuer.appIdUri],
        authority: issuer.url,
        jwksCooldownMs: 0,
      }),
      channel: { platform: "console", id: "incident" },
      role: () => kt.engine.role(),
      logger: {
        debug() {},
        info() {},
        warn() {},
        error() {},
        child() {
          return this;
        },
      },
      label: "SANDBOX",
      permalink: async (id) => kt.store.getKv<string>("permalink", id),
      idempotency: {
        get: async (key) => kt.store.getKv<IdempotencyRecord>("api.idempotency", key),
        put: async (key, record) => kt.store.putKv("api.idempotency", key, record),
      },
    }),
  );
  server = createServer(app);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}, 60_000);

afterAll(async () => {
  await new Promise<void>((r) => server?.close(() => r()));
  await kt?.close();
  await issuer?.stop();
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers, read field by field in assertions
type Json = Record<string, any>;

async function call(
  path: string,
  o: { token?: string; method?: string; body?: unknown; raw?: string; headers?: Record<string, string> } = {},
): Promise<{
  status: number;
  headers: Headers;
  body: Json;
}> {
  const res = await fetch(`${base}${path}`, {
    method: o.method ?? (o.body !== undefined || o.raw !== undefined ? "POST" : "GET"),
    headers: {
      ...(o.token ? { authorization: `Bearer ${o.token}` } : {}),
      ...(o.body !== undefined || o.raw !== undefined ? { "content-type": "application/json" } : {}),
      ...o.headers,
    },
    ...(o.raw !== undefined ? { body: o.raw } : o.body !== undefined ? { body: JSON.stringify(o.body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : {} };
}

const STATUS = "/api/v1/accounts/contoso-translator/status";

describe("the API refuses callers it cannot trust (RFC 6750)", () => {
  it("no token: 401 with a Bearer challenge and what to send", async () => {
    const r = await call(STATUS);
    expect(r.status).toBe(401);
    expect(r.headers.get("www-authenticate")).toBe('Bearer realm="keyturn"');
    expect(r.body.error.code).toBe("unauthenticated");
    expect(r.body.error.message).toMatch(/Authorization: Bearer <token>.*az account get-access-token/);
    // not even the routes are told apart without a token
    expect((await call("/api/v1/nothing-here")).status).toBe(401);
    // a scheme other than Bearer is no token
    const basic = await fetch(`${base}${STATUS}`, { headers: { authorization: "Basic YWxpY2U6cHc=" } });
    expect(basic.status).toBe(401);
  });

  it("a forged signature: 401 invalid_token", async () => {
    const r = await call(STATUS, { token: await issuer.token({ oid: CI, forge: true }) });
    expect(r.status).toBe(401);
    expect(r.headers.get("www-authenticate")).toMatch(/^Bearer realm="keyturn", error="invalid_token"/);
    expect(r.body.error).toMatchObject({ code: "invalid_token" });
    expect(r.body.error.message).toMatch(/signature does not verify/);
  });

  it("an expired token (beyond the minute of clock skew): 401 saying so; within the skew: accepted", async () => {
    const expired = await call(STATUS, { token: await issuer.token({ oid: CI, expiresIn: -120 }) });
    expect(expired.status).toBe(401);
    expect(expired.body.error.message).toMatch(/expired: request a new one/);
    expect((await call(STATUS, { token: await issuer.token({ oid: CI, expiresIn: -20 }) })).status).toBe(200);
    const early = await call(STATUS, { token: await issuer.token({ oid: CI, notBeforeIn: 600 }) });
    expect(early.status).toBe(401);
    expect(early.body.error.message).toMatch(/not valid yet/);
  });

  it("another tenant: 401 even though Entra signs every tenant's tokens with the same keys", async () => {
    const other = randomUUID();
    // the other tenant's own issuer and tid, signed by the same key (as Entra's shared keys would)
    const theirs = await call(STATUS, { token: await issuer.token({ oid: CI, tid: other }) });
    expect(theirs.status).toBe(401);
    expect(theirs.headers.get("www-authenticate")).toContain('error="invalid_token"');
    expect(theirs.body.error.message).toMatch(new RegExp(`not issued by tenant ${issuer.tenant}`));
    // the configured tenant's issuer with another tenant's tid
    const mixed = await call(STATUS, {
      token: await issuer.token({ oid: CI, iss: issuer.v2Issuer, tid: other }),
    });
    expect(mixed.status).toBe(401);
    expect(mixed.body.error.message).toMatch(
      new RegExp(`for tenant ${other}; keyturn accepts tokens of tenant ${issuer.tenant} only`),
    );
    // v1 form of another tenant
    const v1 = await call(STATUS, {
      token: await issuer.token({ oid: CI, version: "v1", iss: `https://sts.windows.net/${other}/` }),
    });
    expect(v1.status).toBe(401);
  });

  it("another application's token (wrong audience): 401 naming keyturn's app", async () => {
    const r = await call(STATUS, {
      token: await issuer.token({ oid: CI, aud: "https://management.azure.com" }),
    });
    expect(r.status).toBe(401);
    expect(r.body.error.message).toMatch(/for another application: request it for keyturn's app/);
    expect(r.body.error.message).toContain(issuer.clientId);
  });

  it("under-privileged callers: 403 naming the role needed and who holds it", async () => {
    const stranger = await call(STATUS, { token: await issuer.token({ oid: STRANGER }) });
    expect(stranger.status).toBe(403);
    expect(stranger.headers.get("www-authenticate")).toMatch(/error="insufficient_scope"/);
    expect(stranger.body.error).toMatchObject({ code: "not_authorised", role: "read" });
    expect(stranger.body.error.message).toMatch(
      /needs the read role.*It is held by: everyone the policy names/,
    );

    const erin = await issuer.token({ oid: ERIN });
    expect((await call(STATUS, { token: erin })).status).toBe(200); // Erin may read…
    const asked = await call("/api/v1/rotations", {
      token: erin,
      body: { account: "contoso-speech", reason: "scheduled" },
    });
    expect(asked.status).toBe(403); // …but not request
    expect(asked.body.error).toMatchObject({ code: "not_authorised", role: "request" });
    expect(asked.body.error.message).toMatch(/needs the request role.*Release pipeline.*Alice Ng/);
    expect(kt.store.listChanges({})).toHaveLength(0);
  });
});

describe("the API answers trusted callers as chat does", () => {
  it("v2 and v1 tokens of the tenant and app are accepted; status is what `status` shows", async () => {
    const v2 = await call(STATUS, { token: await issuer.token({ oid: CI }) });
    expect(v2.status).toBe(200);
    expect(v2.body).toMatchObject({
      account: { name: "contoso-translator", kind: "TextTranslation" },
      label: "SANDBOX",
      localAuthAllowed: true,
      activeSlot: "key1",
      overdue: true,
      openChangeId: null,
    });
    expect(v2.body.storedIn.length).toBeGreaterThan(0);
    const v1 = await call(STATUS, { token: await issuer.token({ oid: CI, version: "v1" }) });
    expect(v1.status).toBe(200);
    expect(v1.body.account.name).toBe("contoso-translator");
  });

  it("when the tenant's keys cannot be read, the caller is told to retry (503), not refused", async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", () => r()));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const verifier = createEntraVerifier({
      tenantId: issuer.tenant,
      audiences: [issuer.clientId],
      authority: `http://127.0.0.1:${port}`,
    });
    const e = await verifier.verify(`Bearer ${await issuer.token({ oid: CI })}`).catch((x: unknown) => x);
    expect(e).toMatchObject({ name: "TokenRefused", kind: "unavailable" });
    expect((e as Error).message).toMatch(/could not read the tenant's signing keys.*try again/);
  });

  it("an account named as resource-group/name or by resource id, URL-encoded in the path", async () => {
    const token = await issuer.token({ oid: CI });
    const first = await call(STATUS, { token });
    const id = first.body.account.id as string;
    const rgName = `${first.body.account.resourceGroup}/contoso-translator`;
    for (const named of [rgName, id]) {
      const r = await call(`/api/v1/accounts/${encodeURIComponent(named)}/status`, { token });
      expect(r.status).toBe(200);
      expect(r.body.account.id).toBe(id);
    }
  });

  it("a standby process records nothing and says to send the request again (503, Retry-After)", async () => {
    const app = express();
    app.use(
      createApiRouter({
        api: kt.engine.api,
        verifier: createEntraVerifier({
          tenantId: issuer.tenant,
          audiences: [issuer.clientId],
          authority: issuer.url,
        }),
        channel: { platform: "console", id: "incident" },
        role: () => "standby",
        logger: {
          debug() {},
          info() {},
          warn() {},
          error() {},
          child() {
            return this;
          },
        },
      }),
    );
    const standby = createServer(app);
    await new Promise<void>((r) => standby.listen(0, "127.0.0.1", () => r()));
    try {
      const res = await fetch(
        `http://127.0.0.1:${(standby.address() as AddressInfo).port}/api/v1/rotations`,
        {
          method: "POST",
          headers: {
            authorization: `Bearer ${await issuer.token({ oid: CI })}`,
            "content-type": "application/json",
          },
          body: JSON.stringify({ account: "contoso-speech", reason: "sent to the standby" }),
        },
      );
      expect(res.status).toBe(503);
      expect(res.headers.get("retry-after")).toBe("60");
      expect(((await res.json()) as { error: { code: string; message: string } }).error).toMatchObject({
        code: "standby",
        message: expect.stringMatching(/on standby.*Nothing was recorded.*again in a minute/),
      });
      expect(kt.store.listChanges({})).toHaveLength(0);
    } finally {
      await new Promise<void>((r) => standby.close(() => r()));
    }
  });

  it("a signing key Entra rolled to is fetched on first sight of its key id", async () => {
    const before = issuer.jwksFetches;
    await issuer.rotateKey();
    const r = await call(STATUS, { token: await issuer.token({ oid: CI }) });
    expect(r.status).toBe(200);
    expect(issuer.jwksFetches).toBe(before + 1);
  });

  it("malformed requests and unknown names: 400 and 404 saying what to do", async () => {
    const token = await issuer.token({ oid: CI });
    const unknown = await call("/api/v1/accounts/contoso-translatr/status", { token });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe("unknown_account");
    expect(unknown.body.error.message).toMatch(/Did you mean "contoso-translator"/);
    expect(unknown.body.error.candidates).toEqual(["contoso-translator"]);
    const notJson = await call("/api/v1/rotations", { token, raw: "{account:" });
    expect(notJson.status).toBe(400);
    expect(notJson.body.error.message).toMatch(/not valid JSON/);
    const noReason = await call("/api/v1/rotations", { token, body: { account: "contoso-translator" } });
    expect(noReason.status).toBe(400);
    expect(noReason.body.error.message).toMatch(/reason is required/);
    const killNow = await call("/api/v1/rotations", {
      token,
      body: { account: "contoso-translator", reason: "x", exposure: "unknown", killNow: true },
    });
    expect(killNow.status).toBe(400);
    expect(killNow.body.error.message).toMatch(/killNow needs the leaked key/);
    expect((await call("/api/v1/changes/CHG-404", { token })).status).toBe(404);
    expect((await call("/api/v1/changes/nope", { token })).status).toBe(400);
    expect(kt.store.listChanges({})).toHaveLength(0);
  });

  it("the fleet report for auditors (as in chat), in the CLI's formats, with the conditions a pipeline fails on", async () => {
    const ci = await call("/api/v1/report", { token: await issuer.token({ oid: CI }) });
    expect(ci.status).toBe(403);
    expect(ci.body.error).toMatchObject({ code: "not_authorised", role: "audit" });
    expect(ci.body.error.message).toMatch(/needs the audit role.*Erin Cho/);

    const erin = await issuer.token({ oid: ERIN }); // an auditor
    const r = await call("/api/v1/report?failOn=overdue,exposed", { token: erin });
    expect(r.status).toBe(200);
    expect(r.body.schema).toBe("keyturn.fleet-report/v1");
    expect(r.body.label).toBe("SANDBOX");
    const names = r.body.accounts.map((a: { account: { name: string } }) => a.account.name);
    expect(names).toContain("contoso-translator");
    // nothing was ever rotated in this sandbox: every account with keys is overdue, none exposed
    expect(r.body.failures).toEqual([
      { condition: "overdue", accounts: expect.arrayContaining(["contoso-translator"]) },
    ]);
    const csv = await fetch(`${base}/api/v1/report?format=csv&sort=name`, {
      headers: { authorization: `Bearer ${erin}` },
    });
    expect(csv.headers.get("content-type")).toMatch(/^text\/csv/);
    expect(await csv.text()).toMatch(/contoso-translator/);
    const bad = await call("/api/v1/report?failOn=late", { token: erin });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/failOn takes overdue, new-holders, local-auth, exposed/);
  }, 60_000);

  it("a rotation requested through the API is the change chat knows: card, approvers, approvals, execution", async () => {
    const token = await issuer.token({ oid: CI });
    const r = await call("/api/v1/rotations", {
      token,
      body: { account: "contoso-translator", reason: "quarterly rotation from the release pipeline" },
    });
    expect(r.status).toBe(201);
    expect(r.body.changeId).toBe("CHG-1");
    expect(r.body.url).toBe(`${base}/api/v1/changes/CHG-1`);
    expect(r.headers.get("location")).toBe(r.body.url);
    expect(r.body.threadUrl).toMatch(/^console:\/\/thread\//);
    expect(r.body.state).toBe("awaiting_approval");

    // the card in the channel, as anyone's request: the pipeline named as requester, the approvers asked
    await kt.engine.idle();
    const thread = [...kt.chat.threads.values()][0]!;
    expect(thread.channel).toBe("incident");
    const card = visibleLines(thread.root);
    expect(card).toMatch(/CHG-1/);
    expect(card).toMatch(/Release pipeline/);
    expect(card).toMatch(/quarterly rotation from the release pipeline/);
    expect([...kt.chat.dms.keys()].sort()).toEqual(["bob@contoso.com", "carol@contoso.com"]);

    // the same account again: 409, naming the open change
    const again = await call("/api/v1/rotations", {
      token,
      body: { account: "contoso-translator", reason: "retry of the same pipeline run" },
    });
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({ code: "change_open", changeId: "CHG-1" });

    const open = await call("/api/v1/changes/CHG-1", { token });
    expect(open.body).toMatchObject({
      id: "CHG-1",
      state: "awaiting_approval",
      requester: { id: `aad:${CI}`, name: "Release pipeline" },
      approvals: { required: 2, counted: 0 },
    });
    expect(open.body.plan.hash).toBe(kt.change("CHG-1").plan.hash);
    expect(open.body.steps[0]).toMatchObject({ kind: "preflight", state: "pending" });

    // approvers approve in chat, exactly as for a request typed there
    const hash = kt.change("CHG-1").plan.hash;
    await kt.press(users.bob, { kind: "approve", changeId: "CHG-1", planHash: hash });
    const one = await call("/api/v1/changes/CHG-1", { token });
    expect(one.body.approvals.counted).toBe(1);
    expect(one.body.approvals.given[0]).toMatchObject({ by: { name: "Bob Okafor" }, forCurrentPlan: true });
    await kt.press(users.carol, { kind: "approve", changeId: "CHG-1", planHash: hash });
    await kt.waitFor("CHG-1", ["completed"], 90_000);
    const done = await call("/api/v1/changes/CHG-1", { token });
    expect(done.body.state).toBe("completed");
    expect(done.body.steps.every((s: { state: string }) => s.state === "succeeded")).toBe(true);
    expect(visibleLines(thread.root)).toMatch(/COMPLETED/);
    // the status the API shows moved with it
    const status = await call(STATUS, { token });
    expect(status.body).toMatchObject({ activeSlot: "key2", overdue: false });
    expect(status.body.lastRotation).toMatchObject({ changeId: "CHG-1", source: "keyturn" });
  }, 120_000);
});

describe("a pipeline sending its rotation request again (Idempotency-Key)", () => {
  it("gets the change its first request opened, not a second change or an error", async () => {
    const token = await issuer.token({ oid: CI });
    const key = randomUUID();
    const body = { account: "contoso-speech", reason: "release 42" };
    const first = await call("/api/v1/rotations", { token, body, headers: { "Idempotency-Key": key } });
    expect(first.status).toBe(201);
    // the answer was lost on the way back; the pipeline sends the very same request again
    const again = await call("/api/v1/rotations", { token, body, headers: { "Idempotency-Key": key } });
    expect(again.status).toBe(200);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(again.body).toMatchObject({ changeId: first.body.changeId, url: first.body.url });
    expect(again.body.message).toMatch(
      new RegExp(`Already requested: ${first.body.changeId} was opened by the first request`),
    );
    const speech = kt.store.listChanges({}).filter((c) => c.accountName === "contoso-speech");
    expect(speech.map((c) => c.id)).toEqual([first.body.changeId]);

    // the same key for another request is a caller's mistake, said as such
    const other = await call("/api/v1/rotations", {
      token,
      body: { account: "contoso-speech", reason: "another run" },
      headers: { "Idempotency-Key": key },
    });
    expect(other.status).toBe(422);
    expect(other.body.error).toMatchObject({ code: "idempotency_key_reused" });
    expect(other.body.error.message).toMatch(/Use a new key for each rotation/);
    // without a key, a second request is refused as chat refuses it: the account has an open change
    expect((await call("/api/v1/rotations", { token, body })).status).toBe(409);
  });

  it("a request that was refused can be sent again with its key; a key that is not one is refused", async () => {
    const token = await issuer.token({ oid: CI });
    const key = randomUUID();
    const body = { account: "no-such-account", reason: "typo" };
    for (let i = 0; i < 2; i++) {
      const r = await call("/api/v1/rotations", { token, body, headers: { "Idempotency-Key": key } });
      expect(r.status).toBe(404);
    }
    const bad = await call("/api/v1/rotations", {
      token,
      body: { account: "contoso-speech", reason: "x" },
      headers: { "Idempotency-Key": "has spaces in it" },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/Idempotency-Key must be 1 to 255 printable ASCII characters/);
  });
});
