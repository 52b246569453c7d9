/**
 * Logs, metrics and health endpoints of a real server on loopback (startServer with @restitch/observe):
 * one record per request and per function run outside a request, console output attached and capped,
 * no credential in any record; /metrics counters moving; /healthz; /readyz, 503 while draining.
 */
import { rm } from "node:fs/promises";
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger, createServerMetrics, startServer, type LogRecord, type RunningServer } from "restitch";
import { call, writeApp } from "./helpers/app.js";

const APP = "obs-abcde";
const SECRET_VALUE = "s3cr3t-value-Zq81";
const PASSWORD = "Pa55w0rd-Ky7!";
const API_KEY_SENT = "apikey-Hh2-notlogged";

type Line = LogRecord & { level: string; msg: string; time: number; pid: number };

let dir = "";
let server: RunningServer;
let text = ""; // everything the logger wrote
const records = (): Line[] =>
  text
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Line);
const byRequest = (id: string) => records().filter((r) => r.requestId === id);
let client = "";
let base = "";

beforeAll(async () => {
  dir = await writeApp({
    appId: APP,
    functions: {
      // Logs what a careless tenant logs: its request headers (the bearer token), a secret value, a password.
      hello: `exports = function (req) {
        console.log("headers", JSON.stringify(context.request.requestHeaders));
        console.log("the key is", context.values.get("apiKey"));
        console.log({ password: "${PASSWORD}", user: context.user.id });
        return { hi: context.user.id };
      };`,
      boom: `exports = function () { throw new Error("kaboom with password=${PASSWORD} and ${SECRET_VALUE}"); };`,
      spin: `exports = function () { for (;;) {} };`,
      chatty: `exports = function () { for (let i = 0; i < 500; i++) console.log("line " + i + " " + "x".repeat(80)); return "said a lot"; };`,
      authFunc: `exports = function (payload) { console.log("login payload", JSON.stringify(payload)); return "ext-" + payload.username; };`,
    },
    endpoints: [
      { route: "/hello", http_method: "GET", function_name: "hello", run_as_system: false },
      { route: "/boom", http_method: "GET", function_name: "boom" },
      { route: "/spin", http_method: "GET", function_name: "spin" },
      { route: "/chatty", http_method: "GET", function_name: "chatty" },
    ],
    values: { apiKey: { value: "apiKeySecret", from_secret: true } },
    secrets: { apiKeySecret: SECRET_VALUE },
    authProviders: {
      "local-userpass": { name: "local-userpass", type: "local-userpass", disabled: false, config: { autoConfirm: true, resetPasswordUrl: "https://example.com/reset" } },
      "custom-function": { name: "custom-function", type: "custom-function", disabled: false, config: { functionName: "authFunc" } },
    },
  });
  const logger = createLogger({ format: "json", destination: { write: (line: string) => void (text += line) } });
  server = await startServer({
    appDir: dir,
    port: 0,
    host: "127.0.0.1",
    runtime: { limits: { cpuTimeMs: 150 } },
    observe: { logger, metrics: createServerMetrics({ processMetrics: false }) },
  });
  client = `${server.url}/api/client/v2.0/app/${APP}/auth/providers`;
  base = `${server.url}/app/${APP}/endpoint`;
});
afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  call(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });

/** The value of one sample in Prometheus text, 0 when absent. */
function sample(metrics: string, name: string, labels: Record<string, string> = {}): number {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of metrics.split("\n")) {
    if (line.startsWith("#") || !line.startsWith(name)) continue;
    const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = (m[2] ?? "").split(",");
    if (want.every((w) => have.includes(w))) return Number(m[3]);
  }
  return 0;
}
function get(url: string, agent: http.Agent): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent }, (res) => {
        let body = "";
        res.on("data", (d) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode!, body }));
      })
      .on("error", reject);
  });
}
const metrics = async () => (await call(`${server.url}/metrics`)).text;

