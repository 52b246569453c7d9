import { Binary, BSONRegExp, Decimal128, Double, Int32, Long, MaxKey, MinKey, ObjectId, Timestamp } from "bson";
import { describe, expect, it } from "vitest";
import { appIdOfTarget, buildRouteTable, matchEndpoint, toEjsonText, toJsonText, HttpError } from "../src/index.js";
import { parseQuery, canonicalHeaderName } from "../src/request.js";
import { buildResponse, responseFormat } from "../src/respond.js";
import { parseSignatureHeader, payloadSignature, validateRequest } from "../src/validation.js";
import type { EndpointDef } from "@restitch/config";

const enc = (s: string) => new TextEncoder().encode(s);

describe("serializer (spec §4.1)", () => {
  const date = new Date(1683248523456);
  const value = {
    oid: new ObjectId("5e58667d902d38559c802b13"),
    date,
    i32: new Int32(10),
    i64: Long.fromString("9007199254740993"),
    dbl: new Double(10.5),
    dec: Decimal128.fromString("9823.1297"),
    bin: new Binary(enc("hi"), 5),
    re: new BSONRegExp("^H", "i"),
    ts: new Timestamp({ t: 7, i: 3 }),
    min: new MinKey(),
    max: new MaxKey(),
    n: 42,
    f: 1.5,
    skip: undefined,
    arr: [1, "a", null],
  };

  it("JSON mode renders every BSON type the way Atlas did (C22, C25, C26, C28, C29, C30)", () => {
    expect(JSON.parse(toJsonText(value))).toEqual({
      oid: "5e58667d902d38559c802b13",
      date: "2023-05-05T01:02:03.456Z",
      i32: 10,
      i64: 9007199254740993,
      dbl: 10.5,
      dec: "9823.1297",
      bin: { Subtype: 5, Data: "aGk=" },
      re: { Pattern: "^H", Options: "i" },
      ts: { T: 7, I: 3 },
      min: {},
      max: {},
      n: 42,
      f: 1.5,
      arr: [1, "a", null],
    });
    // Int64 keeps every digit (no rounding through a JS number).
    expect(toJsonText(value)).toContain('"i64":9007199254740993');
  });

  it("EJSON mode is canonical (C23, C27)", () => {
    expect(JSON.parse(toEjsonText(value))).toMatchObject({
      oid: { $oid: "5e58667d902d38559c802b13" },
      date: { $date: { $numberLong: "1683248523456" } },
      i32: { $numberInt: "10" },
      i64: { $numberLong: "9007199254740993" },
      dbl: { $numberDouble: "10.5" },
      dec: { $numberDecimal: "9823.1297" },
      bin: { $binary: { base64: "aGk=", subType: "05" } },
      re: { $regularExpression: { pattern: "^H", options: "i" } },
      ts: { $timestamp: { t: 7, i: 3 } },
      min: { $minKey: 1 },
      max: { $maxKey: 1 },
      n: { $numberInt: "42" },
      f: { $numberDouble: "1.5" },
    });
  });

  it("C31 {ok:1} in JSON mode is {\"ok\":1}; undefined results are null", () => {
    expect(toJsonText({ ok: 1 })).toBe('{"ok":1}');
    expect(toJsonText(undefined)).toBe("null");
    expect(toEjsonText("x")).toBe('"x"');
  });
});

describe("validation (spec §5.5)", () => {
  it("C34 the tested seed example verifies over the raw bytes", () => {
    expect(payloadSignature("Super5ecr3tPa55w0rd", enc('{ "message": "Hello!" }'))).toBe(
      "d4f0537db4e230d7a6028a6f7c3bb1b57c9d16f39176d78697e559ac333e0b36",
    );
  });
  it("C36 the compact seed example verifies; C35 re-spacing changes the signature", () => {
    const sig = payloadSignature("12345", enc('{"message":"MESSAGE"}'));
    expect(sig.startsWith("828ee180") && sig.endsWith("5777862")).toBe(true);
    expect(payloadSignature("Super5ecr3tPa55w0rd", enc('{"message":"Hello!"}'))).not.toMatch(/^d4f0537d/);
  });
  it("accepts the seed curl's leading ':' and refuses malformed headers", () => {
    expect(parseSignatureHeader(":sha256=" + "A".repeat(64))).toBe("a".repeat(64));
    expect(parseSignatureHeader("sha1=abc")).toBeUndefined();
  });
  it("refuses a wrong secret with 401 and names the missing secret file entry", () => {
    const base = { secretName: "s", signatureHeader: undefined, body: undefined, signatureHeaderName: "Endpoint-Signature" };
    expect(() => validateRequest({ ...base, method: "SECRET_AS_QUERY_PARAM", secret: "a", querySecret: "b" })).toThrow(HttpError);
    expect(() => validateRequest({ ...base, method: "SECRET_AS_QUERY_PARAM", secret: "a", querySecret: "a" })).not.toThrow();
    expect(() => validateRequest({ ...base, method: "VERIFY_PAYLOAD", secret: undefined, querySecret: undefined })).toThrow(/'s'/);
  });
});

