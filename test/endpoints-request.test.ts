// What the endpoint function sees: the request argument and context (real HTTP in, real isolate).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { call, serveApp, type TestServer } from "./helpers/app.js";

let s: TestServer;
beforeAll(async () => {
  s = await serveApp({
    appId: "request-abcde",
    environment: "production",
    functions: {
      inspect: `exports = async function (request, response) {
        return {
          argc: arguments.length,
          hasResponse: typeof response.setBody === "function",
          query: request.query,
          headers: request.headers,
          bodyUndefined: request.body === undefined,
          bodyText: request.body === undefined ? null : request.body.text(),
          ctx: {
            rawQueryString: context.request.rawQueryString,
            httpMethod: context.request.httpMethod,
            webhookUrl: context.request.webhookUrl,
            uaUndefined: context.request.httpUserAgent === undefined,
            refUndefined: context.request.httpReferrer === undefined,
            userAgent: context.request.httpUserAgent ?? null,
            remoteIPAddress: context.request.remoteIPAddress,
            requestHeaders: context.request.requestHeaders,
          },
        };
      };`,
      sync: `exports = function () { return "sync"; };`,
      local: `function helper(x) { return x * 2; }\nconst K = 21;\nfunction main() { return helper(K); }\nexports = main;`,
      requires: `exports = function () { const assert = require("assert"); const url = require("url"); assert.ok(true); return new url.URL("https://a.example/p?q=1").searchParams.get("q"); };`,
      ctx: `exports = function () {
        return {
          plain: context.values.get("plain"),
          fromSecret: context.values.get("fromSecret"),
          unknownIsUndefined: context.values.get("nope") === undefined,
          tag: context.environment.tag,
          envValue: context.environment.values.X,
          clientAppId: context.app.clientAppId,
          noService: context.services.get("nope") === undefined,
        };
      };`,
      callSum: `exports = async function () { return { sum: await context.functions.execute("sum", 1, 2), priv: await context.functions.execute("hidden") }; };`,
      sum: `exports = function (a, b) { return a + b; };`,
      hidden: { source: `exports = function () { return "private ok"; };`, private: true },
      ejsonBody: `exports = function (request) { const doc = EJSON.parse(request.body.text()); return { isOid: doc._id instanceof BSON.ObjectId, hex: doc._id.toHexString() }; };`,
    },
    endpoints: [
      { route: "/inspect", http_method: "*", function_name: "inspect" },
      { route: "/sync", http_method: "GET", function_name: "sync" },
      { route: "/local", http_method: "GET", function_name: "local" },
      { route: "/requires", http_method: "GET", function_name: "requires" },
      { route: "/ctx", http_method: "GET", function_name: "ctx" },
      { route: "/call-sum", http_method: "GET", function_name: "callSum" },
      { route: "/ejson-body", http_method: "POST", function_name: "ejsonBody" },
    ],
    values: { plain: { value: { nested: [1, 2] } }, fromSecret: { value: "mySecret", from_secret: true } },
    secrets: { mySecret: "s3cr3t-value" },
    environments: { production: { X: "prod-x" } },
  });
});
afterAll(() => s?.stop());

