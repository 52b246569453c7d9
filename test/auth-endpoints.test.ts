// Application authentication end to end: the real router (createServer), the real runtime (isolates),
// real @restitch/auth on the embedded store, over real HTTP on 127.0.0.1. Client auth API under
// /api/client/v2.0 and endpoint credentials (spec §5.6, §5.7, §6).
// Root test files cannot resolve @restitch/* by name (the root package depends only on `restitch`),
// so the packages' built entry points are imported by path.
import { createHmac } from "node:crypto";
import { mkdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAuth } from "../packages/auth/dist/index.js";
import { loadApp } from "../packages/config/dist/index.js";
import { createEmbeddedDataService } from "../packages/mongodb/dist/index.js";
import { createServer } from "../packages/router/dist/index.js";
import { createRuntime } from "../packages/runtime/dist/index.js";
import { writeApp } from "./helpers/app.js";

const JWT_KEY = "e2e_signing_key_that_is_long_enough_0123456789";
const SERVER_KEY = "TpqAKQgvhZE4r6AOzpVydJ9a3tB1BLMrgDzLlBLbihKNDzSJWTAHMVbsMoIOpnM6";
const APP = "authe2e-abcde";
const OFF = "authoff-abcde";

const whoami = `exports = function () { return { id: context.user.id, type: context.user.type, data: context.user.data, custom_data: context.user.custom_data, identities: context.user.identities.map((i) => i.provider_type) }; };`;
const appAuth = { run_as_system: false };

async function writeAuthApp(appId: string, providers: Record<string, unknown>, customUserData?: Record<string, unknown>) {
  const dir = await writeApp({
    appId,
    functions: { whoami },
    secrets: { jwtKey: JWT_KEY, "api-key:ci-server": SERVER_KEY },
    endpoints: [
      { route: "/me", http_method: "GET", function_name: "whoami", ...appAuth },
      { route: "/me-custom", http_method: "GET", function_name: "whoami", ...appAuth, fetch_custom_user_data: true },
      { route: "/me-create", http_method: "GET", function_name: "whoami", ...appAuth, create_user_on_auth: true },
    ],
  });
  await mkdir(path.join(dir, "auth"), { recursive: true });
  await writeFile(path.join(dir, "auth", "providers.json"), JSON.stringify(providers, null, 2));
  if (customUserData) {
    await writeFile(path.join(dir, "auth", "custom_user_data.json"), JSON.stringify(customUserData, null, 2));
    await mkdir(path.join(dir, "data_sources", "mongodb-atlas"), { recursive: true });
    await writeFile(path.join(dir, "data_sources", "mongodb-atlas", "config.json"), JSON.stringify({ name: "mongodb-atlas", type: "mongodb-atlas", config: {} }));
  }
  return dir;
}

const allProviders = {
  "anon-user": { name: "anon-user", type: "anon-user", disabled: false },
  "local-userpass": { name: "local-userpass", type: "local-userpass", disabled: false, config: { autoConfirm: true, resetPasswordUrl: "https://example.com/reset" } },
  "api-key": { name: "api-key", type: "api-key", disabled: false },
  "custom-token": {
    name: "custom-token",
    type: "custom-token",
    disabled: false,
    config: { audience: [], requireAnyAudience: false, signingAlgorithm: "HS256", useJWKURI: false },
    secret_config: { signingKeys: ["jwtKey"] },
    metadata_fields: [{ required: false, name: "user_data.name", field_name: "name" }],
  },
};

let url: string;
let close: () => Promise<void>;
const dirs: string[] = [];
let store: Awaited<ReturnType<typeof createEmbeddedDataService>>;

