// Legacy incoming webhooks end to end (spec §5.4 legacy column, §5.5, §5.6, §8; C38, C39, C64–C70):
// `restitch serve`'s startServer on an export with http_endpoints/<Service>/incoming_webhooks/, the app's
// data on the embedded backend and, when MONGODB_URI is set, on the driver backend; real HTTP.
import { createHmac } from "node:crypto";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type RunningServer, type StartServerOptions } from "restitch";
import { writeApp } from "./helpers/app.js";

type CallLogEntry = Parameters<NonNullable<StartServerOptions["onCall"]>>[0];

const MONGODB_URI = process.env.MONGODB_URI;
if (!MONGODB_URI) console.log("MONGODB_URI is not set: the webhook driver-backend tests are skipped (scripts/ferretdb.sh start prints one)");
const RUN = `${process.pid}-${Date.now().toString(36)}`;

interface Hook {
  config: Record<string, unknown>;
  source: string;
}
const get = { httpMethod: "GET", validationMethod: "NO_VALIDATION" };
const post = { httpMethod: "POST", validationMethod: "NO_VALIDATION" };

const hooks = (db: string): Record<string, Hook> => ({
  processed: { config: { respond_result: true, options: post }, source: `exports = function (payload, response) { return { Processed: 900 }; };` },
  statusOnly: { config: { respond_result: true, options: post }, source: `exports = (payload, response) => { response.setStatusCode(201); return { ignored: true }; };` },
  noResult: { config: { respond_result: false, options: post }, source: `exports = () => ({ ignored: true });` },
  setBody: {
    config: { respond_result: true, options: post },
    source: `exports = (payload, response) => { response.setStatusCode(400); response.setHeader("Content-Type", "text/plain"); response.setBody("bad input"); return 1; };`,
  },
  system: { config: { respond_result: true, options: get }, source: `exports = () => ({ system: context.runningAsSystem(), type: context.user.type });` },
  authed: {
    config: { respond_result: true, run_as_authed_user: true, options: post },
    source: `exports = () => ({ system: context.runningAsSystem(), id: context.user.id });`,
  },
  script: {
    config: { respond_result: true, run_as_user_id_script_source: `exports = (payload) => EJSON.parse(payload.body.text()).as;`, options: post },
    source: `exports = () => ({ system: context.runningAsSystem(), id: context.user.id });`,
  },
  asUser: { config: { respond_result: true, run_as_user_id: "000000000000000000000000", options: get }, source: `exports = () => context.user.id;` },
  getOnly: { config: { respond_result: true, options: get }, source: `exports = () => "ok";` },
  any: { config: { respond_result: true, options: { ...get, httpMethod: "ANY" } }, source: `exports = () => context.request.httpMethod;` },
  payload: {
    config: { respond_result: true, options: post },
    source: `exports = (payload) => ({
      keys: Object.keys(payload).sort(), isBinary: payload.body instanceof BSON.Binary, text: payload.body.text(),
      query: payload.query, contentType: payload.headers["Content-Type"], custom: payload.headers["X-Custom"],
      service: context.request.service, action: context.request.action });`,
  },
  signed: {
    config: { respond_result: true, options: { httpMethod: "POST", validationMethod: "VERIFY_PAYLOAD", secret: "12345" } },
    source: `exports = (payload) => ({ received: EJSON.parse(payload.body.text()) });`,
  },
  querySecret: {
    config: { respond_result: true, options: { httpMethod: "POST", validationMethod: "SECRET_AS_QUERY_PARAM", secret: "12345" } },
    source: `exports = (payload) => ({ query: payload.query, raw: context.request.rawQueryString });`,
  },
  guarded: {
    config: { respond_result: true, can_evaluate: { "%%request.requestHeaders.x-allow": "yes" }, options: get },
    source: `exports = () => "allowed";`,
  },
  // Seed 002's source.js verbatim, apart from the database name (unique per run on a shared server).
  seed002: {
    config: { respond_result: true, options: post },
    source: `exports = async function (payload, response) {
  // Convert the webhook body from BSON to an EJSON object
  const body = EJSON.parse(payload.body.text());
  // Execute application logic, such as working with MongoDB
  if (body.someField) {
    const mdb = context.services.get("mongodb-atlas");
    const requests = mdb.db("${db}").collection("requests");
    const { insertedId } = await requests.insertOne({
      someField: body.someField,
    });
    // Respond with an affirmative result
    response.setStatusCode(200);
    response.setBody(\`Successfully saved "someField" with _id: \${insertedId}.\`);
  } else {
    // Respond with a malformed request error
    response.setStatusCode(400);
    response.setBody(\`Could not find "someField" in the webhook request body.\`);
  }
  // This return value does nothing because we already modified the response object.
  // If you do not modify the response object and you enable *Respond with Result*,
  // App Services will include this return value as the response body.
  return { msg: "finished!" };
};`,
  },
});