describe("request object and context.request", () => {
  it("C5 the function receives (request, response) with query, headers and body", async () => {
    const r = (await call(`${s.base}/inspect?x=1`, { method: "POST", body: "hi" })).json();
    expect(r.argc).toBe(2);
    expect(r.hasResponse).toBe(true);
    expect(r.query).toEqual({ x: "1" });
    expect(r.headers).toBeTypeOf("object");
    expect(r.bodyText).toBe("hi");
  });

  it("C6 request.body is undefined when no body is sent", async () => {
    expect((await call(`${s.base}/inspect`)).json().bodyUndefined).toBe(true);
  });

  it("C7 request.body.text() returns the exact raw body", async () => {
    const raw = '{ "message":  "Hello!",\n "ü": "✓" }';
    expect((await call(`${s.base}/inspect`, { method: "PUT", body: raw })).json().bodyText).toBe(raw);
  });

  it("C8 request.headers[name] is an array of strings (every value kept)", async () => {
    const r = await rawJson(s.url, "GET /app/request-abcde/endpoint/inspect", ["X-Custom: a", "X-Custom: b", "Accept: application/json"]);
    expect(r.headers["X-Custom"]).toEqual(["a", "b"]);
    expect(r.headers["Accept"]).toEqual(["application/json"]);
    expect(r.ctx.requestHeaders["X-Custom"]).toEqual(["a", "b"]);
  });

  it("C9 ?a=1&a=2 gives request.query.a === '1'", async () => {
    expect((await call(`${s.base}/inspect?a=1&a=2`)).json().query.a).toBe("1");
  });

  it("C10 rawQueryString omits secret=… and keeps the other params in order", async () => {
    const r = (await call(`${s.base}/inspect?z=9&secret=hello&someParam=42&a=1`)).json();
    expect(r.ctx.rawQueryString).toBe("z=9&someParam=42&a=1");
  });

  it("C11 httpMethod equals the request method; webhookUrl is the route", async () => {
    const r = (await call(`${s.base}/inspect`, { method: "PATCH" })).json();
    expect(r.ctx.httpMethod).toBe("PATCH");
    expect(r.ctx.webhookUrl).toBe("/inspect");
    expect(r.ctx.remoteIPAddress).toBe("127.0.0.1");
  });

  it("C12 httpUserAgent / httpReferrer are undefined when the headers are absent", async () => {
    const r = await rawJson(s.url, "GET /app/request-abcde/endpoint/inspect", []);
    expect(r.ctx.uaUndefined).toBe(true);
    expect(r.ctx.refUndefined).toBe(true);
    const withUa = (await call(`${s.base}/inspect`, { headers: { "User-Agent": "ua/1" } })).json();
    expect(withUa.ctx.userAgent).toBe("ua/1");
  });
});

describe("function styles and context", () => {
  it("C71 async and plain function exports both work", async () => {
    expect((await call(`${s.base}/sync`)).json()).toBe("sync");
    expect((await call(`${s.base}/inspect`)).status).toBe(200);
  });
  it("C72 exports = localFn with helpers in the file", async () => {
    expect((await call(`${s.base}/local`)).json()).toBe(42);
  });
  it("C73 require() inside the body works for assert and url", async () => {
    expect((await call(`${s.base}/requires`)).json()).toBe("1");
  });
  it("C74 C75 C76 C77 C80 C82 values, secrets, environment, services and app", async () => {
    expect((await call(`${s.base}/ctx`)).json()).toEqual({
      plain: { nested: [1, 2] },
      fromSecret: "s3cr3t-value",
      unknownIsUndefined: true,
      tag: "production",
      envValue: "prod-x",
      clientAppId: "request-abcde",
      noService: true,
    });
  });
  it("C78 C79 context.functions.execute runs other functions, private ones too", async () => {
    expect((await call(`${s.base}/call-sum`)).json()).toEqual({ sum: 3, priv: "private ok" });
  });
  it("C93 EJSON.parse(request.body.text()) turns {$oid} into an ObjectId", async () => {
    const r = await call(`${s.base}/ejson-body`, { method: "POST", body: '{"_id":{"$oid":"5e58667d902d38559c802b13"}}' });
    expect(r.json()).toEqual({ isOid: true, hex: "5e58667d902d38559c802b13" });
  });
});

/** A hand-written HTTP/1.0 request (no User-Agent, repeated header lines); returns the parsed JSON body. */
async function rawJson(base: string, requestLine: string, headers: string[]): Promise<any> {
  const { connect } = await import("node:net");
  const u = new URL(base);
  const text = await new Promise<string>((resolve, reject) => {
    const sock = connect(Number(u.port), u.hostname, () => sock.write(`${requestLine} HTTP/1.0\r\nHost: x\r\n${headers.map((h) => h + "\r\n").join("")}\r\n`));
    let out = "";
    sock.on("data", (d) => (out += d.toString()));
    sock.on("end", () => resolve(out));
    sock.on("error", reject);
  });
  return JSON.parse(text.slice(text.indexOf("\r\n\r\n") + 4));
}
