// Under Node, custom endpoint requests skip Hono (packages/router/src/node-endpoint.ts). These tests send
// the same requests through server.fetch (the library path, through Hono) and through the real listener
// on 127.0.0.1, and require the same status, headers, body bytes and call record from both.
// Root test files cannot resolve @restitch/* by name, so the packages' built entry points are imported by path.
import http from "node:http";
import net from "node:net";
import { rm } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadApp } from "../packages/config/dist/index.js";
import { createServer, type CallLogEntry, type Listening, type RestitchServer } from "../packages/router/dist/index.js";
import { createRuntime } from "../packages/runtime/dist/index.js";
import { writeApp } from "./helpers/app.js";

const APP = "fastpath-abcde";
const BASE = `/app/${APP}/endpoint`;
const MAX_BODY = 64;

let dir: string;
let runtime: ReturnType<typeof createRuntime>;
let server: RestitchServer;
let listening: Listening;
const records: CallLogEntry[] = [];
/** Requests that reached Hono's fetch (counted around listener requests only). */
let honoCalls = 0;

beforeAll(async () => {
  dir = await writeApp({
    appId: APP,
    functions: {
      json: `exports = function () { return { ok: 1, list: ["a"], text: "é" }; };`,
      ejson: `exports = function () { return { n: 5, when: new Date(1683248523456) }; };`,
      explicit: `exports = function (req, res) {
        res.setStatusCode(201); res.setHeader("Content-Type", "text/plain"); res.setHeader("X-Custom", "yes"); res.setBody("created");
        return { ignored: true };
      };`,
      cookies: `exports = function (req, res) {
        res.addHeader("Set-Cookie", "a=1; Path=/"); res.addHeader("Set-Cookie", "b=2; HttpOnly");
        res.addHeader("Cache-Control", "max-age=600"); res.addHeader("Cache-Control", "min-fresh=60");
        return { ok: 1 };
      };`,
      cookiesRaw: `exports = function (req, res) { res.addHeader("Set-Cookie", "a=1"); res.addHeader("Set-Cookie", "b=2"); res.setBody("raw"); };`,
      nothing: `exports = function () { return { hidden: true }; };`,
      throws: `exports = function () { console.log("about to fail"); throw new Error("boom"); };`,
      echo: `exports = function (req) { return { body: req.body === undefined ? null : req.body.text(), query: req.query }; };`,
      slow: `exports = function () { const t = Date.now(); while (Date.now() - t < 300) {} return { done: true }; };`,
    },
    endpoints: [
      { route: "/json", http_method: "GET", function_name: "json" },
      { route: "/ejson", http_method: "GET", function_name: "ejson" },
      { route: "/explicit", http_method: "GET", function_name: "explicit" },
      { route: "/cookies", http_method: "GET", function_name: "cookies" },
      { route: "/cookies-raw", http_method: "GET", function_name: "cookiesRaw" },
      { route: "/nothing", http_method: "GET", function_name: "nothing", respond_result: false },
      { route: "/throws", http_method: "GET", function_name: "throws" },
      { route: "/echo", http_method: "POST", function_name: "echo" },
      { route: "/slow", http_method: "GET", function_name: "slow" },
    ],
  });
  runtime = createRuntime({});
  server = createServer({
    apps: [await loadApp(dir)],
    runtime,
    limits: { maxBodyBytes: MAX_BODY },
    onCall: (e) => records.push(e),
    probes: { "/healthz": () => new Response("ok") },
  });
  // getRequestListener(hono.fetch) reads the property at listen(): count what the listener gives Hono.
  const honoFetch = server.hono.fetch;
  server.hono.fetch = (request, ...rest) => {
    honoCalls++;
    return honoFetch(request, ...rest);
  };
  listening = await server.listen(0, "127.0.0.1");
});

