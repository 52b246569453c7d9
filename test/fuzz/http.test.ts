/**
 * Fuzzing request parsing over real HTTP: random methods, paths (near the real routes and not), query
 * strings, headers, bodies and content types sent to a running server (the example app and a second app
 * with the Data API and request-reading functions, on 127.0.0.1). Each request gets a well-formed HTTP
 * response; an error status carries a JSON error body; no 500 from an unhandled exception; the connection
 * is never dropped. Random bytes on a raw socket (malformed HTTP) get a 4xx or a closed connection, and
 * the server goes on serving. Settings and how to run more: ./settings.ts.
 */
import { request } from "node:http";
import net from "node:net";
import path from "node:path";
import { rm, writeFile } from "node:fs/promises";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { startServer, type RunningServer } from "restitch";
import { writeApp } from "../helpers/app.js";
import { fuzzParams, fuzzTimeout } from "./settings.js";

const EXAMPLE = path.resolve(import.meta.dirname, "../../examples/hello-app");
const SECOND = "fuzz-abcde";

let server: RunningServer;
let secondDir: string;
const unhandled: string[] = [];

beforeAll(async () => {
  secondDir = await writeApp({
    appId: SECOND,
    functions: {
      reader: `exports = function (request, response) {
        const b = request.body ? request.body.text() : "";
        let parsed = null;
        try { parsed = JSON.parse(b || "null"); } catch (e) { parsed = "not json"; }
        return { q: request.query, h: Object.keys(request.headers).length, len: b.length, parsed, ctx: context.request.httpMethod };
      };`,
      ejson: `exports = function (request) { return { id: new BSON.ObjectId(), n: new BSON.Int32(1), q: request.query }; };`,
      responder: `exports = function (request, response) {
        response.setStatusCode(Number(request.query.status) || 200);
        response.addHeader("X-Echo", String(request.query.h || "x"));
        response.setBody(request.body ? request.body.text() : "");
      };`,
    },
    endpoints: [
      { route: "/reader", http_method: "*", function_name: "reader" },
      { route: "/ejson", http_method: "GET", function_name: "ejson", return_type: "EJSON" },
      { route: "/respond", http_method: "POST", function_name: "responder", respond_result: false },
    ],
    dataSources: { "mongodb-atlas": {} },
  });
  await writeFile(
    path.join(secondDir, "http_endpoints", "data_api_config.json"),
    JSON.stringify({ disabled: false, versions: ["v1"], return_type: "JSON", create_user_on_auth: false, run_as_system: true, validation_method: "NO_VALIDATION", fetch_custom_user_data: false }),
  );
  const original = console.error.bind(console);
  vi.spyOn(console, "error").mockImplementation((...args: unknown[]) => {
    const line = args.map(String).join(" ");
    if (/unhandled/i.test(line)) unhandled.push(line.slice(0, 500));
    original(...args);
  });
  server = await startServer({ appDir: [EXAMPLE, secondDir], port: 0 });
});

afterAll(async () => {
  vi.restoreAllMocks();
  await server?.close();
  if (secondDir) await rm(secondDir, { recursive: true, force: true });
});

const token = fc.stringMatching(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,12}$/);
const method = fc.oneof(fc.constantFrom("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"), token.map((t) => t.toUpperCase()));
const prefix = fc.constantFrom(
  "/app/hello-abcde/endpoint/hello",
  "/app/hello-abcde/endpoint/echo",
  "/app/hello-abcde/endpoint/sum",
  "/app/hello-abcde/endpoint/notes",
  "/app/hello-abcde/endpoint/secret-param",
  "/app/hello-abcde/endpoint/webhook/github",
  `/app/${SECOND}/endpoint/reader`,
  `/app/${SECOND}/endpoint/ejson`,
  `/app/${SECOND}/endpoint/respond`,
  `/app/${SECOND}/endpoint/data/v1/action/find`,
  `/app/${SECOND}/endpoint/data/v1/action/insertOne`,
  `/app/${SECOND}/endpoint/data/v1/action/aggregate`,
  `/app/${SECOND}/endpoint/data/v9/action/nope`,
  "/api/client/v2.0/app/hello-abcde/auth/providers/anon-user/login",
  "/api/client/v2.0/app/hello-abcde/auth/session",
  "/api/client/v2.0/app/hello-abcde/auth/profile",
  "/api/client/v2.0/app/hello-abcde/service/http/incoming_webhook/x",
  "/app/unknown-app/endpoint/x",
  "/",
  "",
);
const pathPiece = fc.oneof(
  fc.constantFrom("", "/", "//", "/..", "/%2e%2e", "/%00", "/%ff", "/%", "/%zz", "/x?", "#frag", "/;a=b", "/" + "a".repeat(3000)),
  fc.string({ maxLength: 10 }).map((s) => "/" + encodeURIComponent(s)),
);
const queryValue = fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom("1", "2", "-1", "1e400", "NaN", "%", "%zz", "%00", "a&b", "x".repeat(5000), "[]", "{}", "500", "204", "304", "999", "0"));
const query = fc.array(fc.tuple(fc.oneof(fc.constantFrom("a", "b", "secret", "status", "h", "id", "name"), fc.string({ maxLength: 6 })), queryValue), { maxLength: 5 }).map((pairs) =>
  pairs.length === 0 ? "" : "?" + pairs.map(([k, v]) => `${encodeURIComponent(k)}=${/^%/.test(v) ? v : encodeURIComponent(v)}`).join("&"),
);
const headerValue = fc.oneof(
  fc.stringMatching(/^[\x20-\x7e]{0,40}$/),
  fc.constantFrom("Bearer x", "Bearer ", "Basic Zm9vOmJhcg==", "application/json", "application/ejson", "*/*", "gzip", "chunked", "sha256=00", "x".repeat(2000)),
);
const headers = fc.array(
  fc.tuple(
    fc.oneof(fc.constantFrom("accept", "authorization", "content-type", "x-hub-signature-256", "endpoint-signature", "cookie", "x-forwarded-for", "origin", "accept-encoding", "api-key", "expect"), token),
    headerValue,
  ),
  { maxLength: 6 },
);
const contentType = fc.constantFrom(undefined, "application/json", "application/ejson", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/json; charset=latin1", "application/octet-stream", "", "garbage");
const body = fc.oneof(
  fc.constant(undefined),
  fc.string({ maxLength: 200 }),
  fc.json({ maxDepth: 3 }),
  fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
  fc.constantFrom('{"filter":{"a":1},"collection":"c","database":"d","dataSource":"mongodb-atlas"}', '{"document":{"$oid":"zz"},"collection":"c","database":"d","dataSource":"mongodb-atlas"}', '{"pipeline":[{"$where":"1"}],"collection":"c","database":"d","dataSource":"mongodb-atlas"}', '{"a":' .repeat(2000) + "1" + "}".repeat(2000), "[".repeat(100_000), '{"text":"x"}', "a=1&b=2"),
);

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function send(m: string, p: string, h: [string, string][], ct: string | undefined, b: string | Buffer | undefined): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const hdrs: Record<string, string | string[]> = {};
    for (const [k, v] of h) {
      const key = k.toLowerCase();
      // Framing headers are the client's business: a random one would make the request malformed HTTP.
      if (key === "content-length" || key === "transfer-encoding" || key === "host" || key === "connection" || key === "expect" || key === "upgrade") continue;
      hdrs[key] = v;
    }
    if (ct !== undefined) hdrs["content-type"] = ct;
    // Framed explicitly: Node's client sends a GET/HEAD body unframed, which is malformed HTTP (tested below).
    if (b !== undefined) hdrs["content-length"] = String(Buffer.byteLength(b));
    const req = request(server.url + p, { method: m, headers: hdrs, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on("error", reject);
    });
    req.setTimeout(15_000, () => req.destroy(new Error("no answer within 15 s")));
    req.on("error", reject);
    req.end(b);
  });
}