describe("log records", () => {
  let token = "";
  let refresh = "";
  let userId = "";
  beforeAll(async () => {
    expect((await post(`${client}/local-userpass/register`, { email: "ada@example.com", password: PASSWORD })).status).toBe(201);
    const login = (await post(`${client}/local-userpass/login`, { username: "ada@example.com", password: PASSWORD })).json();
    token = login.access_token;
    refresh = login.refresh_token;
    userId = login.user_id;
  });

  it("a successful run: one record with app, route, function, user id, status, durations, CPU time, request id; console attached", async () => {
    const res = await call(`${base}/hello`, { headers: { authorization: `Bearer ${token}`, "x-api-key": API_KEY_SENT } });
    expect(res.status).toBe(200);
    const id = res.headers.get("x-request-id")!;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const [rec, ...more] = byRequest(id);
    expect(more).toHaveLength(0);
    expect(rec).toMatchObject({ level: "info", kind: "endpoint", app: APP, method: "GET", route: "/hello", path: `/app/${APP}/endpoint/hello`, function: "hello", userId, status: 200, hostCalls: expect.any(Number) });
    expect(rec!.durationMs).toBeGreaterThan(0);
    expect(rec!.cpuMs).toBeGreaterThan(0);
    expect(rec!.runMs).toBeLessThanOrEqual(rec!.durationMs);
    expect(rec!.msg).toBe(`GET /app/${APP}/endpoint/hello 200 ${rec!.durationMs}ms`);
    expect(rec!.console).toHaveLength(3);
    expect(rec!.console![0]).toContain("headers");
    expect(rec!.console![1]).toBe("the key is [redacted]");
    expect(rec!.console![2]).toContain(userId);
  });

  it("an incoming X-Request-Id is kept when sane and replaced when not", async () => {
    const kept = await call(`${base}/boom`, { headers: { "x-request-id": "trace-42.a:b" } });
    expect(kept.headers.get("x-request-id")).toBe("trace-42.a:b");
    expect(byRequest("trace-42.a:b")).toHaveLength(1);
    for (const bad of ["x".repeat(129), "has space", '"quoted"', "{json}"]) {
      const r = await call(`${base}/boom`, { headers: { "x-request-id": bad } });
      expect(r.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it("a failing run: warn record with the error kind, message and tenant stack, credentials scrubbed", async () => {
    const res = await call(`${base}/boom`);
    expect(res.status).toBe(400);
    const [rec] = byRequest(res.headers.get("x-request-id")!);
    expect(rec).toMatchObject({ level: "warn", kind: "endpoint", function: "boom", status: 400, error: { kind: "threw", name: "Error" } });
    expect(rec!.userId).toBeUndefined(); // ran as system
    expect(rec!.error!.message).toBe("kaboom with password=[redacted] and [redacted]");
    expect(rec!.error!.stack).toContain("functions/boom.js");
  });

  it("a limit hit: the record names the limit (cpu)", async () => {
    const res = await call(`${base}/spin`);
    expect(res.status).toBeGreaterThanOrEqual(400);
    const [rec] = byRequest(res.headers.get("x-request-id")!);
    expect(rec).toMatchObject({ kind: "endpoint", function: "spin", error: { kind: "cpu" } });
    expect(rec!.cpuMs).toBeGreaterThanOrEqual(100);
  });

  it("console output is capped per record (whole lines up to 4 KiB, the rest counted)", async () => {
    const res = await call(`${base}/chatty`);
    expect(res.status).toBe(200);
    const [rec] = byRequest(res.headers.get("x-request-id")!);
    const bytes = rec!.console!.reduce((n, l) => n + Buffer.byteLength(l), 0);
    expect(bytes).toBeLessThanOrEqual(4096);
    expect(rec!.console![0]).toMatch(/^line 0 x+$/);
    expect(rec!.console!.length + rec!.consoleDropped!).toBe(500);
  });

  it("refused requests get a record too (unknown endpoint, client auth API), with a low-cardinality route", async () => {
    const res = await call(`${base}/nope/12345`);
    expect(res.status).toBe(404);
    const [rec] = byRequest(res.headers.get("x-request-id")!);
    expect(rec).toMatchObject({ level: "warn", kind: "endpoint", app: APP, route: "/app/:appId/endpoint/*", path: `/app/${APP}/endpoint/nope/12345`, status: 404, errorCode: "EndpointNotFound" });
    const login = records().find((r) => r.kind === "http" && r.path === `/api/client/v2.0/app/${APP}/auth/providers/local-userpass/login`);
    expect(login).toMatchObject({ app: APP, method: "POST", status: 200 });
    expect(login!.route).toContain(":");
  });

  it("a function run outside a request's own function (custom-function auth) has its own record", async () => {
    const res = await post(`${client}/custom-function/login`, { username: "grace", password: PASSWORD });
    expect(res.status).toBe(200);
    const run = records().find((r) => r.kind === "function" && r.function === "authFunc");
    expect(run).toMatchObject({ level: "info", app: APP, msg: expect.stringMatching(/^function authFunc ok /) });
    expect(run!.status).toBeUndefined();
    expect(run!.console![0]).toContain('"username":"grace"');
    expect(run!.console![0]).not.toContain(PASSWORD);
  });

  it("no secret or credential appears in any record", async () => {
    // Give every secret a chance to be logged: bad logins, a refresh, a request with an API key header.
    await post(`${client}/local-userpass/login`, { username: "ada@example.com", password: `${PASSWORD}-wrong` });
    await call(`${server.url}/api/client/v2.0/auth/session`, { method: "POST", headers: { authorization: `Bearer ${refresh}` } });
    await call(`${base}/hello?secret=${SECRET_VALUE}`, { headers: { authorization: `Bearer ${token}`, cookie: `session=${SECRET_VALUE}` } });
    expect(records().length).toBeGreaterThan(10);
    for (const s of [SECRET_VALUE, PASSWORD, token, refresh, API_KEY_SENT, token.split(".")[2]!]) {
      expect(text.includes(s), `'${s}' appears in the log`).toBe(false);
    }
  });
});

describe("metrics", () => {
  it("counts requests, function runs, limit hits and durations, and reports the isolate pool", async () => {
    const labels = { app: APP, route: "/boom", method: "GET", status: "400" };
    const before = await metrics();
    for (let i = 0; i < 3; i++) await call(`${base}/boom`);
    await call(`${base}/spin`);
    await call(`${base}/chatty`); // the spin's isolate was disposed; this one's is back in the pool
    const after = await metrics();
    expect(sample(after, "restitch_http_requests_total", labels) - sample(before, "restitch_http_requests_total", labels)).toBe(3);
    const threw = { app: APP, function: "boom", outcome: "threw" };
    expect(sample(after, "restitch_function_runs_total", threw) - sample(before, "restitch_function_runs_total", threw)).toBe(3);
    const cpu = { app: APP, kind: "cpu" };
    expect(sample(after, "restitch_limit_hits_total", cpu) - sample(before, "restitch_limit_hits_total", cpu)).toBe(1);
    const count = { app: APP, route: "/boom", method: "GET" };
    expect(sample(after, "restitch_http_request_duration_seconds_count", count) - sample(before, "restitch_http_request_duration_seconds_count", count)).toBe(3);
    expect(sample(after, "restitch_http_request_duration_seconds_bucket", { ...count, le: "+Inf" })).toBe(sample(after, "restitch_http_request_duration_seconds_count", count));
    expect(sample(after, "restitch_function_cpu_seconds_total", { app: APP, function: "spin" })).toBeGreaterThan(0.1);
    expect(sample(after, "restitch_pool_isolates", { app: APP })).toBeGreaterThanOrEqual(1);
    expect(after).toContain("# TYPE restitch_pool_busy gauge");
    // Scrapes are not requests: they are not counted or logged.
    expect(after).not.toMatch(/route="\/metrics"/);
    expect(records().some((r) => r.path === "/metrics")).toBe(false);
  });
});

describe("health endpoints", () => {
  it("/healthz answers while the process is alive; /readyz lists its checks", async () => {
    expect((await call(`${server.url}/healthz`)).json()).toEqual({ status: "ok" });
    const ready = await call(`${server.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(ready.json()).toEqual({ status: "ready", checks: { server: "ok", runtime: "ok" } });
  });

  it("/readyz checks each data source (the driver backend when MONGODB_URI is set, else the embedded store)", async () => {
    const d = await writeApp({ appId: "ready-abcde", functions: {}, endpoints: [], dataSources: { "mongodb-atlas": {} } });
    const uri = process.env.MONGODB_URI;
    const s = await startServer({ appDir: d, port: 0, host: "127.0.0.1", observe: { metrics: false }, ...(uri ? { mongodbUri: uri } : {}) });
    try {
      const ready = await call(`${s.url}/readyz`);
      expect(ready.json()).toEqual({ status: "ready", checks: { server: "ok", runtime: "ok", "data:ready-abcde/mongodb-atlas": "ok" } });
      expect((await call(`${s.url}/metrics`)).status).toBe(404); // metrics: false
    } finally {
      await s.close();
      await rm(d, { recursive: true, force: true });
    }
  });

  it("/readyz answers 503 while the server drains", async () => {
    const d = await writeApp({ appId: "drain-abcde", functions: { slow: "exports = () => new Promise((r) => setTimeout(() => r('done'), 800));" }, endpoints: [{ route: "/slow", http_method: "GET", function_name: "slow" }] });
    const s = await startServer({ appDir: d, port: 0, host: "127.0.0.1", observe: {} });
    try {
      // A call in flight: its connection is accepted before close() (which stops accepting at once).
      let connected!: () => void;
      const accepted = new Promise<void>((r) => (connected = r));
      const slow = new Promise<string>((resolve, reject) => {
        const req = http.get(`${s.url}/app/drain-abcde/endpoint/slow`, { agent: false }, (res) => {
          let body = "";
          res.on("data", (d) => (body += d));
          res.on("end", () => resolve(body));
        });
        req.on("error", reject);
        req.on("socket", (socket) => socket.once("connect", () => connected()));
      });
      await accepted;
      // A second keep-alive connection, idle once answered; it is reused after close() began (a new
      // connection would be refused: the server stops accepting at once).
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      expect((await get(`${s.url}/readyz`, agent)).status).toBe(200);
      const closing = s.close();
      const draining = await get(`${s.url}/readyz`, agent);
      expect(draining.status).toBe(503);
      expect(JSON.parse(draining.body)).toMatchObject({ status: "not ready", checks: { server: expect.stringContaining("draining") } });
      expect(await slow).toBe('"done"');
      await closing;
      agent.destroy();
    } finally {
      await s.close();
      await rm(d, { recursive: true, force: true });
    }
  });
});
