import { generateKeyPairSync } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { CustomJwtVerifier } from "../src/custom-jwt.js";
import { AuthConfigError, parseProviders, splitPath, type Provider } from "../src/providers.js";
import type { AuthApp, AuthProviderInput } from "../src/types.js";

const APP_ID = "myapp-abcde";
const KEY = "a_very_secret_signing_key_of_32_chars_or_more";
const KEY2 = "second-signing-key-rotated-in-0123456789";

function app(providers: Record<string, Partial<AuthProviderInput> & { type: string }>, secrets: Record<string, string> = {}): AuthApp {
  const authProviders: Record<string, AuthProviderInput> = {};
  for (const [name, p] of Object.entries(providers))
    authProviders[name] = { name, disabled: false, config: {}, secretConfig: {}, metadataFields: [], ...p };
  return { appId: APP_ID, authProviders, secrets: new Map(Object.entries(secrets)) };
}

function tokenProvider(extra: Partial<AuthProviderInput> = {}, secrets: Record<string, string> = { jwtKey: KEY, jwtKey2: KEY2 }) {
  const { providers } = parseProviders(
    app(
      { "custom-token": { type: "custom-token", config: { signingAlgorithm: "HS256", audience: [], requireAnyAudience: false, useJWKURI: false }, secretConfig: { signingKeys: ["jwtKey", "jwtKey2"] }, ...extra } },
      secrets,
    ),
  );
  return providers.get("custom-token") as Extract<Provider, { type: "custom-token" }>;
}

const now = 1_700_000_000_000;
const sign = (payload: Record<string, unknown>, key = KEY, alg = "HS256") =>
  new SignJWT(payload).setProtectedHeader({ alg, typ: "JWT" }).sign(new TextEncoder().encode(key));

describe("provider config", () => {
  it("parses every supported type and lists unsupported ones", () => {
    const { providers, unsupported } = parseProviders(
      app({
        "anon-user": { type: "anon-user" },
        "local-userpass": { type: "local-userpass", config: { autoConfirm: true } },
        "api-key": { type: "api-key", disabled: true },
        "custom-function": { type: "custom-function", config: { functionName: "authFunc" } },
        "oauth2-google": { type: "oauth2-google" },
      }),
    );
    expect([...providers.keys()].sort()).toEqual(["anon-user", "api-key", "custom-function", "local-userpass"]);
    expect(providers.get("local-userpass")).toMatchObject({ autoConfirm: true });
    expect(providers.get("api-key")).toMatchObject({ disabled: true });
    expect(unsupported).toEqual(["oauth2-google (oauth2-google)"]);
  });

  it("lists every problem at once, naming provider and field, never a secret value", () => {
    const err = (() => {
      try {
        parseProviders(
          app(
            {
              "custom-token": { type: "custom-token", config: { signingAlgorithm: "HS256", audience: 5, useJWKURI: true }, secretConfig: { signingKeys: ["missing", "short"] } },
              "local-userpass": { type: "local-userpass", config: { runConfirmationFunction: true } },
              "custom-function": { type: "custom-function" },
            },
            { short: "tooShortSecretValue" },
          ),
        );
      } catch (e) {
        return e as AuthConfigError;
      }
      throw new Error("expected a config error");
    })();
    expect(err).toBeInstanceOf(AuthConfigError);
    expect(err.problems).toHaveLength(6);
    expect(err.message).toContain("custom-token.config.jwkURI: required when useJWKURI is true");
    expect(err.message).toContain("custom-token.config.audience");
    expect(err.message).toContain("secret 'missing' is not in the secrets file");
    expect(err.message).toContain("secret 'short' must be 32-512 characters");
    expect(err.message).toContain("local-userpass.config.confirmationFunctionName");
    expect(err.message).toContain("custom-function.config.functionName");
    expect(err.message).not.toContain("tooShortSecretValue");
    expect(() => parseProviders(app({ t: { type: "custom-token", config: { signingAlgorithm: "ES256" }, secretConfig: { signingKeys: [] } } }))).toThrow(
      /t\.config\.signingAlgorithm: must be "HS256" or "RS256"/,
    );
  });

  it("splits metadata paths with escaped dots", () => {
    expect(splitPath("user_data.name")).toEqual(["user_data", "name"]);
    expect(splitPath("a\\.b.c")).toEqual(["a.b", "c"]);
  });
});

