/**
 * Abuse of the response: invalid status codes, header injection, header floods, framing headers and exotic
 * or cyclic return values. Each gets a JSON error (or the exact safe rendering) and never a malformed
 * HTTP response; the harness checks the server and the victim after each case.
 */
import { describe, expect } from "vitest";
import { defineCases, expectError, expectValue, hostileSuite, SUITE_LIMITS, type Case } from "./harness.js";

const invalidStatus = (code: string) => `exports = function (request, response) { response.setStatusCode(${code}); return "x"; };`;
const STATUS_TYPE_ERROR = "setStatusCode: code must be an integer HTTP status";
const header = (name: string, value: string) => `exports = function (request, response) { response.setHeader(${name}, ${value}); response.setBody("body"); };`;
const badHeader = (name: string) => `response header '${name}' has an invalid name or value`;

const cases: Case[] = [
  {
    title: "setStatusCode(99) is refused inside the function",
    source: invalidStatus("99"),
    check: (r) => expectError(r, 400, "FunctionExecutionError", STATUS_TYPE_ERROR),
  },
  {
    title: "setStatusCode(1000) is refused inside the function",
    source: invalidStatus("1000"),
    check: (r) => expectError(r, 400, "FunctionExecutionError", STATUS_TYPE_ERROR),
  },
  {
    title: "setStatusCode with a fraction, NaN, a string or an object with valueOf is refused",
    source: `exports = function (request, response) {
      const out = [];
      for (const c of [200.5, NaN, "200", { valueOf() { return 200; } }, 2 ** 53, -200]) {
        try { response.setStatusCode(c); out.push("accepted"); } catch (e) { out.push(e.message === ${JSON.stringify(STATUS_TYPE_ERROR)}); }
      }
      return out;
    };`,
    check: (r) => expectValue(r, [true, true, true, true, true, true]),
  },
  {
    title: "a status the HTTP layer cannot send (700) is a JSON error, not a broken response",
    source: invalidStatus("700"),
    check: (r) => expectError(r, 400, "FunctionExecutionError", "response.setStatusCode: 700 is not a valid HTTP status (200–599)"),
  },
  {
    title: "an informational status (101 Switching Protocols) is refused: no protocol switch",
    source: invalidStatus("101"),
    check: (r) => expectError(r, 400, "FunctionExecutionError", "response.setStatusCode: 101 is not a valid HTTP status (200–599)"),
  },
  {
    title: "C16 a 204 drops a body the function set",
    source: `exports = function (request, response) { response.setStatusCode(204); response.setBody("must not be sent"); };`,
    check: (r) => expect([r.status, r.text]).toEqual([204, ""]),
  },
  {
    title: "a control character other than CR/LF in a header value (\\x01) is a JSON error, not a failed write",
    source: header(`"X-Note"`, `"a\\u0001b"`),
    check: (r) => expectError(r, 400, "FunctionExecutionError", badHeader("X-Note")),
  },
  {
    title: "a header named __proto__ is sent like any other and pollutes nothing",
    source: header(`"__proto__"`, `"v"`),
    check: (r) => {
      expect([r.status, r.headers.get("__proto__"), r.text]).toEqual([200, "v", "body"]);
      expect(({} as Record<string, unknown>).v).toBeUndefined();
    },
  },
  {
    title: "header injection: CR/LF in a header value is refused; no injected header or body",
    source: header(`"X-Note"`, `"ok\\r\\nSet-Cookie: session=attacker\\r\\n\\r\\nsmuggled"`),
    check: (r) => {
      expectError(r, 400, "FunctionExecutionError", badHeader("X-Note"));
      expect(r.headers.get("set-cookie")).toBeNull();
      expect(r.text).not.toContain("smuggled");
    },
  },
  {
    title: "header injection: CR/LF in a header name is refused",
    source: header(`"X-A\\r\\nSet-Cookie"`, `"v"`),
    check: (r) => {
      expectError(r, 400, "FunctionExecutionError", badHeader("X-A\r\nSet-Cookie"));
      expect(r.headers.get("set-cookie")).toBeNull();
    },
  },
  {
    title: "a bare LF or a NUL in a header value is refused",
    source: `exports = function (request, response) { response.addHeader("X-One", "a\\nb"); response.setBody("b"); };`,
    check: (r) => expectError(r, 400, "FunctionExecutionError", badHeader("X-One")),
  },
  {
    title: "a header name that is not an HTTP token (space, colon, empty) is refused",
    source: header(`"Bad Name:"`, `"v"`),
    check: (r) => expectError(r, 400, "FunctionExecutionError", badHeader("Bad Name:")),
  },
  {
    title: "a header value outside Latin-1 is refused",
    source: header(`"X-Emoji"`, `"\\u{1F600}"`),
    check: (r) => expectError(r, 400, "FunctionExecutionError", badHeader("X-Emoji")),
  },
  {
    title: "thousands of response headers are refused with a JSON error",
    source: `exports = function (request, response) { for (let i = 0; i < 5000; i++) response.setHeader("X-H" + i, "v"); response.setBody("b"); };`,
    check: (r) => expectError(r, 400, "FunctionExecutionError", /^the response has 5000 headers, over the limit of \d+$/),
  },
  {
    title: "a response header over the size limit is refused with a JSON error",
    source: `exports = function (request, response) { response.setHeader("X-Big", "v".repeat(200000)); response.setBody("b"); };`,
    check: (r) => expectError(r, 400, "FunctionExecutionError", /^the response headers are \d+ bytes, over the limit of \d+$/),
  },
  {
    title: "framing headers (Content-Length, Transfer-Encoding, Connection) are the server's, never the function's",
    source: `exports = function (request, response) {
      response.setHeader("Content-Length", "100000");
      response.setHeader("Transfer-Encoding", "chunked");
      response.setHeader("Connection", "upgrade");
      response.setHeader("Upgrade", "websocket");
      response.setBody("short body");
    };`,
    check: (r) => {
      expect([r.status, r.text]).toEqual([200, "short body"]);
      expect(r.headers.get("content-length")).toBe("10");
      expect(r.headers.get("transfer-encoding")).toBeNull();
      expect(r.headers.get("upgrade")).toBeNull();
    },
  },
  {
    title: "a BigInt result is rendered exactly in JSON (no precision loss)",
    source: `exports = function () { return { big: 2n ** 53n + 1n, neg: -(2n ** 63n) }; };`,
    check: (r) => {
      expect(r.status).toBe(200);
      expect(r.text).toBe('{"big":9007199254740993,"neg":-9223372036854775808}');
    },
  },
  {
    title: "a BigInt beyond 64 bits is an unserializable result, not a silently wrong number",
    source: `exports = function () { return 10n ** 30n; };`,
    check: (r) => expectError(r, 400, "FunctionExecutionError", "the function's return value cannot be serialized: BigInt 1000000000000000000000000000000 is outside the 64-bit range of a BSON Long"),
  },
  {
    title: "symbols, functions and undefined in a result are dropped as JSON drops them",
    source: `exports = function () { return { s: Symbol("x"), f() {}, u: undefined, list: [Symbol("y"), () => 1, undefined], kept: 1 }; };`,
    check: (r) => expectValue(r, { list: [null, null, null], kept: 1 }),
  },
  {
    title: "a bare Symbol or function result renders as null",
    source: `exports = function () { return Symbol("alone"); };`,
    check: (r) => expect([r.status, r.text]).toEqual([200, "null"]),
  },
  {
    title: "a cyclic result is an unserializable result",
    source: `exports = function () { const a = { name: "a" }; a.self = a; return a; };`,
    check: (r) => expectError(r, 400, "FunctionExecutionError", "the function's return value cannot be serialized: value is nested too deeply (or is cyclic)"),
  },
  {
    title: "a cycle through an array and a Map is caught the same way",
    source: `exports = function () { const list = []; const m = { list }; list.push(m); return [list]; };`,
    check: (r) => expectError(r, 400, "FunctionExecutionError", "the function's return value cannot be serialized: value is nested too deeply (or is cyclic)"),
  },
  {
    title: "nesting 5,000 deep is refused (it would overflow a recursive serialiser on the host)",
    source: `exports = function () { let v = 0; for (let i = 0; i < 5000; i++) v = [v]; return v; };`,
    check: (r) => expectError(r, 400, "FunctionExecutionError", "the function's return value cannot be serialized: value is nested too deeply (or is cyclic)"),
  },
  {
    title: "a result shaped like a broken EJSON tag crosses as the plain object it is (the host decoder is not crashed)",
    source: `exports = async function () { await context.services.get("mongodb-atlas").db("d").collection("c").findOne({}); return { $oid: "not-hex" }; };`,
    check: (r) => expectValue(r, { $oid: "not-hex" }),
  },
  {
    title: "NaN, Infinity and an invalid Date render as null in JSON and as tags in EJSON (C22 C27)",
    source: `exports = function () { return [NaN, -Infinity, new Date(NaN), -0]; };`,
    check: async (r, h, route) => {
      expect([r.status, r.text]).toEqual([200, "[null,null,null,0]"]);
      const e = await h.hostile(route, { headers: { Accept: "application/ejson" } });
      expect(e.json()).toEqual([{ $numberDouble: "NaN" }, { $numberDouble: "-Infinity" }, { $date: { $numberLong: "NaN" } }, { $numberDouble: "-0.0" }]);
    },
  },
  {
    title: "Maps, Sets, Errors and class instances render as their own enumerable data only",
    source: `exports = function () { class Secretive { constructor() { this.visible = 1; } get hidden() { return 2; } } return [new Map([["k", 1]]), new Set([1]), new Error("e"), new Secretive()]; };`,
    check: (r) => expectValue(r, [{}, {}, {}, { visible: 1 }]),
  },
  {
    title: "a __proto__ key in a result is kept as data and pollutes nothing on the host",
    source: `exports = function () { return JSON.parse('{"__proto__": {"polluted": "yes"}, "a": 1}'); };`,
    check: (r) => {
      expectValue(r, { ["__proto__"]: { polluted: "yes" }, a: 1 });
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    },
  },
  {
    title: "setBody with anything but a string or BSON.Binary is refused (C21)",
    source: `exports = function (request, response) {
      const out = [];
      for (const b of [{ _bsontype: "Binary", buffer: new Uint8Array(1), position: 1 }, 42, null, [1, 2], new Proxy({}, {})]) {
        try { response.setBody(b); out.push("accepted"); } catch (e) { out.push(e.message); }
      }
      return out;
    };`,
    check: (r) => expectValue(r, Array(5).fill("setBody: body must be a string or BSON.Binary")),
  },
  {
    title: "a Binary body mutated after setBody sends the bytes set at the time",
    source: `exports = function (request, response) { const b = BSON.Binary.fromBase64("aGk="); response.setBody(b); b.buffer = null; b.position = 1e9; };`,
    check: (r) => expect([r.status, r.text]).toEqual([200, "hi"]),
  },
  {
    title: "a response body at the limit is sent whole; one byte more is refused",
    source: `exports = function (request, response) { response.setBody("z".repeat(Number(request.query.n))); };`,
    check: async (r, h, route) => {
      expect([r.status, r.text]).toEqual([200, ""]); // no n: an empty body
      const max = SUITE_LIMITS.maxResultBytes!;
      const ok = await h.hostile(route, { query: `n=${max}` });
      expect([ok.status, ok.text.length]).toEqual([200, max]);
      expectError(await h.hostile(route, { query: `n=${max + 1}` }), 400, "FunctionExecutionError", `the response body is ${max + 1} bytes, over the limit of ${max}`);
    },
  },
];

describe("response abuse", () => {
  const h = hostileSuite("hostile-response", cases);
  defineCases(h, cases);
});
