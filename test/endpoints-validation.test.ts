// Request validation over real HTTP: the secret query parameter and the payload signature (spec §5.5).
import { createHmac } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { call, serveApp, type TestServer } from "./helpers/app.js";

// The function answers {ran: true}; a refused request must never carry that answer.
const fn = `exports = function (request) { return { ran: true, body: request.body ? request.body.text() : null }; };`;

let s: TestServer;
beforeAll(async () => {
  s = await serveApp({
    appId: "validation-abcde",
    functions: { fn },
    endpoints: [
      { route: "/passwordRequired", http_method: "GET", function_name: "fn", validation_method: "SECRET_AS_QUERY_PARAM", secret_name: "qs" },
      { route: "/sendMessage", http_method: "POST", function_name: "fn", validation_method: "VERIFY_PAYLOAD", secret_name: "sig" },
      { route: "/compact", http_method: "POST", function_name: "fn", validation_method: "VERIFY_PAYLOAD", secret_name: "sig12345" },
    ],
    secrets: { qs: "Super5ecr3tPa55w0rd", sig: "Super5ecr3tPa55w0rd", sig12345: "12345" },
  });
});
afterAll(() => s?.stop());

describe("SECRET_AS_QUERY_PARAM", () => {
  it("C32 the right ?secret= runs the function", async () => {
    const r = await call(`${s.base}/passwordRequired?secret=Super5ecr3tPa55w0rd`);
    expect(r.status).toBe(200);
    expect(r.json().ran).toBe(true);
  });
  it("C33 a wrong or missing secret is refused and the function does not run", async () => {
    for (const q of ["?secret=wrong", "", "?other=1"]) {
      const r = await call(`${s.base}/passwordRequired${q}`);
      expect(r.status, q).toBe(401);
      expect(r.json().error_code).toBe("InvalidValidation");
      expect(r.text).not.toContain("ran");
    }
  });
});

describe("VERIFY_PAYLOAD", () => {
  const body = '{ "message": "Hello!" }';
  it("C34 the tested seed example (raw body with spaces) is accepted", async () => {
    const r = await call(`${s.base}/sendMessage`, {
      method: "POST",
      headers: { "Endpoint-Signature": "sha256=d4f0537db4e230d7a6028a6f7c3bb1b57c9d16f39176d78697e559ac333e0b36" },
      body,
    });
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({ ran: true, body });
  });
  it("C35 the same signature over a re-spaced (compact) body is rejected", async () => {
    const r = await call(`${s.base}/sendMessage`, {
      method: "POST",
      headers: { "Endpoint-Signature": "sha256=d4f0537db4e230d7a6028a6f7c3bb1b57c9d16f39176d78697e559ac333e0b36" },
      body: '{"message":"Hello!"}',
    });
    expect(r.status).toBe(401);
    expect(r.text).not.toContain("ran");
  });
  it("C36 {\"message\":\"MESSAGE\"} with secret 12345 verifies, also in the seed curl's '::' form", async () => {
    const sig = createHmac("sha256", "12345").update('{"message":"MESSAGE"}').digest("hex");
    expect(sig).toMatch(/^828ee180512eaf8a.*5777862$/);
    for (const value of [`sha256=${sig}`, `:sha256=${sig}`]) {
      const r = await call(`${s.base}/compact`, { method: "POST", headers: { "Endpoint-Signature": value }, body: '{"message":"MESSAGE"}' });
      expect(r.status, value).toBe(200);
    }
  });
  it("C37 a missing Endpoint-Signature is rejected and the function does not run", async () => {
    const r = await call(`${s.base}/sendMessage`, { method: "POST", body });
    expect(r.status).toBe(401);
    expect(r.json().error).toMatch(/Endpoint-Signature/);
  });
});