describe("custom JWT verification", () => {
  const good = { aud: APP_ID, sub: "user-1", exp: 2145916800, iat: 1516239022 };

  it("C142 accepts the docs' HS256 token shape (aud = app id, no audience configured)", async () => {
    const v = new CustomJwtVerifier(tokenProvider(), APP_ID, () => now);
    expect(await v.verify(await sign(good))).toEqual({ sub: "user-1", data: {} });
  });

  it("accepts a token signed with any of the configured keys (rotation)", async () => {
    const v = new CustomJwtVerifier(tokenProvider(), APP_ID, () => now);
    expect((await v.verify(await sign(good, KEY2))).sub).toBe("user-1");
    await expect(v.verify(await sign(good, "someone-elses-key-0123456789-abcdef"))).rejects.toThrow(/signature is invalid/);
  });

  it("C143 rejects a wrong aud, an expired exp, and missing sub/exp/aud", async () => {
    const v = new CustomJwtVerifier(tokenProvider(), APP_ID, () => now);
    await expect(v.verify(await sign({ ...good, aud: "other-app" }))).rejects.toThrow(/'aud' must be the app id/);
    await expect(v.verify(await sign({ ...good, exp: Math.floor(now / 1000) - 1 }))).rejects.toThrow(/expired/);
    const { sub: _s, ...noSub } = good;
    await expect(v.verify(await sign(noSub))).rejects.toThrow(/'sub' is required/);
    const { exp: _e, ...noExp } = good;
    await expect(v.verify(await sign(noExp))).rejects.toThrow(/'exp' is required/);
    const { aud: _a, ...noAud } = good;
    await expect(v.verify(await sign(noAud))).rejects.toThrow(/'aud' is required/);
    await expect(v.verify(await sign({ ...good, nbf: Math.floor(now / 1000) + 60 }))).rejects.toThrow(/nbf/);
  });

  it("C143 rejects another algorithm and an unsigned token", async () => {
    const v = new CustomJwtVerifier(tokenProvider(), APP_ID, () => now);
    await expect(v.verify(await sign(good, KEY, "HS512"))).rejects.toThrow(/algorithm must be HS256/);
    const payload = Buffer.from(JSON.stringify(good)).toString("base64url");
    await expect(v.verify(`${Buffer.from('{"alg":"none","typ":"JWT"}').toString("base64url")}.${payload}.`)).rejects.toThrow(/invalid/);
    await expect(v.verify("x".repeat(1_000_001))).rejects.toThrow(/longer than/);
    await expect(v.verify(undefined)).rejects.toThrow(/no token/);
  });

  it("audience lists: requireAnyAudience true needs one, false needs all", async () => {
    const any = new CustomJwtVerifier(tokenProvider({ config: { signingAlgorithm: "HS256", audience: ["a", "b"], requireAnyAudience: true } }), APP_ID, () => now);
    expect((await any.verify(await sign({ ...good, aud: "b" }))).sub).toBe("user-1");
    await expect(any.verify(await sign({ ...good, aud: "c" }))).rejects.toThrow(/none of the configured/);
    const all = new CustomJwtVerifier(tokenProvider({ config: { signingAlgorithm: "HS256", audience: ["a", "b"], requireAnyAudience: false } }), APP_ID, () => now);
    expect((await all.verify(await sign({ ...good, aud: ["a", "b", "z"] }))).sub).toBe("user-1");
    await expect(all.verify(await sign({ ...good, aud: ["a"] }))).rejects.toThrow(/every configured audience/);
  });

  it("C144 copies metadata_fields (user_data.name -> name) and enforces required ones", async () => {
    const provider = tokenProvider({
      metadataFields: [
        { required: true, name: "user_data.name", fieldName: "name" },
        { required: false, name: "user_data.email", fieldName: "" },
        { required: false, name: "dotted\\.key", fieldName: "dk" },
      ],
    });
    const v = new CustomJwtVerifier(provider, APP_ID, () => now);
    const out = await v.verify(await sign({ ...good, user_data: { name: "Casey", email: "c@x.io" }, "dotted.key": 7 }));
    expect(out.data).toEqual({ name: "Casey", email: "c@x.io", dk: 7 });
    await expect(v.verify(await sign(good))).rejects.toThrow(/required metadata field 'user_data.name'/);
    await expect(v.verify(await sign({ ...good, user_data: { name: "n".repeat(4097) } }))).rejects.toThrow(/longer than 4096/);
  });

  it("RS256 with a public key PEM from the secrets", async () => {
    const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const pem = publicKey.export({ type: "spki", format: "pem" }).toString();
    const provider = tokenProvider({ config: { signingAlgorithm: "RS256" }, secretConfig: { signingKeys: ["pub"] } }, { pub: pem });
    const v = new CustomJwtVerifier(provider, APP_ID, () => now);
    const token = await new SignJWT(good).setProtectedHeader({ alg: "RS256" }).sign(privateKey);
    expect((await v.verify(token)).sub).toBe("user-1");
    await expect(v.verify(await sign(good))).rejects.toThrow(/algorithm must be RS256/);
  });

  it("RS256 through a JWK set fetched from jwkURI (kid selects the key)", async () => {
    const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const jwk = { ...publicKey.export({ format: "jwk" }), kid: "k1", alg: "RS256", use: "sig" };
    const server = createServer((_req, res) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [jwk] })));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const uri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
      const provider = tokenProvider({ config: { signingAlgorithm: "RS256", useJWKURI: true, jwkURI: uri }, secretConfig: {} }, {});
      const v = new CustomJwtVerifier(provider, APP_ID, () => now);
      const token = await new SignJWT(good).setProtectedHeader({ alg: "RS256", kid: "k1" }).sign(privateKey);
      expect((await v.verify(token)).sub).toBe("user-1");
      const other = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
      await expect(v.verify(await new SignJWT(good).setProtectedHeader({ alg: "RS256", kid: "k1" }).sign(other))).rejects.toThrow(/invalid/);
    } finally {
      server.close();
    }
  });
});
