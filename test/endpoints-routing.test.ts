// Endpoint routing over real HTTP: URL shape, methods, nested routes, disabled endpoints, unknown apps.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { call, serveApp, type TestServer } from "./helpers/app.js";

const echoMethod = `exports = function (request, response) { return { fn: "FN", method: context.request.httpMethod }; };`;
const fn = (name: string) => echoMethod.replace("FN", name);

let s: TestServer;
beforeAll(async () => {
  s = await serveApp({
    appId: "routing-abcde",
    functions: { getOne: fn("getOne"), postOne: fn("postOne"), anyOne: fn("anyOne"), nested: fn("nested"), off: fn("off") },
    endpoints: [
      { route: "/item", http_method: "GET", function_name: "getOne" },
      { route: "/item", http_method: "POST", function_name: "postOne" },
      { route: "/any", http_method: "*", function_name: "anyOne" },
      { route: "/hello/latest", http_method: "GET", function_name: "nested" },
      { route: "/off", http_method: "GET", function_name: "off", disabled: true },
    ],
  });
});
afterAll(() => s?.stop());

describe("endpoint routing", () => {
  it("C1 endpoint URL is /app/<appId>/endpoint/<route>; nested routes work", async () => {
    const r = await call(`${s.base}/hello/latest`);
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({ fn: "nested", method: "GET" });
  });

  it("C2 unknown appId -> 404 cannot find app using Client App ID", async () => {
    const r = await call(`${s.url}/app/nope-xyz/endpoint/item`);
    expect(r.status).toBe(404);
    expect(r.json()).toMatchObject({ error: "cannot find app using Client App ID 'nope-xyz'", error_code: "AppNotFound" });
  });

  it("C3 http_method * accepts GET, POST, PUT, PATCH and DELETE", async () => {
    for (const method of ["GET", "POST", "PUT", "PATCH", "DELETE"]) {
      const r = await call(`${s.base}/any`, { method });
      expect(r.status, method).toBe(200);
      expect(r.json()).toEqual({ fn: "anyOne", method });
    }
  });

  it("C4 two endpoints on one route with different methods both dispatch", async () => {
    expect((await call(`${s.base}/item`)).json().fn).toBe("getOne");
    expect((await call(`${s.base}/item`, { method: "POST", body: "x" })).json().fn).toBe("postOne");
  });

  it("unknown route (404) and wrong method (405 + Allow) are told apart", async () => {
    const missing = await call(`${s.base}/missing`);
    expect(missing.status).toBe(404);
    expect(missing.json().error_code).toBe("EndpointNotFound");
    const wrong = await call(`${s.base}/item`, { method: "DELETE" });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get("allow")).toBe("GET, POST");
    expect(wrong.json()).toMatchObject({ error_code: "MethodNotAllowed" });
  });

  it("C62 a disabled endpoint does not run the function", async () => {
    const r = await call(`${s.base}/off`);
    expect(r.status).toBe(404);
    expect(r.json()).toMatchObject({ error_code: "EndpointDisabled" });
    expect(r.text).not.toContain('"fn"');
  });

  it("C150 server errors always carry error and error_code", async () => {
    const r = await call(`${s.url}/nowhere`);
    expect(r.status).toBe(404);
    expect(Object.keys(r.json()).sort()).toEqual(["error", "error_code"]);
  });
});
