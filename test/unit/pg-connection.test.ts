/**
 * How keyturn signs in to PostgreSQL: a Microsoft Entra token as the password when the URL has
 * none (fresh for each new connection, replaced before it expires, never shown), and TLS required
 * unless the database is on this machine.
 */
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import { describe, expect, it } from "vitest";
import { KeyturnError } from "../../src/core/errors.js";
import { entraPassword, POSTGRES_ENTRA_SCOPE } from "../../src/store/pg/entra-password.js";
import { pgTargetWith } from "../../src/store/pg/connection.js";

/** A credential that hands out token-1, token-2, … each valid for `lifeMs`, and records the scopes asked. */
function countingCredential(lifeMs: number, clock: { t: number }) {
  const scopes: (string | string[])[] = [];
  let n = 0;
  const credential: TokenCredential = {
    getToken: (scope) => {
      scopes.push(scope);
      n += 1;
      return new Promise<AccessToken>((r) =>
        setTimeout(() => r({ token: `token-${n}`, expiresOnTimestamp: clock.t + lifeMs }), 5),
      );
    },
  };
  return { credential, scopes, calls: () => n };
}

describe("the Entra password for Azure Database for PostgreSQL", () => {
  it("asks for the PostgreSQL scope, reuses a token while it is valid, and replaces it before it expires", async () => {
    const clock = { t: 1_000_000 };
    const c = countingCredential(60 * 60_000, clock);
    const password = entraPassword(c.credential, { now: () => clock.t });
    expect(await password()).toBe("token-1");
    expect(c.scopes).toEqual([POSTGRES_ENTRA_SCOPE]);
    expect(POSTGRES_ENTRA_SCOPE).toBe("https://ossrdbms-aad.database.windows.net/.default");
    clock.t += 54 * 60_000; // 6 minutes left: still used
    expect(await password()).toBe("token-1");
    clock.t += 2 * 60_000; // 4 minutes left: inside the 5-minute margin, replaced
    expect(await password()).toBe("token-2");
    expect(c.calls()).toBe(2);
  });

  it("shares one fetch between connections opened at once", async () => {
    const clock = { t: 0 };
    const c = countingCredential(60 * 60_000, clock);
    const password = entraPassword(c.credential, { now: () => clock.t });
    expect(await Promise.all([password(), password(), password()])).toEqual([
      "token-1",
      "token-1",
      "token-1",
    ]);
    expect(c.calls()).toBe(1);
  });

  it("says what to check when no token comes, and tries again on the next connection", async () => {
    let fail = true;
    const credential: TokenCredential = {
      getToken: () =>
        fail
          ? Promise.reject(new Error("ManagedIdentityCredential: no managed identity endpoint found"))
          : Promise.resolve({ token: "token-ok", expiresOnTimestamp: Date.now() + 3600e3 }),
    };
    const password = entraPassword(credential);
    const e = await password().then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(KeyturnError);
    expect((e as KeyturnError).userMessage).toMatch(
      /could not get a Microsoft Entra token to sign in to PostgreSQL \(ManagedIdentityCredential: no managed identity endpoint found\)\. Check that this process has an identity/,
    );
    fail = false;
    expect(await password()).toBe("token-ok");
    const none: TokenCredential = { getToken: () => Promise.resolve(null) };
    await expect(entraPassword(none)()).rejects.toThrow(/the credential returned no token/);
  });
});

describe("the PostgreSQL URL", () => {
  const credential: TokenCredential = {
    getToken: () => Promise.resolve({ token: "entra-token", expiresOnTimestamp: Date.now() + 3600e3 }),
  };
  const noDefault = () => Promise.reject(new Error("the default credential is not part of this test"));

  it("without a password signs in with the Entra token, over verified TLS, to a remote server", async () => {
    const t = pgTargetWith(
      "postgres://keyturn-mi@contoso-pg.postgres.database.azure.com:5432/keyturn?sslmode=require",
      { credential },
      noDefault,
    );
    expect(t).toMatchObject({
      auth: "entra",
      tls: true,
      display: "keyturn-mi@contoso-pg.postgres.database.azure.com:5432/keyturn",
    });
    expect(t.config).toMatchObject({
      host: "contoso-pg.postgres.database.azure.com",
      port: 5432,
      user: "keyturn-mi",
      database: "keyturn",
      ssl: { rejectUnauthorized: true, servername: "contoso-pg.postgres.database.azure.com" },
    });
    // node-postgres calls the password function for every new connection
    expect(typeof t.config.password).toBe("function");
    expect(await (t.config.password as () => Promise<string>)()).toBe("entra-token");
    // no sslmode on a remote host: TLS all the same
    expect(pgTargetWith("postgres://u@db.example.com/k", { credential }, noDefault).tls).toBe(true);
  });

  it("refuses plaintext to a remote server, and allows it on loopback", () => {
    for (const mode of ["disable", "allow", "prefer"])
      expect(() => pgTargetWith(`postgres://u@db.example.com/k?sslmode=${mode}`, {}, noDefault)).toThrow(
        expect.objectContaining({ userMessage: expect.stringMatching(/only over TLS.*Use sslmode=require/) }),
      );
    for (const host of ["127.0.0.1", "localhost", "[::1]"])
      expect(pgTargetWith(`postgres://u:pw@${host}:5433/k`, {}, noDefault)).toMatchObject({
        tls: false,
        auth: "password",
      });
  });

  it("uses a password in the URL as is, and never shows it", () => {
    const t = pgTargetWith("postgres://app:s3cr%40t@127.0.0.1:5433/keyturn", {}, noDefault);
    expect(t.config.password).toBe("s3cr@t");
    expect(t.display).not.toContain("s3cr");
    expect(() => pgTargetWith("mysql://app:s3cret@db.example.com/k", {}, noDefault)).toThrow(
      expect.objectContaining({ userMessage: expect.not.stringContaining("s3cret") }),
    );
    expect(() => pgTargetWith("postgres://db.example.com/k", {}, noDefault)).toThrow(/names no user/);
  });
});