const backends = [{ label: "embedded", options: {} }, ...(MONGODB_URI ? [{ label: "driver", options: { mongodbUri: MONGODB_URI } }] : [])];

describe.each(backends)("legacy incoming webhooks on the $label backend", ({ label, options }) => {
  const APP = `hooks-${label}-${RUN}`;
  const DB = `hooks_${label}_${RUN.replace(/-/g, "_")}`;
  const calls: CallLogEntry[] = [];
  let s: RunningServer;
  let dir = "";
  let base: string;
  let aliceId = "";
  const alice = { email: "alice@example.com", password: "Pa55w0rd!" };

  beforeAll(async () => {
    dir = await writeApp({
      appId: APP,
      functions: {},
      endpoints: [],
      authProviders: {
        "local-userpass": { name: "local-userpass", type: "local-userpass", disabled: false, config: { autoConfirm: true, resetPasswordUrl: "https://example.com/r" } },
      },
      dataSources: { "mongodb-atlas": {} },
    });
    const svc = path.join(dir, "http_endpoints", "svc");
    const put = async (file: string, content: string) => {
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, content);
    };
    await put(path.join(svc, "config.json"), JSON.stringify({ name: "svc", type: "http", config: {} }));
    // A service rule for outgoing actions: loaded and checked, though no outgoing action is offered.
    await put(path.join(svc, "rules", "allowGet.json"), JSON.stringify({ name: "allowGet", actions: ["get"], when: {} }));
    for (const [name, h] of Object.entries(hooks(DB))) {
      await put(path.join(svc, "incoming_webhooks", name, "config.json"), JSON.stringify({ name, ...h.config }));
      await put(path.join(svc, "incoming_webhooks", name, "source.js"), h.source);
    }
    s = await startServer({ appDir: dir, port: 0, host: "127.0.0.1", ...options, onCall: (e) => calls.push(e) });
    base = `${s.url}/api/client/v2.0/app/${APP}/service/svc/incoming_webhook`;
    const auth = `${s.url}/api/client/v2.0/app/${APP}/auth/providers/local-userpass`;
    const send = (url: string, body: unknown) => fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    expect((await send(`${auth}/register`, alice)).status).toBe(201);
    aliceId = ((await (await send(`${auth}/login`, { username: alice.email, password: alice.password })).json()) as { user_id: string }).user_id;
  });
  afterAll(async () => {
    await s?.close();
    await rm(dir, { recursive: true, force: true });
    if (MONGODB_URI && label === "driver") await dropDatabases(MONGODB_URI, [DB, `__restitch_auth_${APP}`]);
  });

  async function hook(name: string, init: RequestInit & { query?: string } = {}) {
    const res = await fetch(`${base}/${name}${init.query ?? ""}`, { method: "POST", ...init });
    const text = await res.text();
    return { status: res.status, type: res.headers.get("content-type"), text, json: () => JSON.parse(text) };
  }
  // One record per request, refused ones included: the function ran when the record carries its CPU time.
  const ran = (name: string) => calls.filter((c) => c.route.endsWith(`/incoming_webhook/${name}`) && c.cpuMs !== undefined).length;

  it("C64 respond_result returns canonical EJSON, even when the client asks for JSON", async () => {
    const r = await hook("processed", { headers: { Accept: "application/json" } });
    expect(r.status).toBe(200);
    expect(r.text).toBe('{"Processed":{"$numberInt":"900"}}');
    expect(r.type).toContain("application/json");
  });

  it("C65 only setStatusCode: that status and no body; respond_result:false gives 204; setBody wins", async () => {
    const only = await hook("statusOnly");
    expect([only.status, only.text]).toEqual([201, ""]);
    const none = await hook("noResult");
    expect([none.status, none.text]).toEqual([204, ""]);
    const body = await hook("setBody");
    expect([body.status, body.text, body.type]).toEqual([400, "bad input", "text/plain"]);
  });

  it("C66 a webhook with no run-as setting runs as the system user", async () => {
    expect((await hook("system", { method: "GET" })).json()).toEqual({ system: true, type: "system" });
  });

  it("C67 run_as_authed_user accepts credentials in the JSON body, or in headers", async () => {
    const inBody = await hook("authed", { body: JSON.stringify(alice), headers: { "Content-Type": "application/json" } });
    expect(inBody.status).toBe(200);
    expect(inBody.json()).toEqual({ system: false, id: aliceId });
    const inHeaders = await hook("authed", { headers: { email: alice.email, password: alice.password } });
    expect(inHeaders.json()).toEqual({ system: false, id: aliceId });
    const wrong = await hook("authed", { body: JSON.stringify({ ...alice, password: "not-her-password" }) });
    expect(wrong.status).toBe(401);
  });

  it("C68 credentials in both headers and body are refused and the function does not run", async () => {
    const before = ran("authed");
    const r = await hook("authed", { body: JSON.stringify(alice), headers: { email: alice.email, password: alice.password } });
    expect(r.status).toBe(400);
    expect(r.json().error_code).toBe("InvalidParameter");
    expect(ran("authed")).toBe(before);
  });

  it("run_as_user_id_script_source receives the webhook payload; run_as_user_id of an unknown user is refused", async () => {
    const r = await hook("script", { body: JSON.stringify({ as: aliceId }) });
    expect(r.json()).toEqual({ system: false, id: aliceId });
    const unknown = await hook("asUser", { method: "GET" });
    expect(unknown.status).toBe(401);
    expect(unknown.json().error_code).toBe("InvalidSession");
  });

  it("C69 options.httpMethod: another method is refused (405, function not run); ANY takes every method", async () => {
    const before = ran("getOnly");
    const r = await hook("getOnly", { method: "POST", body: "{}" });
    expect(r.status).toBe(405);
    expect(ran("getOnly")).toBe(before);
    expect((await hook("getOnly", { method: "GET" })).status).toBe(200);
    for (const method of ["GET", "POST", "PUT", "PATCH", "DELETE"]) {
      const a = await hook("any", { method });
      expect([a.status, a.text]).toEqual([200, JSON.stringify(method)]);
    }
  });

  it("C70 the payload is {query, headers, body: BSON.Binary}", async () => {
    const r = await hook("payload", {
      query: "?a=1&a=2&b=x",
      body: '{ "raw": true }',
      headers: { "Content-Type": "application/json", "X-Custom": "v" },
    });
    expect(r.json()).toEqual({
      keys: ["body", "headers", "query"],
      isBinary: true,
      text: '{ "raw": true }',
      query: { a: "1", b: "x" },
      contentType: ["application/json"],
      custom: ["v"],
      service: "svc",
      action: "payload",
    });
  });

  it("C38 X-Hook-Signature: the seed 004 curl, replayed byte for byte, is accepted", async () => {
    const { port } = new URL(s.url);
    const body = '{"message":"MESSAGE"}';
    const request =
      `POST /api/client/v2.0/app/${APP}/service/svc/incoming_webhook/signed HTTP/1.1\r\n` +
      `Host: 127.0.0.1:${port}\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\nContent-Type: application/json\r\n` +
      `X-Hook-Signature:sha256=828ee180512eaf8a6229eda7eea72323f68e9c0f0093b11a578b0544c5777862\r\n` +
      `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`;
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), "127.0.0.1", () => socket.end(request));
      let data = "";
      socket.setEncoding("utf8").on("data", (d) => (data += d)).on("end", () => resolve(data)).on("error", reject);
    });
    expect(answer.split("\r\n")[0]).toBe("HTTP/1.1 200 OK");
    expect(answer.slice(answer.indexOf("\r\n\r\n") + 4)).toBe('{"received":{"message":"MESSAGE"}}');
  });

  it("C38 a wrong, missing or re-spaced-body signature is refused and the function does not run", async () => {
    const before = ran("signed");
    const sign = (b: string) => `sha256=${createHmac("sha256", "12345").update(b).digest("hex")}`;
    const compact = '{"message":"MESSAGE"}';
    const cases: Record<string, string>[] = [{}, { "X-Hook-Signature": sign("other") }, { "X-Hook-Signature": "sha256=zz" }];
    for (const headers of cases) expect((await hook("signed", { body: compact, headers })).status).toBe(401);
    expect((await hook("signed", { body: '{ "message": "MESSAGE" }', headers: { "X-Hook-Signature": sign(compact) } })).status).toBe(401);
    // Endpoints' header name is not the webhook's.
    expect((await hook("signed", { body: compact, headers: { "Endpoint-Signature": sign(compact) } })).status).toBe(401);
    expect(ran("signed")).toBe(before);
    expect((await hook("signed", { body: compact, headers: { "X-Hook-Signature": sign(compact) } })).status).toBe(200);
  });

  it("C39 ?secret= is checked against the literal options.secret and kept out of the payload", async () => {
    const ok = await hook("querySecret", { query: "?x=1&secret=12345", body: '{ "message": "HELLO" }', headers: { "Content-Type": "application/json" } });
    expect(ok.status).toBe(200);
    expect(ok.json()).toEqual({ query: { x: "1" }, raw: "x=1" });
    const before = ran("querySecret");
    expect((await hook("querySecret", { query: "?secret=1234" })).status).toBe(401);
    expect((await hook("querySecret")).status).toBe(401);
    expect(ran("querySecret")).toBe(before);
  });

  it("can_evaluate refuses (403) unless it holds", async () => {
    const no = await hook("guarded", { method: "GET" });
    expect(no.status).toBe(403);
    expect(no.json().error_code).toBe("FunctionNotAllowed");
    expect((await hook("guarded", { method: "GET", headers: { "X-Allow": "yes" } })).text).toBe('"allowed"');
  });

  it("seed 002's webhook source stores the body through mongodb-atlas and answers with setBody", async () => {
    const r = await hook("seed002", { body: JSON.stringify({ someField: "abc" }), headers: { "Content-Type": "application/json" } });
    expect(r.status).toBe(200);
    expect(r.text).toMatch(/^Successfully saved "someField" with _id: [0-9a-f]{24}\.$/);
    const bad = await hook("seed002", { body: "{}" });
    expect([bad.status, bad.text]).toEqual([400, 'Could not find "someField" in the webhook request body.']);
  });

  it("unknown webhook, service or app: 404 with the one error shape", async () => {
    const r = await hook("nope");
    expect(r.status).toBe(404);
    expect(r.json()).toEqual({ error: "no incoming webhook 'nope' in service 'svc'", error_code: "WebhookNotFound" });
    expect((await fetch(`${s.url}/api/client/v2.0/app/${APP}/service/other/incoming_webhook/processed`, { method: "POST" })).status).toBe(404);
    const app = await fetch(`${s.url}/api/client/v2.0/app/nope-zzzzz/service/svc/incoming_webhook/processed`, { method: "POST" });
    expect(app.status).toBe(404);
    expect(((await app.json()) as { error: string }).error).toBe("cannot find app using Client App ID 'nope-zzzzz'");
  });
});

async function dropDatabases(uri: string, names: string[]): Promise<void> {
  const { createRequire } = await import("node:module");
  const { MongoClient } = createRequire(new URL("../packages/mongodb/package.json", import.meta.url))("mongodb");
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 5000 });
  try {
    for (const n of names) await client.db(n).dropDatabase();
  } finally {
    await client.close();
  }
}
