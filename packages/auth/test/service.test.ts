import { ObjectId } from "bson";
import { decodeJwt } from "jose";
import { afterAll, describe, expect, it } from "vitest";
import type { DataService } from "@restitch/mongodb";
import { createAuth, type RestitchAuthService } from "../src/index.js";
import type { AuthApp } from "../src/types.js";
import { backends, customJwt, SERVER_KEY, testApp } from "./helpers.js";

const all = backends();
afterAll(() => all.forEach((b) => b.cleanup()));

describe.each(all)("auth on $name", (backend) => {
  const services: DataService[] = [];
  afterAll(async () => {
    for (const s of services) await s.close();
  });
  async function setup(app: AuthApp = testApp(), extra: Partial<Parameters<typeof createAuth>[0]> = {}) {
    const store = await backend.open();
    services.push(store);
    const auth = await createAuth({ app, store, ...extra });
    const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
      const res = await auth.routes.request(path, {
        method,
        headers: { "content-type": "application/json", ...headers },
        ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
      });
      const text = await res.text();
      return { status: res.status, text, json: text ? JSON.parse(text) : undefined };
    };
    const login = (provider: string, body: unknown = {}) => call("POST", `/app/${app.appId}/auth/providers/${provider}/login`, body);
    const register = (email: string, password: string) => call("POST", `/app/${app.appId}/auth/providers/local-userpass/register`, { email, password });
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
    const authn = (headers: Record<string, string>, opts: { createUserOnAuth?: boolean; fetchCustomUserData?: boolean; body?: Record<string, unknown> } = {}) =>
      auth.authenticateRequest({
        headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), [v]])),
        createUserOnAuth: opts.createUserOnAuth ?? false,
        fetchCustomUserData: opts.fetchCustomUserData ?? false,
        ...(opts.body ? { bodyCredentials: opts.body } : {}),
      });
    return { app, store, auth, call, login, register, bearer, authn };
  }

  it("C139 anon-user login answers access_token, refresh_token, user_id, device_id; each login is a new user", async () => {
    const { login } = await setup();
    const a = await login("anon-user");
    expect(a.status).toBe(200);
    expect(Object.keys(a.json).sort()).toEqual(["access_token", "device_id", "refresh_token", "user_id"]);
    expect(a.json.user_id).toMatch(/^[0-9a-f]{24}$/);
    expect(a.json.device_id).toBe("000000000000000000000000");
    const b = await login("anon-user", { options: { device: { deviceId: "64224f3cd79f54ad342dd9b2" } } });
    expect(b.json.user_id).not.toBe(a.json.user_id);
    expect(b.json.device_id).toBe("64224f3cd79f54ad342dd9b2");
  });

  it("C145 the access token is typ access, sub = user_id, exp - iat = 1800", async () => {
    const { login } = await setup();
    const { json } = await login("anon-user");
    const claims = decodeJwt(json.access_token);
    expect(claims).toMatchObject({ typ: "access", sub: json.user_id });
    expect(claims.exp! - claims.iat!).toBe(1800);
    expect(decodeJwt(json.refresh_token)).toMatchObject({ typ: "refresh", sub: json.user_id });
  });

  it("C146 register answers 201 with an empty body; a second time AccountNameInUse", async () => {
    const { register } = await setup();
    const first = await register("Casey@Example.com", "Pa55w0rd!");
    expect(first.status).toBe(201);
    expect(first.text).toBe("");
    const again = await register("casey@example.com", "another-pass");
    expect(again.status).toBe(409);
    expect(again.json).toEqual({ error: "name already in use", error_code: "AccountNameInUse" });
  });

  it("C146 concurrent registrations of one name: exactly one wins", async () => {
    const { register } = await setup();
    const results = await Promise.all(Array.from({ length: 5 }, () => register("race@example.com", "Pa55w0rd!")));
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    expect(results.filter((r) => r.json?.error_code === "AccountNameInUse")).toHaveLength(4);
  });

  it("C147 a password shorter than 6 or longer than 128 characters is refused at registration", async () => {
    const { register, login } = await setup();
    const short = await register("short@example.com", "12345");
    expect(short.status).toBe(400);
    expect(short.json.error).toMatch(/between 6 and 128/);
    expect(short.text).not.toContain("12345");
    expect((await register("long@example.com", "x".repeat(129))).status).toBe(400);
    expect((await login("local-userpass", { username: "short@example.com", password: "12345" })).status).toBe(401);
  });

  it("C140 local-userpass login: right password 200, wrong password or unknown user InvalidPassword 401", async () => {
    const { register, login } = await setup();
    await register("bob@example", "Pa55w0rd!");
    const ok = await login("local-userpass", { username: "bob@example", password: "Pa55w0rd!" });
    expect(ok.status).toBe(200);
    const again = await login("local-userpass", { username: "BOB@example", password: "Pa55w0rd!" });
    expect(again.json.user_id).toBe(ok.json.user_id);
    for (const body of [
      { username: "bob@example", password: "wrong-password" },
      { username: "nobody@example", password: "Pa55w0rd!" },
    ]) {
      const bad = await login("local-userpass", body);
      expect(bad.status).toBe(401);
      expect(bad.json).toEqual({ error: "invalid username/password", error_code: "InvalidPassword" });
      expect(bad.text).not.toContain(body.password);
    }
  });

  it("without autoConfirm a user is pending until the confirmation function or token confirms it", async () => {
    const app = testApp({ providers: { "local-userpass": { config: { autoConfirm: false, runConfirmationFunction: true, confirmationFunctionName: "confirm" } } } });
    const seen: unknown[] = [];
    let answer = "pending";
    const { register, login, call } = await setup(app, {
      runFunction: async (name, args) => {
        seen.push({ name, args });
        return { status: answer };
      },
    });
    expect((await register("pend@example.com", "Pa55w0rd!")).status).toBe(201);
    const refused = await login("local-userpass", { username: "pend@example.com", password: "Pa55w0rd!" });
    expect(refused.status).toBe(401);
    expect(refused.json.error).toBe("confirmation required");
    const { token, tokenId, username } = (seen[0] as { args: [{ token: string; tokenId: string; username: string }] }).args[0];
    expect(username).toBe("pend@example.com");
    expect((await call("POST", `/app/${app.appId}/auth/providers/local-userpass/confirm`, { token: "wrong", tokenId })).status).toBe(400);
    expect((await call("POST", `/app/${app.appId}/auth/providers/local-userpass/confirm`, { token, tokenId })).status).toBe(204);
    expect((await login("local-userpass", { username: "pend@example.com", password: "Pa55w0rd!" })).status).toBe(200);
    answer = "success";
    expect((await register("direct@example.com", "Pa55w0rd!")).status).toBe(201);
    expect((await login("local-userpass", { username: "direct@example.com", password: "Pa55w0rd!" })).status).toBe(200);
    answer = "fail";
    expect((await register("failing@example.com", "Pa55w0rd!")).status).toBe(400);
    expect((await register("failing@example.com", "Pa55w0rd!")).status).toBe(400); // the failed account was not kept
  });

  it("password reset through the reset function", async () => {
    const app = testApp({ providers: { "local-userpass": { config: { autoConfirm: true, runResetFunction: true, resetFunctionName: "reset" } } } });
    const { register, login, call } = await setup(app, { runFunction: async () => ({ status: "success" }) });
    await register("reset@example.com", "Pa55w0rd!");
    const res = await call("POST", `/app/${app.appId}/auth/providers/local-userpass/reset/call`, { email: "reset@example.com", password: "N3wPassw0rd", arguments: [] });
    expect(res.status).toBe(204);
    expect((await login("local-userpass", { username: "reset@example.com", password: "Pa55w0rd!" })).status).toBe(401);
    expect((await login("local-userpass", { username: "reset@example.com", password: "N3wPassw0rd" })).status).toBe(200);
    const unknown = await call("POST", `/app/${app.appId}/auth/providers/local-userpass/reset/call`, { email: "nobody@example.com", password: "N3wPassw0rd" });
    expect(unknown.json).toEqual({ error: "user not found", error_code: "UserNotFound" });
  });

  it("C141 C81 api-key login with a server key (from secrets) gives a server user", async () => {
    const { login, auth, authn } = await setup();
    const res = await login("api-key", { key: SERVER_KEY });
    expect(res.status).toBe(200);
    const user = await auth.getUser(res.json.user_id);
    expect(user).toMatchObject({ type: "server", identities: [{ provider_type: "api-key", id: "ci-server" }] });
    const again = await authn({ apiKey: SERVER_KEY });
    expect(again).toMatchObject({ ok: true, user: { id: res.json.user_id, type: "server" } });
    const bad = await login("api-key", { key: "x".repeat(64) });
    expect(bad.status).toBe(401);
  });

  it("C141 user API keys: created (shown once), listed without the key, used to log in, disabled, deleted", async () => {
    const { login, call, bearer, authn } = await setup();
    const anon = await login("anon-user");
    const created = await call("POST", "/auth/api_keys", { name: "laptop" }, bearer(anon.json.refresh_token));
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ name: "laptop", disabled: false });
    expect(created.json.key).toMatch(/^[A-Za-z0-9]{64}$/);
    const dup = await call("POST", "/auth/api_keys", { name: "laptop" }, bearer(anon.json.access_token));
    expect(dup.status).toBe(409);
    const list = await call("GET", "/auth/api_keys", undefined, bearer(anon.json.refresh_token));
    expect(list.json).toEqual([{ _id: created.json._id, name: "laptop", disabled: false }]);
    expect(list.text).not.toContain(created.json.key);
    const viaKey = await login("api-key", { key: created.json.key });
    expect(viaKey.status).toBe(200);
    expect(viaKey.json.user_id).toBe(anon.json.user_id);
    expect(await authn({ "api-key": created.json.key })).toMatchObject({ ok: true, user: { id: anon.json.user_id, type: "normal" } });
    expect((await call("PUT", `/auth/api_keys/${created.json._id}/disable`, undefined, bearer(anon.json.refresh_token))).status).toBe(204);
    expect((await call("GET", `/auth/api_keys/${created.json._id}`, undefined, bearer(anon.json.refresh_token))).json.disabled).toBe(true);
    expect((await login("api-key", { key: created.json.key })).status).toBe(401);
    expect((await call("PUT", `/auth/api_keys/${created.json._id}/enable`, undefined, bearer(anon.json.refresh_token))).status).toBe(204);
    expect((await login("api-key", { key: created.json.key })).status).toBe(200);
    expect((await call("DELETE", `/auth/api_keys/${created.json._id}`, undefined, bearer(anon.json.refresh_token))).status).toBe(204);
    expect((await login("api-key", { key: created.json.key })).status).toBe(401);
    expect((await call("DELETE", `/auth/api_keys/${created.json._id}`, undefined, bearer(anon.json.refresh_token))).status).toBe(404);
    expect((await call("GET", "/auth/api_keys", undefined, {})).status).toBe(401);
  });

  it("C142 C144 custom-token login with {token} or {key}; metadata lands in user data", async () => {
    const { app, login, auth, call, bearer } = await setup();
    const token = await customJwt(app.appId, { sub: "ext-42", user_data: { name: "Casey" } });
    const a = await login("custom-token", { token });
    expect(a.status).toBe(200);
    const b = await login("custom-token", { key: token });
    expect(b.json.user_id).toBe(a.json.user_id);
    const user = await auth.getUser(a.json.user_id);
    expect(user).toMatchObject({ type: "normal", data: { name: "Casey" }, identities: [{ id: "ext-42", provider_type: "custom-token", data: { name: "Casey" } }] });
    const profile = await call("GET", "/auth/profile", undefined, bearer(a.json.access_token));
    expect(profile.json).toMatchObject({ user_id: a.json.user_id, domain_id: app.appId, data: { name: "Casey" }, type: "normal" });
    // Metadata is refreshed on each login.
    await login("custom-token", { token: await customJwt(app.appId, { sub: "ext-42", user_data: { name: "Robin" } }) });
    expect((await auth.getUser(a.json.user_id))?.data.name).toBe("Robin");
  });

  it("C143 custom-token login refuses a wrong aud and an expired token", async () => {
    const { app, login } = await setup();
    const wrongAud = await login("custom-token", { token: await customJwt(app.appId, { aud: "other" }) });
    expect(wrongAud.status).toBe(401);
    expect(wrongAud.json.error).toMatch(/aud/);
    const expired = await login("custom-token", { token: await customJwt(app.appId, { exp: 1_000_000 }) });
    expect(expired.status).toBe(401);
    expect(expired.json.error).toMatch(/expired/);
  });

  it("custom-function login: the function's id becomes the identity; a throw or a non-string refuses", async () => {
    const app = testApp({ providers: { "custom-function": { type: "custom-function", config: { functionName: "authFunc" }, metadataFields: [{ required: false, name: "profile.name", fieldName: "name" }] } } });
    const calls: unknown[][] = [];
    const { login, auth } = await setup(app, {
      runFunction: async (name, args) => {
        calls.push([name, ...args]);
        const payload = args[0] as { username?: string };
        if (payload.username === "mallory") throw new Error("unknown user mallory");
        if (payload.username === "nobody") return 42;
        return `ext-${payload.username}`;
      },
    });
    const ok = await login("custom-function", { username: "ada", profile: { name: "Ada" } });
    expect(ok.status).toBe(200);
    expect(calls[0]).toEqual(["authFunc", { username: "ada", profile: { name: "Ada" } }]);
    expect(await auth.getUser(ok.json.user_id)).toMatchObject({ data: { name: "Ada" }, identities: [{ id: "ext-ada", provider_type: "custom-function" }] });
    expect((await login("custom-function", { username: "ada" })).json.user_id).toBe(ok.json.user_id);
    const thrown = await login("custom-function", { username: "mallory" });
    expect(thrown.status).toBe(401);
    expect(thrown.json).toEqual({ error: "authentication function failed: unknown user mallory", error_code: "CustomFunctionAuthError" });
    expect((await login("custom-function", { username: "nobody" })).json.error).toMatch(/must return a non-empty string id/);
  });

  it("C49 a disabled provider refuses its credentials (login and endpoint headers)", async () => {
    const app = testApp({ providers: { "anon-user": { disabled: true }, "local-userpass": { disabled: true } } });
    const { login, authn } = await setup(app);
    const res = await login("anon-user");
    expect(res.status).toBe(401);
    expect(res.json).toEqual({ error: "authentication via 'anon-user' is unsupported", error_code: "AuthProviderNotFound" });
    expect(await authn({ email: "a@b.c", password: "Pa55w0rd!" })).toMatchObject({ ok: false, status: 401, errorCode: "InvalidSession" });
    expect((await login("oauth2-google")).status).toBe(401);
  });

  it("refresh gives a new access token; logout revokes the session and its tokens", async () => {
    const { login, call, bearer, authn } = await setup();
    const s = await login("anon-user");
    const refreshed = await call("POST", "/auth/session", undefined, bearer(s.json.refresh_token));
    expect(refreshed.status).toBe(201);
    expect(decodeJwt(refreshed.json.access_token)).toMatchObject({ typ: "access", sub: s.json.user_id });
    expect((await call("POST", "/auth/session", undefined, bearer(s.json.access_token))).status).toBe(401);
    expect(await authn(bearer(refreshed.json.access_token))).toMatchObject({ ok: true });
    expect((await call("DELETE", "/auth/session", undefined, bearer(s.json.refresh_token))).status).toBe(204);
    const after = await call("POST", "/auth/session", undefined, bearer(s.json.refresh_token));
    expect(after.status).toBe(401);
    expect(after.json.error_code).toBe("InvalidSession");
    expect(await authn(bearer(s.json.access_token))).toMatchObject({ ok: false, status: 401, errorCode: "InvalidSession" });
  });

  it("a disabled or deleted user's tokens stop working", async () => {
    const { login, call, bearer, authn, auth } = await setup(testApp(), { userCacheMs: 0 });
    const a = await login("anon-user");
    expect(await authn(bearer(a.json.access_token))).toMatchObject({ ok: true });
    expect(await auth.setUserDisabled(a.json.user_id, true)).toBe(true);
    expect(await authn(bearer(a.json.access_token))).toMatchObject({ ok: false, errorCode: "InvalidSession" });
    expect((await call("POST", "/auth/session", undefined, bearer(a.json.refresh_token))).status).toBe(401);
    expect(await auth.getUser(a.json.user_id)).toBeNull();
    await auth.setUserDisabled(a.json.user_id, false);
    expect(await authn(bearer(a.json.access_token))).toMatchObject({ ok: true });
    expect((await call("DELETE", "/auth/delete", undefined, bearer(a.json.access_token))).status).toBe(204);
    expect(await authn(bearer(a.json.access_token))).toMatchObject({ ok: false });
    expect((await call("POST", "/auth/session", undefined, bearer(a.json.refresh_token))).status).toBe(401);
    expect(await auth.getUser(a.json.user_id)).toBeNull();
  });

  it("the signing key is shared by every auth instance on one store (several processes)", async () => {
    const first = await setup();
    const second = await createAuth({ app: first.app, store: first.store });
    const s = await first.login("anon-user");
    expect(await second.authenticateRequest({ headers: { authorization: [`Bearer ${s.json.access_token}`] }, createUserOnAuth: false, fetchCustomUserData: false })).toMatchObject({ ok: true, user: { id: s.json.user_id } });
  });

  it("unknown app ids and malformed bodies get clear errors", async () => {
    const { call, app } = await setup();
    const wrong = await call("POST", "/app/nope-xyz/auth/providers/anon-user/login", {});
    expect(wrong.status).toBe(404);
    expect(wrong.json.error).toBe("cannot find app using Client App ID 'nope-xyz'");
    const bad = await call("POST", `/app/${app.appId}/auth/providers/local-userpass/login`, "{not json");
    expect(bad.status).toBe(400);
    expect(bad.json.error_code).toBe("InvalidParameter");
  });

  it("throttles failed logins per identity: the 11th attempt inside 5 minutes is 429", async () => {
    let t = Date.now();
    const { register, login } = await setup(testApp(), { now: () => t });
    await register("victim@example.com", "Pa55w0rd!");
    for (let i = 0; i < 10; i++) expect((await login("local-userpass", { username: "victim@example.com", password: `guess-${i}` })).status).toBe(401);
    const blocked = await login("local-userpass", { username: "victim@example.com", password: "Pa55w0rd!" });
    expect(blocked.status).toBe(429);
    expect(blocked.json.error_code).toBe("TooManyRequests");
    t += 5 * 60_000 + 1;
    expect((await login("local-userpass", { username: "victim@example.com", password: "Pa55w0rd!" })).status).toBe(200);
  });

  describe("authenticateRequest", () => {
    it("C40 no credentials: 400 InvalidParameter", async () => {
      const { authn } = await setup();
      expect(await authn({ accept: "application/json" })).toEqual({ ok: false, status: 400, error: "no authentication methods were specified", errorCode: "InvalidParameter" });
    });

    it("C41 email without password (or password without email): 400 MissingParameter", async () => {
      const { authn } = await setup();
      for (const h of [{ email: "a@b.c" }, { password: "Pa55w0rd!" }] as Record<string, string>[])
        expect(await authn(h)).toMatchObject({ ok: false, status: 400, errorCode: "MissingParameter", error: expect.stringMatching(/^must specify some form of authentication/) });
    });

    it("C42 unknown API key: 401 invalid session: error finding user for endpoint", async () => {
      const { authn } = await setup();
      expect(await authn({ apiKey: "x".repeat(64) })).toEqual({ ok: false, status: 401, error: "invalid session: error finding user for endpoint", errorCode: "InvalidSession" });
    });

    it("C43 C44 apiKey and api-key headers both authenticate, names case-insensitive", async () => {
      const { authn } = await setup();
      for (const h of [{ apiKey: SERVER_KEY }, { "api-key": SERVER_KEY }, { APIKEY: SERVER_KEY }] as Record<string, string>[])
        expect(await authn(h)).toMatchObject({ ok: true, user: { type: "server" } });
    });

    it("C45 email + password headers authenticate; a wrong password is InvalidSession", async () => {
      const { register, authn } = await setup();
      await register("bob@example", "Pa55w0rd!");
      const ok = await authn({ email: "bob@example", password: "Pa55w0rd!" });
      expect(ok).toMatchObject({ ok: true, user: { type: "normal", data: { email: "bob@example" }, identities: [{ provider_type: "local-userpass" }] } });
      const bad = await authn({ email: "bob@example", password: "nope-nope" });
      expect(bad).toEqual({ ok: false, status: 401, error: "invalid session: error finding user for endpoint", errorCode: "InvalidSession" });
      expect(JSON.stringify(bad)).not.toContain("nope-nope");
    });

    it("C46 C57 jwtTokenString (HS256, aud = app id) authenticates, creating the user when create_user_on_auth", async () => {
      const { app, authn } = await setup();
      const token = await customJwt(app.appId, { sub: "new-sub", user_data: { name: "Ada" } });
      const created = await authn({ jwtTokenString: token }, { createUserOnAuth: true });
      expect(created).toMatchObject({ ok: true, user: { type: "normal", data: { name: "Ada" }, identities: [{ id: "new-sub", provider_type: "custom-token" }] } });
      const again = await authn({ jwttokenstring: token }, { createUserOnAuth: false });
      expect(again).toMatchObject({ ok: true, user: { id: (created as { user: { id: string } }).user.id } });
    });

    it("C57 concurrent first requests for one JWT subject create exactly one user", async () => {
      const { app, authn } = await setup();
      const token = await customJwt(app.appId, { sub: "racer" });
      const results = await Promise.all(Array.from({ length: 6 }, () => authn({ jwtTokenString: token }, { createUserOnAuth: true })));
      const ids = new Set(results.map((r) => (r.ok ? r.user.id : "failed")));
      expect([...ids]).toHaveLength(1);
      expect([...ids][0]).toMatch(/^[0-9a-f]{24}$/);
    });

    it("C58 valid JWT for an unknown sub without create_user_on_auth: 401 InvalidSession", async () => {
      const { app, authn } = await setup();
      const token = await customJwt(app.appId, { sub: "never-seen" });
      expect(await authn({ jwtTokenString: token }, { createUserOnAuth: false })).toEqual({
        ok: false,
        status: 401,
        error: "invalid session: error finding user for endpoint",
        errorCode: "InvalidSession",
      });
    });

    it("C47 Authorization: Bearer <access_token> from login authenticates", async () => {
      const { login, authn, bearer } = await setup();
      const s = await login("anon-user");
      expect(await authn(bearer(s.json.access_token))).toMatchObject({ ok: true, user: { id: s.json.user_id, type: "normal", custom_data: {} } });
    });

    it("C48 an invalid Bearer token fails even with valid credential headers beside it", async () => {
      const { authn, login } = await setup();
      const s = await login("anon-user");
      for (const auth of ["Bearer not-a-token", `Bearer ${s.json.refresh_token}`, "Bearer"])
        expect(await authn({ authorization: auth, apiKey: SERVER_KEY })).toMatchObject({ ok: false, status: 401, errorCode: "InvalidSession" });
    });

    it("C68 legacy body credentials work alone; header and body together are refused", async () => {
      const { authn } = await setup();
      expect(await authn({}, { body: { "api-key": SERVER_KEY } })).toMatchObject({ ok: true, user: { type: "server" } });
      expect(await authn({ apiKey: SERVER_KEY }, { body: { "api-key": SERVER_KEY } })).toMatchObject({ ok: false, status: 400, errorCode: "InvalidParameter" });
    });

    it("more than one credential method in the headers is refused", async () => {
      const { authn } = await setup();
      expect(await authn({ apiKey: SERVER_KEY, email: "a@b.c", password: "Pa55w0rd!" })).toMatchObject({ ok: false, status: 400 });
    });

    it("C55 C56 custom user data: {} when not fetched; the doc by user_id_field (string, else ObjectId) when fetched", async () => {
      const app = testApp({ customUserData: { enabled: true, mongoServiceName: "mongodb-atlas", databaseName: "appdb", collectionName: "custom", userIdField: "user_id" } });
      const cudStore = await backend.open();
      services.push(cudStore);
      const { login, authn, bearer, auth } = await setup(app, { customUserDataService: (name) => (name === "mongodb-atlas" ? cudStore : undefined) });
      const a = await login("anon-user");
      const b = await login("anon-user");
      await cudStore.execute({ kind: "insertOne", database: "appdb", collection: "custom", document: { user_id: a.json.user_id, favourite: "tea" } });
      await cudStore.execute({ kind: "insertOne", database: "appdb", collection: "custom", document: { user_id: new ObjectId(b.json.user_id), favourite: "coffee" } });
      expect(await authn(bearer(a.json.access_token), { fetchCustomUserData: false })).toMatchObject({ ok: true, user: { custom_data: {} } });
      expect(await authn(bearer(a.json.access_token), { fetchCustomUserData: true })).toMatchObject({ ok: true, user: { custom_data: { user_id: a.json.user_id, favourite: "tea" } } });
      expect((await auth.getUser(b.json.user_id, { fetchCustomUserData: true }))?.custom_data.favourite).toBe("coffee");
      await cudStore.execute({ kind: "deleteMany", database: "appdb", collection: "custom", filter: {} });
    });

    it("throttles failed endpoint authentication per client address", async () => {
      const { auth } = await setup();
      const attempt = () => auth.authenticateRequest({ headers: { apikey: ["y".repeat(64)] }, createUserOnAuth: false, fetchCustomUserData: false, remoteAddress: "10.0.0.9" });
      for (let i = 0; i < 10; i++) expect(await attempt()).toMatchObject({ status: 401 });
      expect(await attempt()).toMatchObject({ ok: false, status: 429, errorCode: "TooManyRequests" });
      const other = await auth.authenticateRequest({ headers: { apikey: [SERVER_KEY] }, createUserOnAuth: false, fetchCustomUserData: false, remoteAddress: "10.0.0.10" });
      expect(other.ok).toBe(true);
    });
  });
});

describe("durable store", () => {
  it("users, sessions and the signing key survive a restart of the embedded store", async () => {
    const durable = all.find((b) => b.name === "embedded (durable)")!;
    const app = testApp();
    let store = await durable.open();
    let auth: RestitchAuthService = await createAuth({ app, store });
    const res = await auth.routes.request(`/app/${app.appId}/auth/providers/anon-user/login`, { method: "POST" });
    const s = (await res.json()) as { access_token: string; user_id: string };
    await store.close();
    store = await durable.open();
    auth = await createAuth({ app, store });
    expect(await auth.authenticateRequest({ headers: { authorization: [`Bearer ${s.access_token}`] }, createUserOnAuth: false, fetchCustomUserData: false })).toMatchObject({ ok: true, user: { id: s.user_id } });
    await store.close();
  });
});
