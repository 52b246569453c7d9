// Overload (429) and graceful shutdown: in-flight calls finish, new connections are refused.
import { afterAll, describe, expect, it } from "vitest";
import { call, serveApp, type TestServer } from "./helpers/app.js";

const spec = {
  appId: "lifecycle-abcde",
  functions: {
    slow: `exports = async function () { await new Promise((r) => setTimeout(r, 400)); return { done: true }; };`,
  },
  endpoints: [{ route: "/slow", http_method: "GET", function_name: "slow" }],
};

const servers: TestServer[] = [];
afterAll(() => Promise.all(servers.map((s) => s.stop())));

describe("server lifecycle", () => {
  it("an app whose isolates and queue are full answers 429 TooManyRequests", async () => {
    const s = await serveApp(spec, { runtime: { pool: { maxIsolates: 1, maxQueue: 1, warmIsolates: 1 } } });
    servers.push(s);
    const results = await Promise.all(Array.from({ length: 5 }, () => call(`${s.base}/slow`)));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toContain(200);
    expect(statuses).toContain(429);
    const refused = results.find((r) => r.status === 429)!;
    expect(refused.json().error_code).toBe("TooManyRequests");
  });

  it("close() drains in-flight calls, then refuses new connections", async () => {
    const s = await serveApp(spec);
    const inFlight = call(`${s.base}/slow`);
    await new Promise((r) => setTimeout(r, 100)); // the call is running in its isolate now
    const closing = s.stop();
    const r = await inFlight;
    expect([r.status, r.json()]).toEqual([200, { done: true }]);
    await closing;
    await expect(fetch(`${s.base}/slow`)).rejects.toThrow();
  });
});