describe("fuzz: request parsing over real HTTP", () => {
  it(
    "random requests get a well-formed answer; errors are JSON; no unhandled 500; no dropped connection",
    async () => {
      await fc.assert(
        fc.asyncProperty(method, prefix, pathPiece, query, headers, contentType, body, async (m, pre, piece, q, h, ct, b) => {
          const p = (pre + piece + q).startsWith("/") ? pre + piece + q : "/" + pre + piece + q;
          const r = await send(m, p, h, ct, b);
          expect(r.status).toBeGreaterThanOrEqual(200);
          expect(r.status).toBeLessThan(600);
          expect(r.status, `${m} ${p.slice(0, 200)} -> ${r.status} ${r.body.slice(0, 300)}`).not.toBe(500);
          // These functions answer bad input with a status and body of their own (response.setStatusCode);
          // every other error answer is Restitch's.
          const chosenByFunction = /\/endpoint\/(respond|sum|echo|notes)$/.test(pre);
          if (r.status >= 400 && m !== "HEAD" && !chosenByFunction) {
            expect(r.headers["content-type"], `${m} ${p.slice(0, 200)} -> ${r.status}`).toMatch(/json/);
            const parsed = JSON.parse(r.body) as { error?: unknown };
            expect(typeof parsed.error, `${m} ${p.slice(0, 200)} -> ${r.body.slice(0, 300)}`).toBe("string");
          }
          expect(unhandled).toEqual([]);
        }),
        fuzzParams(400),
      );
    },
    fuzzTimeout(60_000, 400),
  );

  it(
    "random bytes on a raw connection (malformed HTTP) get a 4xx answer or a closed connection; the server goes on",
    async () => {
      const raw = fc.oneof(
        fc.uint8Array({ minLength: 1, maxLength: 300 }).map((b) => Buffer.from(b)),
        fc.tuple(method, fc.string({ maxLength: 40 }), fc.string({ maxLength: 80 })).map(([m, p, rest]) => Buffer.from(`${m} ${p} HTTP/1.1\r\n${rest}\r\n\r\n`, "latin1")),
        fc.constantFrom(
          "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
          "POST /app/hello-abcde/endpoint/echo HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
          "POST /app/hello-abcde/endpoint/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
          "GET /app/hello-abcde/endpoint/hello HTTP/1.1\r\nHost: x\r\n" + "X-A: b\r\n".repeat(5000) + "\r\n",
          "GET /app/hello-abcde/endpoint/hello HTTP/9.9\r\n\r\n",
          "\r\n\r\n\r\n",
        ).map((s) => Buffer.from(s, "latin1")),
      );
      await fc.assert(
        fc.asyncProperty(raw, async (bytes) => {
          const answer = await new Promise<string>((resolve) => {
            const socket = net.connect(server.port, "127.0.0.1");
            let got = "";
            socket.on("data", (d) => (got += d.toString("latin1")));
            socket.on("error", () => resolve(got));
            socket.on("close", () => resolve(got));
            socket.setTimeout(3_000, () => socket.destroy());
            socket.end(bytes);
          });
          if (answer !== "") {
            const status = /^HTTP\/1\.[01] (\d{3})/.exec(answer)?.[1];
            expect(status, answer.slice(0, 200)).toBeDefined();
            expect(Number(status)).not.toBe(500);
          }
          const ok = await send("GET", "/app/hello-abcde/endpoint/hello?name=Ada", [], undefined, undefined);
          expect(ok.status).toBe(200);
        }),
        fuzzParams(150),
      );
    },
    fuzzTimeout(60_000, 150),
  );
});
