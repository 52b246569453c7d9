// Response rules (spec §5.4) and the JSON / EJSON mapping (spec §4.1), over real HTTP.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { call, serveApp, type TestServer } from "./helpers/app.js";

const typed = `exports = function () {
  return {
    date: new Date(1683248523456),
    oid: new BSON.ObjectId("5e58667d902d38559c802b13"),
    i32: BSON.Int32(10),
    i64: BSON.Long.fromString("50"),
    dbl: BSON.Double(10.5),
    n: 42,
    frac: 1.5,
    dec: BSON.Decimal128.fromString("9823.1297"),
    bin: BSON.Binary.fromBase64("aGVsbG8=", 5),
    min: new BSON.MinKey(),
    max: new BSON.MaxKey(),
  };
};`;

let s: TestServer;
beforeAll(async () => {
  s = await serveApp({
    appId: "response-abcde",
    functions: {
      obj: `exports = function () { return { ok: 1, list: ["a"] }; };`,
      body: `exports = function (req, res) { res.setBody("x"); return { ignored: true }; };`,
      status: `exports = function (req, res) { res.setStatusCode(201); return { created: true }; };`,
      status200: `exports = function (req, res) { res.setStatusCode(200); return { hidden: true }; };`,
      nothing: `exports = function () { return { hidden: true }; };`,
      catcher: `exports = async function (req, res) {
        try { if (req.body === undefined) throw new Error("Request body was not defined."); }
        catch (error) { res.setStatusCode(400); res.setBody(error.message); }
      };`,
      setHeader: `exports = function (req, res) { res.setHeader("X-One", "first"); res.setHeader("X-One", "second"); res.setBody("h"); };`,
      addHeader: `exports = function (req, res) { res.addHeader("Cache-Control", "max-age=600"); res.addHeader("Cache-Control", "min-fresh=60"); res.setBody("h"); };`,
      binary: `exports = function (req, res) { res.setHeader("Content-Type", "application/octet-stream"); res.setBody(BSON.Binary.fromHex("00ff10")); };`,
      typed,
    },
    endpoints: [
      { route: "/obj", http_method: "GET", function_name: "obj" },
      { route: "/body", http_method: "GET", function_name: "body" },
      { route: "/status", http_method: "GET", function_name: "status" },
      { route: "/no-result", http_method: "GET", function_name: "nothing", respond_result: false },
      { route: "/no-result-status", http_method: "GET", function_name: "status200", respond_result: false },
      { route: "/catch", http_method: "POST", function_name: "catcher" },
      { route: "/set-header", http_method: "GET", function_name: "setHeader" },
      { route: "/add-header", http_method: "GET", function_name: "addHeader" },
      { route: "/binary", http_method: "GET", function_name: "binary" },
      { route: "/typed", http_method: "GET", function_name: "typed" },
      { route: "/typed-ejson", http_method: "GET", function_name: "typed", return_type: "EJSON" },
    ],
  });
});
afterAll(() => s?.stop());

describe("response rules", () => {
  it("C13 respond_result returns the serialized value with 200", async () => {
    const r = await call(`${s.base}/obj`);
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toContain("application/json");
    expect(r.json()).toEqual({ ok: 1, list: ["a"] });
  });
  it("C14 setBody wins; the return value is ignored", async () => {
    const r = await call(`${s.base}/body`);
    expect([r.status, r.text]).toEqual([200, "x"]);
  });
  it("C15 only setStatusCode(201) -> 201 with the return value as body", async () => {
    const r = await call(`${s.base}/status`);
    expect(r.status).toBe(201);
    expect(r.json()).toEqual({ created: true });
  });
  it("C16 respond_result=false and no response calls -> 204, empty body", async () => {
    const r = await call(`${s.base}/no-result`);
    expect([r.status, r.text]).toEqual([204, ""]);
  });
  it("C17 respond_result=false + setStatusCode(200) -> 200 without the return value", async () => {
    const r = await call(`${s.base}/no-result-status`);
    expect([r.status, r.text]).toEqual([200, ""]);
  });
  it("C18 setStatusCode(400) + setBody(msg) in a catch block", async () => {
    const r = await call(`${s.base}/catch`, { method: "POST" });
    expect([r.status, r.text]).toEqual([400, "Request body was not defined."]);
  });
  it("C19 setHeader twice keeps only the last value", async () => {
    expect((await call(`${s.base}/set-header`)).headers.get("x-one")).toBe("second");
  });
  it("C20 addHeader twice emits both values", async () => {
    expect((await call(`${s.base}/add-header`)).headers.get("cache-control")).toBe("max-age=600, min-fresh=60");
  });
  it("C21 setBody(BSON.Binary) returns its bytes", async () => {
    const res = await fetch(`${s.base}/binary`);
    expect([...new Uint8Array(await res.arrayBuffer())]).toEqual([0, 255, 16]);
  });
});

describe("return types", () => {
  it("C22 Accept: application/json renders a Date as ISO text", async () => {
    const r = await call(`${s.base}/typed-ejson`, { headers: { Accept: "application/json" } });
    expect(r.json().date).toBe("2023-05-05T01:02:03.456Z");
  });
  it("C23 Accept: application/ejson renders a Date as canonical $date", async () => {
    const r = await call(`${s.base}/typed`, { headers: { Accept: "application/ejson" } });
    expect(r.json().date).toEqual({ $date: { $numberLong: "1683248523456" } });
  });
  it("C24 without Accept the endpoint's return_type decides", async () => {
    expect((await call(`${s.base}/typed`)).json().date).toBe("2023-05-05T01:02:03.456Z");
    expect((await call(`${s.base}/typed-ejson`)).json().date).toEqual({ $date: { $numberLong: "1683248523456" } });
  });
  it("C25 C26 C28 C29 C30 JSON mode: ObjectId hex, Int64 number, Binary {Subtype,Data}, Min/MaxKey {}, Decimal128 string", async () => {
    const j = (await call(`${s.base}/typed`)).json();
    expect(j.oid).toBe("5e58667d902d38559c802b13");
    expect(j.i64).toBe(50);
    expect(j.bin).toEqual({ Subtype: 5, Data: "aGVsbG8=" });
    expect(j.min).toEqual({});
    expect(j.max).toEqual({});
    expect(j.dec).toBe("9823.1297");
  });
  it("C27 EJSON mode: Int32 $numberInt, Double $numberDouble, JS integers $numberInt", async () => {
    const e = (await call(`${s.base}/typed-ejson`)).json();
    expect(e.i32).toEqual({ $numberInt: "10" });
    expect(e.dbl).toEqual({ $numberDouble: "10.5" });
    expect(e.n).toEqual({ $numberInt: "42" });
    expect(e.frac).toEqual({ $numberDouble: "1.5" });
    expect(e.oid).toEqual({ $oid: "5e58667d902d38559c802b13" });
  });
  it("C31 returning {ok:1} in JSON mode gives exactly {\"ok\":1}", async () => {
    const r = await call(`${s.base}/obj`, { headers: { Accept: "application/json" } });
    expect(r.text).toBe('{"ok":1,"list":["a"]}');
  });
});
