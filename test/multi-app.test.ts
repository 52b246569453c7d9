/**
 * Several apps in one server (`restitch serve a b`, startServer({ appDir: [a, b] })): each answers under its
 * own app id, keeps its own data and auth, and a broken or duplicate app stops the start with a clear error.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type RunningServer } from "restitch";
import { call, writeApp, type AppSpec } from "./helpers/app.js";

const counterApp = (appId: string): AppSpec => ({
  appId,
  functions: {
    bump: `exports = async function () {
      const c = context.services.get("mongodb-atlas").db("app").collection("counters");
      await c.updateOne({ _id: "n" }, { $inc: { n: 1 } }, { upsert: true });
      return { app: context.app.id, n: (await c.findOne({ _id: "n" })).n };
    };`,
  },
  endpoints: [{ route: "/bump", http_method: "POST", function_name: "bump" }],
  dataSources: { "mongodb-atlas": {} },
});

describe.each([
  ["in memory", false],
  ["in a data dir", true],
])("two apps in one server, data %s", (_label, durable) => {
  let dirs: string[] = [];
  let dataDir: string | undefined;
  let server: RunningServer;
  beforeAll(async () => {
    dirs = [await writeApp(counterApp("alpha-aaaaa")), await writeApp(counterApp("beta-bbbbb"))];
    dataDir = durable ? await mkdtemp(path.join(tmpdir(), "restitch-multi-")) : undefined;
    server = await startServer({ appDir: dirs, port: 0, ...(dataDir ? { dataDir } : {}) });
  });
  afterAll(async () => {
    await server?.close();
    for (const d of [...dirs, ...(dataDir ? [dataDir] : [])]) await rm(d, { recursive: true, force: true });
  });

  it("serves each app under its own id, with data of its own", async () => {
    expect(server.apps.map((a) => a.appId)).toEqual(["alpha-aaaaa", "beta-bbbbb"]);
    const bump = (id: string) => call(`${server.url}/app/${id}/endpoint/bump`, { method: "POST" });
    expect((await bump("alpha-aaaaa")).json()).toEqual({ app: "alpha-aaaaa", n: 1 });
    expect((await bump("alpha-aaaaa")).json()).toEqual({ app: "alpha-aaaaa", n: 2 });
    // The same database and collection name in another app is another store.
    expect((await bump("beta-bbbbb")).json()).toEqual({ app: "beta-bbbbb", n: 1 });
    expect((await call(`${server.url}/app/gamma-ccccc/endpoint/bump`, { method: "POST" })).status).toBe(404);
  });
});

describe("apps that cannot be served together", () => {
  it("refuses two directories with one app id, naming both", async () => {
    const a = await writeApp(counterApp("same-aaaaa"));
    const b = await writeApp(counterApp("same-aaaaa"));
    try {
      await expect(startServer({ appDir: [a, b], port: 0 })).rejects.toThrow(new RegExp(`${b}: app id 'same-aaaaa' is already served from ${a}`));
    } finally {
      for (const d of [a, b]) await rm(d, { recursive: true, force: true });
    }
  });
});

describe("tenants in one server", () => {
  it("an app spinning after an await does not hold the other apps: continuations run off the event loop (docs/security.md)", async () => {
    const spinner = await writeApp({
      appId: "spin-aaaaa",
      functions: { spin: "exports = async () => { await new Promise((r) => setTimeout(r, 1)); for (;;) {} };" },
      endpoints: [{ route: "/spin", http_method: "GET", function_name: "spin" }],
    });
    const other = await writeApp({
      appId: "calm-bbbbb",
      functions: { hello: "exports = async () => { await new Promise((r) => setTimeout(r, 1)); return { ok: true }; };" },
      endpoints: [{ route: "/hello", http_method: "GET", function_name: "hello" }],
    });
    const server = await startServer({ appDir: [spinner, other], port: 0, runtime: { limits: { cpuTimeMs: 3_000 } } });
    try {
      // The server runs in this process: a held event loop would delay this test's own timer too, so
      // time everything from the spinner's start.
      const started = Date.now();
      const spun = call(`${server.url}/app/spin-aaaaa/endpoint/spin`);
      await new Promise((r) => setTimeout(r, 300)); // the spinner is now in its continuation
      expect((await call(`${server.url}/app/calm-bbbbb/endpoint/hello`)).json()).toEqual({ ok: true });
      expect(Date.now() - started).toBeLessThan(2_000); // not after the spinner's 3 s CPU budget
      expect((await spun).json().error_code).toBe("ExecutionTimeLimitExceeded");
    } finally {
      await server.close();
      for (const d of [spinner, other]) await rm(d, { recursive: true, force: true });
    }
  });
});

