// Who the endpoint function runs as (run_as_*), and can_evaluate (spec §3, §5.1), over real HTTP.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { call, serveApp, type AppSpec, type TestServer } from "./helpers/app.js";

const whoami = `exports = function () { return { system: context.runningAsSystem(), id: context.user.id, type: context.user.type }; };`;
const authProviders = { "anon-user": { name: "anon-user", type: "anon-user", disabled: false } };

let USER = "";
let dataDir = "";
let s: TestServer;
beforeAll(async () => {
  // run_as_user_id must name an existing user: create one (anonymous login) in a durable store first,
  // then serve the app whose config names that user, on the same store.
  dataDir = await mkdtemp(path.join(tmpdir(), "restitch-authz-"));
  const first = await serveApp({ appId: "authz-abcde", functions: { whoami }, endpoints: [], authProviders }, { dataDir });
  const login = await call(`${first.url}/api/client/v2.0/app/authz-abcde/auth/providers/anon-user/login`, { method: "POST" });
  USER = login.json().user_id;
  await first.stop();
  s = await serveApp(spec(USER), { dataDir });
});
afterAll(async () => {
  await s?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

function spec(USER: string): AppSpec {
  return {
    appId: "authz-abcde",
    authProviders,
    functions: {
      whoami,
      isEven: `exports = function (n) { return n % 2 === 0; };`,
      boom: `exports = function () { throw new Error("nope"); };`,
    },
    values: { admin_ids: { value: [USER] } },
    endpoints: [
      { route: "/system", http_method: "GET", function_name: "whoami", run_as_system: true },
      { route: "/as-user", http_method: "GET", function_name: "whoami", run_as_system: false, run_as_user_id: USER },
      {
        route: "/script-user",
        http_method: "GET",
        function_name: "whoami",
        run_as_system: false,
        run_as_user_id_script_source: `exports = () => { return "${USER}"; }`,
      },
      {
        route: "/script-system",
        http_method: "GET",
        function_name: "whoami",
        run_as_system: false,
        run_as_user_id_script_source: `exports = function (request) { return request.query.who ? request.query.who : { runAsSystem: true }; }`,
      },
      { route: "/app-auth", http_method: "GET", function_name: "whoami", run_as_system: false },
      { route: "/ce-empty", http_method: "GET", function_name: "whoami", can_evaluate: {} },
      { route: "/ce-false", http_method: "GET", function_name: "whoami", can_evaluate: false },
      { route: "/ce-header", http_method: "GET", function_name: "whoami", can_evaluate: { "%%request.requestHeaders.x-secret-key": "my-secret" } },
      { route: "/ce-fn", http_method: "GET", function_name: "whoami", can_evaluate: { "%%true": { "%function": { name: "isEven", arguments: ["%%request.httpMethod"] } } } },
      { route: "/ce-even", http_method: "GET", function_name: "whoami", can_evaluate: { "%%true": { "%function": { name: "isEven", arguments: [42] } } } },
      { route: "/ce-throws", http_method: "GET", function_name: "whoami", can_evaluate: { "%%true": { "%function": { name: "boom", arguments: [] } } } },
      {
        route: "/ce-admin",
        http_method: "GET",
        function_name: "whoami",
        run_as_system: false,
        run_as_user_id: USER,
        can_evaluate: { "%%user.id": { $in: "%%values.admin_ids" }, "%%request.remoteIPAddress": { "%nin": ["10.0.0.1"] } },
      },
      {
        route: "/ce-blocked-ip",
        http_method: "GET",
        function_name: "whoami",
        can_evaluate: { "%%request.remoteIPAddress": { $nin: ["127.0.0.1"] } },
      },
    ],
  };
}

describe("execution user", () => {
  it("C50 a system endpoint needs no credentials and runningAsSystem() is true", async () => {
    const r = await call(`${s.base}/system`);
    expect(r.status).toBe(200);
    expect(r.json()).toMatchObject({ system: true, type: "system" });
  });
  it("C52 run_as_user_id runs as that user without credentials", async () => {
    expect((await call(`${s.base}/as-user`)).json()).toEqual({ system: false, id: USER, type: "normal" });
  });
  it("C53 script auth returning a user id runs as that user", async () => {
    expect((await call(`${s.base}/script-user`)).json()).toMatchObject({ system: false, id: USER });
  });
  it("C54 script auth returning {runAsSystem:true} runs as system (and sees the request)", async () => {
    expect((await call(`${s.base}/script-system`)).json()).toMatchObject({ system: true });
    expect((await call(`${s.base}/script-system?who=${USER}`)).json()).toMatchObject({ system: false, id: USER });
  });
  it("C40 application authentication without credentials is refused before the function runs", async () => {
    const r = await call(`${s.base}/app-auth`);
    expect(r.status).toBe(400);
    expect(r.json()).toMatchObject({ error: "no authentication methods were specified", error_code: "InvalidParameter" });
  });
  it("C47 a Bearer access token from login runs the function as that user", async () => {
    const login = (await call(`${s.url}/api/client/v2.0/app/authz-abcde/auth/providers/anon-user/login`, { method: "POST" })).json();
    const r = await call(`${s.base}/app-auth`, { headers: { Authorization: `Bearer ${login.access_token}` } });
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({ system: false, id: login.user_id, type: "normal" });
  });
  it("C48 an invalid Bearer token is refused", async () => {
    const r = await call(`${s.base}/app-auth`, { headers: { Authorization: "Bearer not-a-token" } });
    expect(r.status).toBe(401);
    expect(r.json().error_code).toBe("InvalidSession");
  });
});

describe("can_evaluate", () => {
  it("C59 {} (or absent) allows the request", async () => {
    expect((await call(`${s.base}/ce-empty`)).status).toBe(200);
    expect((await call(`${s.base}/system`)).status).toBe(200);
  });
  it("C60 false refuses with an error; the function does not run", async () => {
    const r = await call(`${s.base}/ce-false`);
    expect(r.status).toBe(403);
    expect(r.json().error_code).toBe("FunctionNotAllowed");
    expect(r.text).not.toContain('"system"');
  });
  it("C61 %%request.requestHeaders.x-secret-key passes only with the header", async () => {
    expect((await call(`${s.base}/ce-header`, { headers: { "X-Secret-Key": "my-secret" } })).status).toBe(200);
    expect((await call(`${s.base}/ce-header`, { headers: { "X-Secret-Key": "wrong" } })).status).toBe(403);
    expect((await call(`${s.base}/ce-header`)).status).toBe(403);
  });
  it("C103 %function returning true allows; C104 a throwing %function makes the expression false", async () => {
    expect((await call(`${s.base}/ce-even`)).status).toBe(200);
    expect((await call(`${s.base}/ce-throws`)).status).toBe(403);
    // "GET" % 2 is NaN -> not even -> refused: the function really ran with the expanded argument.
    expect((await call(`${s.base}/ce-fn`)).status).toBe(403);
  });
  it("C101 C102 C105 %%user.id $in %%values list AND a %nin IP rule", async () => {
    expect((await call(`${s.base}/ce-admin`)).status).toBe(200);
  });
  it("C106 %%request.remoteIPAddress $nin blocks a listed address", async () => {
    expect((await call(`${s.base}/ce-blocked-ip`)).status).toBe(403);
  });
});