afterAll(async () => {
  await listening?.close();
  await runtime?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Sent {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}

interface Seen {
  status: number;
  /** [lower-case name, value], sorted by name; Set-Cookie one entry per line, in order. */
  headers: [string, string][];
  body: Buffer;
}

/** Framing and connection headers: fetch's Response has none of them; the listener's are checked apart. */
const NOT_COMPARED = new Set(["date", "connection", "keep-alive", "content-length", "transfer-encoding"]);

function sorted(entries: [string, string][]): [string, string][] {
  return entries.filter(([k]) => !NOT_COMPARED.has(k)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

async function viaFetch(path: string, sent: Sent): Promise<Seen> {
  const init: RequestInit = { method: sent.method ?? "GET", headers: sent.headers ?? {} };
  if (sent.body !== undefined) init.body = sent.body;
  const res = await server.fetch(new Request(`http://localhost${path}`, init));
  return { status: res.status, headers: sorted([...res.headers]), body: Buffer.from(await res.arrayBuffer()) };
}

interface Wire extends Seen {
  contentLength: string | undefined;
  connection: string | undefined;
}

/** A real HTTP request to the listener, its path sent as written; headers as they came over the wire. */
function viaListener(path: string, sent: Sent): Promise<Wire> {
  return new Promise((resolve, reject) => {
    const options = { host: "127.0.0.1", port: listening.port, path, method: sent.method ?? "GET", headers: sent.headers ?? {}, agent: false };
    const req = http.request(options, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const headers: [string, string][] = [];
        for (const [k, v] of Object.entries(res.headers)) {
          if (Array.isArray(v)) for (const one of v) headers.push([k, one]);
          else if (v !== undefined) headers.push([k, v]);
        }
        resolve({
          status: res.statusCode!,
          headers: sorted(headers),
          body: Buffer.concat(chunks),
          contentLength: res.headers["content-length"],
          connection: res.headers.connection,
        });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(sent.body);
  });
}

/** Both paths, with one caller request id each so X-Request-Id is compared as well. */
async function both(path: string, sent: Sent = {}) {
  const id = `fp-${Math.random().toString(36).slice(2)}`;
  const withId = { ...sent, headers: { ...sent.headers, "x-request-id": id } };
  const lib = await viaFetch(path, withId);
  const before = honoCalls;
  const wire = await viaListener(path, withId);
  expect(honoCalls - before, "the listener answered an endpoint request through Hono").toBe(0);
  expect(wire.status).toBe(lib.status);
  expect(wire.headers).toEqual(lib.headers);
  expect(wire.body.equals(lib.body)).toBe(true);
  expect(wire.headers).toContainEqual(["x-request-id", id]);
  // What the comparison leaves out: a body's length is framed by Content-Length, as node-server did.
  if ((sent.method ?? "GET") === "HEAD" || wire.body.length === 0) expect(wire.contentLength).toBeUndefined();
  else expect(wire.contentLength).toBe(String(wire.body.length));
  return { lib, wire };
}

const header = (seen: Seen, name: string) => seen.headers.filter(([k]) => k === name).map(([, v]) => v);

describe("endpoint replies: the Node listener answers as server.fetch does", () => {
  it("C13 a returned object: 200 JSON", async () => {
    const { wire } = await both(`${BASE}/json`);
    expect(wire.status).toBe(200);
    expect(header(wire, "content-type")).toEqual(["application/json"]);
    expect(JSON.parse(wire.body.toString())).toEqual({ ok: 1, list: ["a"], text: "é" });
  });

  it("C23 Accept: application/ejson: 200 canonical EJSON", async () => {
    const { wire } = await both(`${BASE}/ejson`, { headers: { accept: "application/ejson" } });
    expect(header(wire, "content-type")).toEqual(["application/ejson"]);
    expect(JSON.parse(wire.body.toString())).toEqual({ n: { $numberInt: "5" }, when: { $date: { $numberLong: "1683248523456" } } });
  });

  it("C14 C15 setStatusCode + setBody + custom headers", async () => {
    const { wire } = await both(`${BASE}/explicit`);
    expect(wire.status).toBe(201);
    expect(header(wire, "content-type")).toEqual(["text/plain"]);
    expect(header(wire, "x-custom")).toEqual(["yes"]);
    expect(wire.body.toString()).toBe("created");
  });

  it("C20 two Set-Cookie headers stay two lines (another repeated name is joined)", async () => {
    const { wire } = await both(`${BASE}/cookies`);
    expect(header(wire, "set-cookie")).toEqual(["a=1; Path=/", "b=2; HttpOnly"]);
    expect(header(wire, "cache-control")).toEqual(["max-age=600, min-fresh=60"]);
  });

  it("C16 respond_result=false: 204 without a body", async () => {
    const { wire } = await both(`${BASE}/nothing`);
    expect(wire.status).toBe(204);
    expect(wire.body.length).toBe(0);
  });

  it("a method the route does not serve: 405 with Allow", async () => {
    const { wire } = await both(`${BASE}/json`, { method: "POST", body: "{}" });
    expect(wire.status).toBe(405);
    expect(header(wire, "allow")).toEqual(["GET"]);
    expect(JSON.parse(wire.body.toString()).error_code).toBe("MethodNotAllowed");
  });

  it("C2 an unknown app: 404 AppNotFound", async () => {
    const { wire } = await both("/app/nope-abcde/endpoint/json");
    expect(wire.status).toBe(404);
    expect(JSON.parse(wire.body.toString())).toEqual({ error: "cannot find app using Client App ID 'nope-abcde'", error_code: "AppNotFound" });
  });

  it("C149 a body over the limit: 413, and the connection is not reused", async () => {
    const { wire } = await both(`${BASE}/echo`, { method: "POST", body: "x".repeat(MAX_BODY + 1) });
    expect(wire.status).toBe(413);
    expect(JSON.parse(wire.body.toString()).error_code).toBe("RequestTooLarge");
    expect(wire.connection).toBe("close");
  });

  it("a body and query within the limit reach the function", async () => {
    const { wire } = await both(`${BASE}/echo?a=1&a=2`, { method: "POST", body: "hello", headers: { "content-type": "text/plain" } });
    expect(JSON.parse(wire.body.toString())).toEqual({ body: "hello", query: { a: "1" } });
  });

  it("a function that throws: 400 FunctionExecutionError with its message only", async () => {
    const { wire } = await both(`${BASE}/throws`);
    expect(wire.status).toBe(400);
    expect(JSON.parse(wire.body.toString())).toEqual({ error: "boom", error_code: "FunctionExecutionError" });
  });

  it("HEAD: the GET answer's status and headers, no body and no Content-Length", async () => {
    const known = await both(`${BASE}/json`, { method: "HEAD" });
    expect(known.wire.status).toBe(405); // endpoints do not serve HEAD
    expect(header(known.wire, "allow")).toEqual(["GET"]);
    expect(header(known.wire, "content-type")).toEqual(["application/json"]);
    expect(known.wire.body.length).toBe(0);
    const unknown = await both("/app/nope-abcde/endpoint/json", { method: "HEAD" });
    expect(unknown.wire.status).toBe(404);
  });

  it("the onCall record of each request is the same on both paths", async () => {
    const requests: [string, Sent][] = [
      [`${BASE}/json`, {}],
      [`${BASE}/ejson`, { headers: { accept: "application/ejson" } }],
      [`${BASE}/explicit`, {}],
      [`${BASE}/cookies`, {}],
      [`${BASE}/nothing`, {}],
      [`${BASE}/json`, { method: "POST", body: "{}" }],
      [`${BASE}/json`, { method: "HEAD" }],
      ["/app/nope-abcde/endpoint/json", {}],
      [`${BASE}/missing`, {}],
      [`${BASE}/echo`, { method: "POST", body: "x".repeat(MAX_BODY + 1) }],
      [`${BASE}/echo?secret=s`, { method: "POST", body: "hi" }],
      [`${BASE}/throws`, {}],
    ];
    // Timings differ between runs; everything else must not.
    const comparable = ({ ms, runMs, cpuMs, ...rest }: CallLogEntry) => rest;
    for (const [path, sent] of requests) {
      const withId = { ...sent, headers: { ...sent.headers, "x-request-id": "record-check" } };
      let at = records.length;
      await viaFetch(path, withId);
      const lib = records.slice(at);
      at = records.length;
      await viaListener(path, withId);
      const wire = records.slice(at);
      expect(wire.length, path).toBe(1);
      expect(wire.map(comparable), `${sent.method ?? "GET"} ${path}`).toEqual(lib.map(comparable));
    }
    const failed = records.at(-1)!;
    expect([failed.kind, failed.appId, failed.route, failed.status, failed.functionName, failed.error?.kind, failed.logs]).toEqual([
      "endpoint",
      APP,
      "/throws",
      400,
      "throws",
      "threw",
      ["about to fail"],
    ]);
  });
});

describe("the Node endpoint path", () => {
  it("takes only custom endpoint requests; the Data API route, probes and URLs node-server rewrites stay with Hono", async () => {
    const hono = async (path: string) => {
      const before = honoCalls;
      const r = await viaListener(path, {});
      return [honoCalls - before, r.status];
    };
    expect(await hono(`${BASE}/json`)).toEqual([0, 200]);
    expect(await hono(BASE)).toEqual([0, 404]); // the route "/", not served here
    expect(await hono(`${BASE}/data/v1/action/find`)).toEqual([1, 404]); // DataApiNotEnabled, from the Data API handler
    expect(await hono("/healthz")).toEqual([1, 200]);
    expect(await hono(`${BASE}/%6Ason`)).toEqual([1, 200]); // decoded by Hono to /json, as before
    expect(await hono(`${BASE}/x/../json`)).toEqual([1, 200]);
  });

  it("a body with repeated header names and no Content-Type keeps node-server's text/plain label (server.fetch sends none)", async () => {
    const wire = await viaListener(`${BASE}/cookies-raw`, {});
    expect(header(wire, "set-cookie")).toEqual(["a=1", "b=2"]);
    expect(header(wire, "content-type")).toEqual(["text/plain; charset=UTF-8"]);
    expect(header(await viaFetch(`${BASE}/cookies-raw`, {}), "content-type")).toEqual([]);
  });

  it("a client that goes away while its function runs does not hurt the server; the call is still recorded", async () => {
    const at = records.length;
    const socket = net.connect(listening.port, "127.0.0.1");
    socket.on("error", () => {});
    socket.write(`GET ${BASE}/slow HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    await new Promise((r) => setTimeout(r, 100));
    socket.destroy();
    await expect.poll(() => records.slice(at).map((e) => [e.route, e.status]), { timeout: 5000 }).toEqual([["/slow", 200]]);
    expect((await viaListener(`${BASE}/json`, {})).status).toBe(200);
  });

  it("a request body left unread after an early answer is drained, then its connection closed (as node-server did)", async () => {
    const socket = net.connect(listening.port, "127.0.0.1");
    let received = "";
    socket.on("data", (d: Buffer) => (received += d.toString("latin1")));
    const closed = new Promise<number>((resolve) => socket.on("close", () => resolve(Date.now())));
    const started = Date.now();
    // 60 bytes announced, 10 sent, and the client never sends the rest nor closes.
    socket.write(`POST ${BASE}/json HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 60\r\n\r\n0123456789`);
    const at = await closed;
    expect(received).toMatch(/^HTTP\/1\.1 405 /);
    // The request timeout (30 s) would otherwise be what ends it.
    expect(at - started).toBeLessThan(5000);
  });

  it("while draining, an endpoint answer on a kept-alive connection tells the client to close", async () => {
    const otherRuntime = createRuntime({});
    const l = await createServer({ apps: [await loadApp(dir)], runtime: otherRuntime }).listen(0, "127.0.0.1");
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const get = () =>
        new Promise<{ status: number; connection: string | undefined }>((resolve, reject) => {
          http
            .get(`${l.url}${BASE}/json`, { agent }, (res) => {
              res.resume();
              res.on("end", () => resolve({ status: res.statusCode!, connection: res.headers.connection }));
            })
            .on("error", reject);
        });
      expect(await get()).toEqual({ status: 200, connection: "keep-alive" });
      const closing = l.close();
      expect(await get()).toEqual({ status: 200, connection: "close" });
      await closing;
    } finally {
      agent.destroy();
      await l.close();
      await otherRuntime.close();
    }
  });
});