describe("request parsing", () => {
  it("C9 first value wins; C10 secret pairs leave rawQueryString, order kept", () => {
    const p = parseQuery("?secret=hello&someParam=42&a=1&a=2&b=x%20y");
    expect(p.query).toEqual({ someParam: "42", a: "1", b: "x y" });
    expect(p.rawQueryString).toBe("someParam=42&a=1&a=2&b=x%20y");
    expect(p.secret).toBe("hello");
  });
  it("canonicalises header names as the Go backend did", () => {
    expect(canonicalHeaderName("x-custom-header")).toBe("X-Custom-Header");
    expect(canonicalHeaderName("content-type")).toBe("Content-Type");
  });
});

function ep(route: string, httpMethod: EndpointDef["httpMethod"], functionName: string, disabled = false): EndpointDef {
  return {
    route,
    httpMethod,
    functionName,
    validationMethod: "NO_VALIDATION",
    respondResult: true,
    fetchCustomUserData: false,
    createUserOnAuth: false,
    disabled,
    returnType: "JSON",
  };
}

describe("route table", () => {
  const table = buildRouteTable("app", [ep("/r", "GET", "g"), ep("/r", "*", "any"), ep("/off", "POST", "x", true), ep("/a/b/c", "PUT", "n")]);
  it("specific methods win over *, * fills the rest, nested routes and trailing slashes match", () => {
    expect(matchEndpoint(table, "/r", "GET").functionName).toBe("g");
    expect(matchEndpoint(table, "/r/", "DELETE").functionName).toBe("any");
    expect(matchEndpoint(table, "/a/b/c", "PUT").functionName).toBe("n");
  });
  it("tells unknown route (404), wrong method (405) and disabled (404) apart", () => {
    const status = (r: string, m: string) => {
      try {
        matchEndpoint(table, r, m);
        return 0;
      } catch (e) {
        return `${(e as HttpError).status} ${(e as HttpError).code}`;
      }
    };
    expect(status("/nope", "GET")).toBe("404 EndpointNotFound");
    expect(status("/a/b/c", "GET")).toBe("405 MethodNotAllowed");
    expect(status("/off", "POST")).toBe("404 EndpointDisabled");
  });
  it("refuses two endpoints on one route and method", () => {
    expect(() => buildRouteTable("app", [ep("/r", "GET", "a"), ep("/r", "GET", "b")])).toThrow(/both serve GET \/r/);
  });
});

describe("appIdOfTarget (placing a connection by its first request's app)", () => {
  it("names the app of endpoint, Data API, webhook and auth targets as the routes see them", () => {
    expect(appIdOfTarget("/app/my-app-abcde/endpoint/hello?x=1")).toBe("my-app-abcde");
    expect(appIdOfTarget("/app/my-app-abcde/endpoint/data/v1/action/findOne")).toBe("my-app-abcde");
    expect(appIdOfTarget("/api/client/v2.0/app/my-app-abcde/service/s/incoming_webhook/w")).toBe("my-app-abcde");
    expect(appIdOfTarget("/app/my-app-abcde/location")).toBe("my-app-abcde");
    expect(appIdOfTarget("/app/my-app-abcde")).toBe("my-app-abcde");
    // Escapes and dot segments cannot hide the app from its placement.
    expect(appIdOfTarget("/app/%6Dy-app-abcde/endpoint/x")).toBe("my-app-abcde");
    expect(appIdOfTarget("/x/../app/my-app-abcde/endpoint/x")).toBe("my-app-abcde");
    expect(appIdOfTarget("http://host:1/app/my-app-abcde/endpoint/x")).toBe("my-app-abcde");
  });
  it("is undefined for other targets and for garbage", () => {
    for (const t of ["/", "/metrics", "/healthz", "/app/", "/apps/x/endpoint", "*", "", "http://[bad"]) expect(appIdOfTarget(t)).toBeUndefined();
    expect(appIdOfTarget("/app/%E0%A4%A/endpoint")).toBe("%E0%A4%A"); // undecodable: kept as written
  });
});

describe("response rules (spec §5.4)", () => {
  it("picks the format from Accept, else return_type", () => {
    expect(responseFormat("application/ejson", "JSON")).toBe("EJSON");
    expect(responseFormat("application/json, application/ejson", "EJSON")).toBe("JSON");
    expect(responseFormat("text/html", "EJSON")).toBe("EJSON");
  });
  it("respond_result false with nothing set is 204; a body wins over the value", async () => {
    expect(buildResponse({ value: 1, recorded: { headers: {} }, respondResult: false, format: "JSON" }).status).toBe(204);
    const r = buildResponse({ value: 1, recorded: { headers: {}, body: enc("x") }, respondResult: true, format: "JSON" });
    expect(await r.text()).toBe("x");
  });
  it("refuses an invalid status code with a clear error", () => {
    expect(() => buildResponse({ value: 1, recorded: { headers: {}, statusCode: 99 }, respondResult: true, format: "JSON" })).toThrow(/99/);
  });
});