beforeAll(async () => {
  const on = await writeAuthApp(APP, allProviders, {
    enabled: true,
    mongo_service_name: "mongodb-atlas",
    database_name: "app",
    collection_name: "custom",
    user_id_field: "user_id",
  });
  const off = await writeAuthApp(OFF, {
    "local-userpass": { ...allProviders["local-userpass"], disabled: true },
    "api-key": { ...allProviders["api-key"], disabled: true },
    "anon-user": { ...allProviders["anon-user"], disabled: true },
  });
  dirs.push(on, off);
  const apps = [await loadApp(on), await loadApp(off)];
  store = await createEmbeddedDataService({ name: "mongodb-atlas" });
  const auth = new Map();
  for (const app of apps) auth.set(app.appId, await createAuth({ app, store, customUserDataService: () => store }));
  const runtime = createRuntime({});
  const listening = await createServer({ apps, runtime, auth }).listen(0, "127.0.0.1");
  url = listening.url;
  close = async () => {
    await listening.close();
    await runtime.close();
    await store.close();
  };
});
afterAll(async () => {
  await close?.();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function http(method: string, p: string, opts: { body?: unknown; headers?: Record<string, string> } = {}) {
  const res = await fetch(`${url}${p}`, {
    method,
    headers: { "content-type": "application/json", ...opts.headers },
    ...(opts.body === undefined ? {} : { body: JSON.stringify(opts.body) }),
  });
  const text = await res.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json };
}
const client = (p: string) => `/api/client/v2.0${p}`;
const login = (provider: string, body: unknown = {}, app = APP) => http("POST", client(`/app/${app}/auth/providers/${provider}/login`), { body });
const me = (headers: Record<string, string>, route = "/me", app = APP) => http("GET", `/app/${app}/endpoint${route}`, { headers });
/** An HS256 JWT as an external identity provider would mint it (signed here with node:crypto). */
async function jwt(payload: Record<string, unknown>): Promise<string> {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
  const unsigned = `${b64({ alg: "HS256", typ: "JWT" })}.${b64({ aud: APP, exp: 2145916800, iat: 1516239022, ...payload })}`;
  return `${unsigned}.${createHmac("sha256", JWT_KEY).update(unsigned).digest("base64url")}`;
}
const INVALID_USER = { error: "invalid session: error finding user for endpoint", error_code: "InvalidSession" };

describe("client auth API over HTTP", () => {
  it("C139 anon-user login answers the four fields", async () => {
    const r = await login("anon-user");
    expect(r.status).toBe(200);
    expect(Object.keys(r.json).sort()).toEqual(["access_token", "device_id", "refresh_token", "user_id"]);
  });

  it("C146 C147 C140 register then log in with local-userpass", async () => {
    const reg = (email: string, password: string) => http("POST", client(`/app/${APP}/auth/providers/local-userpass/register`), { body: { email, password } });
    const first = await reg("casey@example.com", "Pa55w0rd!");
    expect([first.status, first.text]).toEqual([201, ""]);
    expect((await reg("casey@example.com", "Pa55w0rd!")).json).toMatchObject({ error: "name already in use", error_code: "AccountNameInUse" });
    expect((await reg("shorty@example.com", "12345")).status).toBe(400);
    expect((await login("local-userpass", { username: "casey@example.com", password: "Pa55w0rd!" })).status).toBe(200);
    const wrong = await login("local-userpass", { username: "casey@example.com", password: "not-it-at-all" });
    expect([wrong.status, wrong.json.error_code]).toEqual([401, "InvalidPassword"]);
  });

  it("C141 C142 api-key {key} and custom-token {token} logins", async () => {
    expect((await login("api-key", { key: SERVER_KEY })).status).toBe(200);
    expect((await login("custom-token", { token: await jwt({ sub: "http-1" }) })).status).toBe(200);
  });

  it("refresh, profile, logout, and a user API key round trip", async () => {
    const s = (await login("anon-user")).json;
    const auth = (t: string) => ({ authorization: `Bearer ${t}` });
    const refreshed = await http("POST", client("/auth/session"), { headers: auth(s.refresh_token) });
    expect(refreshed.status).toBe(201);
    const profile = await http("GET", client("/auth/profile"), { headers: auth(refreshed.json.access_token) });
    expect(profile.json).toMatchObject({ user_id: s.user_id, domain_id: APP, type: "normal", identities: [{ provider_type: "anon-user" }] });
    const key = await http("POST", client("/auth/api_keys"), { headers: auth(s.refresh_token), body: { name: "cli" } });
    expect(key.status).toBe(201);
    expect((await me({ apiKey: key.json.key })).json).toMatchObject({ id: s.user_id, type: "normal" });
    expect((await http("DELETE", client("/auth/session"), { headers: auth(s.refresh_token) })).status).toBe(204);
    expect((await http("POST", client("/auth/session"), { headers: auth(s.refresh_token) })).status).toBe(401);
  });

  it("with two apps on one server, each app's /auth routes serve its own tokens", async () => {
    const s = (await login("anon-user")).json;
    const r = await http("POST", client("/auth/session"), { headers: { authorization: `Bearer ${s.refresh_token}` } });
    expect(r.status).toBe(201);
    expect((await login("anon-user", {}, "nope-zzzzz")).status).toBe(404);
  });
});

describe("endpoint application authentication over HTTP", () => {
  it("C40 no credentials: 400 InvalidParameter", async () => {
    const r = await me({});
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ error: "no authentication methods were specified", error_code: "InvalidParameter" });
  });

  it("C41 email without password: 400 MissingParameter", async () => {
    const r = await me({ email: "casey@example.com" });
    expect(r.status).toBe(400);
    expect(r.json.error_code).toBe("MissingParameter");
  });

  it("C42 unknown API key: 401 InvalidSession", async () => {
    const r = await me({ apiKey: "q".repeat(64) });
    expect(r.status).toBe(401);
    expect(r.json).toMatchObject(INVALID_USER);
  });

  it("C43 C44 C81 apiKey and api-key headers authenticate a server user", async () => {
    for (const h of [{ apiKey: SERVER_KEY }, { "api-key": SERVER_KEY }]) {
      const r = await me(h);
      expect(r.status).toBe(200);
      expect(r.json).toMatchObject({ type: "server", identities: ["api-key"] });
      expect(r.json.id).toMatch(/^[0-9a-f]{24}$/);
    }
  });

  it("C45 email + password headers authenticate", async () => {
    await http("POST", client(`/app/${APP}/auth/providers/local-userpass/register`), { body: { email: "bob@example", password: "Pa55w0rd!" } });
    const r = await me({ email: "bob@example", password: "Pa55w0rd!" });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ type: "normal", data: { email: "bob@example" }, identities: ["local-userpass"] });
  });

  it("C46 C57 jwtTokenString authenticates and, with create_user_on_auth, creates the user", async () => {
    const token = await jwt({ sub: "endpoint-new", user_data: { name: "Ada" } });
    const created = await me({ jwtTokenString: token }, "/me-create");
    expect(created.status).toBe(200);
    expect(created.json).toMatchObject({ type: "normal", data: { name: "Ada" }, identities: ["custom-token"] });
    const again = await me({ jwtTokenString: token });
    expect(again.json.id).toBe(created.json.id);
  });

  it("C58 valid JWT for an unknown sub without create_user_on_auth: 401 InvalidSession", async () => {
    const r = await me({ jwtTokenString: await jwt({ sub: "endpoint-unknown" }) });
    expect(r.status).toBe(401);
    expect(r.json).toMatchObject(INVALID_USER);
  });

  it("C47 Authorization: Bearer access token authenticates", async () => {
    const s = (await login("anon-user")).json;
    const r = await me({ authorization: `Bearer ${s.access_token}` });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ id: s.user_id, identities: ["anon-user"] });
  });

  it("C48 invalid Bearer + valid apiKey still fails", async () => {
    const r = await me({ authorization: "Bearer garbage.token.here", apiKey: SERVER_KEY });
    expect(r.status).toBe(401);
    expect(r.json.error_code).toBe("InvalidSession");
  });

  it("C49 credentials for a disabled provider are refused", async () => {
    const r = await me({ apiKey: SERVER_KEY }, "/me", OFF);
    expect(r.status).toBe(401);
    expect(r.json.error_code).toBe("InvalidSession");
    expect((await login("anon-user", {}, OFF)).json).toMatchObject({ error: "authentication via 'anon-user' is unsupported", error_code: "AuthProviderNotFound" });
  });

  it("C55 C56 custom_data is {} unless fetch_custom_user_data, then the user's document", async () => {
    const s = (await login("anon-user")).json;
    await store.execute({ kind: "insertOne", database: "app", collection: "custom", document: { user_id: s.user_id, plan: "gold" } });
    const bearer = { authorization: `Bearer ${s.access_token}` };
    expect((await me(bearer)).json.custom_data).toEqual({});
    expect((await me(bearer, "/me-custom")).json.custom_data).toMatchObject({ plan: "gold", user_id: s.user_id });
  });

  it("failed attempts from one address are throttled: 429 after 10 within the window", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) statuses.push((await me({ apiKey: `${"z".repeat(63)}${i}` })).status);
    // Earlier tests' failures from 127.0.0.1 count too, so the block may start before the 11th try.
    const first429 = statuses.indexOf(429);
    expect(first429).toBeGreaterThanOrEqual(0);
    expect(statuses.slice(0, first429).every((s) => s === 401)).toBe(true);
    expect(statuses.slice(first429).every((s) => s === 429)).toBe(true);
    const blocked = await me({ apiKey: SERVER_KEY });
    expect(blocked.json).toMatchObject({ error_code: "TooManyRequests" });
  });
});
