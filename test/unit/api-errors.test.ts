/** What the API answers for keyturn's errors: statuses, RFC 6750 challenges a header can carry. */
import { describe, expect, it } from "vitest";
import { fromKeyturnError, unauthenticated } from "../../adapters/api/errors.js";
import { KeyturnError } from "../../src/core/errors.js";

describe("API error answers", () => {
  it("a refusal naming people with non-ASCII names still makes a valid challenge header", () => {
    const e = new KeyturnError(
      "not_authorised",
      'Requesting a rotation of x needs the request role, which you do not hold. It is held by: Zoë "Z" Łukasz — ask one of them.',
      { role: "request" },
    );
    const a = fromKeyturnError(e);
    expect(a.status).toBe(403);
    expect(a.extra).toMatchObject({ role: "request" });
    expect(a.message).toContain("Zoë"); // the JSON body keeps the names as written
    const header = a.headers!["WWW-Authenticate"]!;
    expect(header).toMatch(/^Bearer realm="keyturn", error="insufficient_scope", error_description="[^"]*"$/);
    expect(header).toMatch(/^[\x20-\x7e]+$/);
    expect(header).toContain("Zo? 'Z' ?ukasz ? ask one of them.");
  });

  it("throttling and transient Azure failures say when to retry", () => {
    const t = fromKeyturnError(
      new KeyturnError("azure_throttled", "Azure is throttling: wait.", { retryAfterSeconds: 12.2 }),
    );
    expect(t).toMatchObject({
      status: 429,
      headers: { "Retry-After": "13" },
      extra: { retryAfterSeconds: 13 },
    });
    expect(fromKeyturnError(new KeyturnError("azure_transient", "try again")).headers).toEqual({
      "Retry-After": "30",
    });
    expect(fromKeyturnError(new KeyturnError("change_open", "open", { changeId: "CHG-3" }))).toMatchObject({
      status: 409,
      extra: { changeId: "CHG-3" },
    });
  });

  it("no credentials: a challenge without an error code (RFC 6750 §3.1); a bad token: invalid_token", () => {
    expect(unauthenticated("missing", "send a token").headers).toEqual({
      "WWW-Authenticate": 'Bearer realm="keyturn"',
    });
    expect(unauthenticated("invalid", "expired").headers!["WWW-Authenticate"]).toBe(
      'Bearer realm="keyturn", error="invalid_token", error_description="expired"',
    );
  });
});
