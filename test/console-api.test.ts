// The console's HTTP surface over real HTTP: the token (cookie from ?token=…, or Bearer), the endpoint
// table, runs appearing after calls with their logs and errors, and — through the real CLI with several
// worker processes — the same runs whichever worker answers, even a worker started after them.
import { spawn, type ChildProcess } from "node:child_process";
import http from "node:http";
import { rm } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer } from "restitch";
import { serveApp, writeApp, type AppSpec, type TestServer } from "./helpers/app.js";

const BIN = path.resolve(import.meta.dirname, "../packages/cli/bin/restitch.js");
const TOKEN = "test-console-token-0123456789";

const APP: AppSpec = {
  appId: "console-abcde",
  functions: {
    greet: `exports = function (req) { const who = req.query.who || "nobody"; console.log("greeting", who); console.warn("second line"); return { hello: who }; };`,
    boom: `exports = function () { console.log("about to fail"); throw new Error("kaboom " + context.values.get("hidden")); };`,
    guarded: `exports = function () { return 1; };`,
  },
  endpoints: [
    { route: "/greet", http_method: "GET", function_name: "greet" },
    { route: "/boom", http_method: "POST", function_name: "boom", return_type: "EJSON" },
    { route: "/guarded", http_method: "GET", function_name: "guarded", validation_method: "SECRET_AS_QUERY_PARAM", secret_name: "querySecret", disabled: true },
  ],
  values: { hidden: { value: "not-a-secret-value" } },
  secrets: { querySecret: "s3cr3t-value-never-shown" },
};

/** One request on a new connection (no keep-alive), so a supervisor hands each to the next worker. */
function request(url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string; json: () => any }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: init.method ?? "GET", headers: init.headers, agent: false }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, text, json: () => JSON.parse(text) }));
    });
    req.on("error", reject);
    req.end(init.body);
  });
}

const bearer = { Authorization: `Bearer ${TOKEN}` };

describe("the console in one process (startServer)", () => {
  let server: TestServer;
  let api: string;
  beforeAll(async () => {
    server = await serveApp(APP, { console: { token: TOKEN } });
    api = `${server.url}/_restitch/api`;
  });
  afterAll(() => server?.stop());

  it("is closed without the token: page, assets and API answer 401, and a wrong token is refused", async () => {
    for (const p of ["/_restitch/", "/_restitch/console.js", "/_restitch/api/apps", "/_restitch/api/runs", "/_restitch/api/runs/1", "/_restitch/anything"]) {
      const r = await request(`${server.url}${p}`);
      expect([p, r.status]).toEqual([p, 401]);
      expect(r.headers["www-authenticate"]).toMatch(/^Bearer/);
    }
    expect((await request(`${api}/apps`, { headers: { Authorization: `Bearer ${TOKEN}x` } })).status).toBe(401);
    expect((await request(`${api}/apps`, { headers: { Cookie: `restitch_console=${TOKEN.slice(0, -1)}` } })).status).toBe(401);
    const wrong = await request(`${server.url}/_restitch/?token=${TOKEN}x`);
    expect([wrong.status, wrong.headers["set-cookie"]]).toEqual([401, undefined]);
    // A browser gets a fixed page that echoes nothing from the request.
    const html = await request(`${server.url}/_restitch/?token=<script>x</script>`, { headers: { Accept: "text/html" } });
    expect(html.status).toBe(401);
    expect(html.text).toContain("Token needed");
    expect(html.text).not.toContain("<script>x");
  });

  it("turns ?token=… into a console-scoped HttpOnly cookie and redirects to drop it from the URL", async () => {
    const bare = await request(`${server.url}/_restitch?token=${TOKEN}`);
    expect([bare.status, bare.headers.location]).toEqual([302, `/_restitch/?token=${TOKEN}`]);
    const r = await request(`${server.url}/_restitch/?token=${TOKEN}`);
    expect(r.status).toBe(303);
    expect(r.headers.location).toBe("/_restitch/");
    const cookie = r.headers["set-cookie"]![0]!;
    expect(cookie).toMatch(/^restitch_console=test-console-token-0123456789;/);
    expect(cookie).toMatch(/; Path=\/_restitch\/;/);
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    const page = await request(`${server.url}/_restitch/`, { headers: { Cookie: cookie.split(";")[0]! } });
    expect(page.status).toBe(200);
    expect(page.headers["content-type"]).toMatch(/^text\/html/);
    expect(page.text).toContain("<title>Restitch console</title>");
    expect(page.headers["content-security-policy"]).toMatch(/default-src 'none'; script-src 'self'/);
    expect(page.headers["x-frame-options"]).toBe("DENY");
    expect(page.headers["cache-control"]).toBe("no-store");
    // No asset from anywhere else: the machine may be offline.
    expect(page.text).not.toMatch(/https?:\/\//);
  });

  it("lists the endpoint table: route, method, function, validation (secret name, never its value), return type, disabled", async () => {
    const r = await request(`${api}/apps`, { headers: bearer });
    expect(r.status).toBe(200);
    const [app] = r.json().apps;
    expect(app).toMatchObject({ appId: "console-abcde", name: "e2e" });
    expect(app.endpoints).toEqual([
      expect.objectContaining({ method: "GET", route: "/greet", path: "/app/console-abcde/endpoint/greet", function: "greet", runsAs: "system", validation: "NO_VALIDATION", returnType: "JSON", disabled: false }),
      expect.objectContaining({ method: "POST", route: "/boom", function: "boom", returnType: "EJSON", disabled: false }),
      expect.objectContaining({ method: "GET", route: "/guarded", validation: "SECRET_AS_QUERY_PARAM", secretName: "querySecret", disabled: true }),
    ]);
    expect(r.text).not.toContain("s3cr3t-value-never-shown");
    expect(r.text).not.toContain("not-a-secret-value"); // values are not part of the table either
  });

  it("shows each call as a run, newest first, with its logs and timings; an error keeps kind and message, never the stack", async () => {
    const before = (await request(`${api}/runs?limit=1`, { headers: bearer })).json().latest as number;
    expect((await request(`${server.base}/greet?who=Ada`)).status).toBe(200);
    expect((await request(`${server.base}/boom`, { method: "POST", body: "{}" })).status).toBe(400);
    const list = await request(`${api}/runs?after=${before}`, { headers: bearer });
    expect(list.status).toBe(200);
    const runs = list.json().runs;
    expect(runs.map((r: any) => [r.method, r.route, r.status])).toEqual([
      ["POST", "/boom", 400],
      ["GET", "/greet", 200],
    ]);
    expect(runs[1]).toMatchObject({ appId: "console-abcde", logCount: 2, firstLog: "greeting Ada", ms: expect.any(Number) });
    expect(runs[0].error).toEqual({ kind: "threw", name: "Error", message: "kaboom not-a-secret-value" });

    const detail = (await request(`${api}/runs/${runs[1].id}`, { headers: bearer })).json();
    expect(detail).toMatchObject({ id: runs[1].id, route: "/greet", status: 200, logs: ["greeting Ada", "WARN: second line"] });
    expect(detail.ms).toBeGreaterThan(0);
    const failed = await request(`${api}/runs/${runs[0].id}`, { headers: bearer });
    expect(failed.json().logs).toEqual(["about to fail"]);
    expect(failed.text).not.toMatch(/functions\/boom\.js|\bat exports\b/); // no tenant stack frames
  });

  it("answers bad parameters and unknown runs with errors that name them", async () => {
    const bad = await request(`${api}/runs?after=-1`, { headers: bearer });
    expect([bad.status, bad.json().error]).toEqual([400, "parameter 'after' must be an integer from 0 to 9007199254740991"]);
    expect((await request(`${api}/runs?limit=0`, { headers: bearer })).json().error).toMatch(/parameter 'limit'/);
    const missing = await request(`${api}/runs/999999`, { headers: bearer });
    expect([missing.status, missing.json().error_code]).toEqual([404, "RunNotFound"]);
  });

  it("keeps tenant text out of markup: a log line with HTML is data in JSON, and the page itself is static", async () => {
    const attack = `<img src=x onerror="alert(1)"><script>alert(2)</script>`;
    await request(`${server.base}/greet?who=${encodeURIComponent(attack)}`);
    const list = await request(`${api}/runs?limit=1`, { headers: bearer });
    expect(list.headers["content-type"]).toMatch(/^application\/json/);
    expect(list.json().runs[0].firstLog).toBe(`greeting ${attack}`);
    const page = await request(`${server.url}/_restitch/`, { headers: bearer });
    expect(page.text).not.toContain("alert(");
  });

  it("leaves the app's own routes and the 404 for everything else as they were", async () => {
    expect((await request(`${server.base}/greet`)).json()).toEqual({ hello: "nobody" });
    const other = await request(`${server.url}/_restitchx`);
    expect([other.status, other.json().error_code]).toEqual([404, "NotFound"]);
  });
});

describe("the console of a server with several apps", () => {
  it("lists each app's endpoint table and the runs of every app, filterable by app", async () => {
    const dirs = [await writeApp(APP), await writeApp({ ...APP, appId: "second-abcde" })];
    const server = await startServer({ appDir: dirs, port: 0, console: { token: TOKEN } });
    try {
      const apps = (await request(`${server.url}/_restitch/api/apps`, { headers: bearer })).json().apps;
      expect(apps.map((a: any) => [a.appId, a.endpoints.length])).toEqual([
        ["console-abcde", 3],
        ["second-abcde", 3],
      ]);
      expect(apps[1].endpoints[0].path).toBe("/app/second-abcde/endpoint/greet");
      await request(`${server.url}/app/console-abcde/endpoint/greet?who=one`);
      await request(`${server.url}/app/second-abcde/endpoint/greet?who=two`);
      const all = (await request(`${server.url}/_restitch/api/runs`, { headers: bearer })).json().runs;
      expect(all.map((r: any) => [r.appId, r.firstLog])).toEqual([
        ["second-abcde", "greeting two"],
        ["console-abcde", "greeting one"],
      ]);
      const second = (await request(`${server.url}/_restitch/api/runs?appId=second-abcde`, { headers: bearer })).json().runs;
      expect(second.map((r: any) => r.appId)).toEqual(["second-abcde"]);
    } finally {
      await server.close();
      for (const d of dirs) await rm(d, { recursive: true, force: true });
    }
  });
});

describe("the console is off unless asked for", () => {
  it("answers 404 at /_restitch/ without the console option", async () => {
    const server = await serveApp(APP);
    try {
      const r = await request(`${server.url}/_restitch/api/apps`, { headers: bearer });
      expect(r.status).toBe(404);
    } finally {
      await server.stop();
    }
  });
});

/** `restitch serve …`, resolved once the console line is printed. */
function serve(args: string[], env: Record<string, string> = {}): Promise<{ child: ChildProcess; url: string; consoleLine: string; out: () => string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, "serve", ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
    let out = "";
    let err = "";
    child.stdout!.on("data", (d) => {
      out += d;
      const url = /listening on (http:\/\/\S+)/.exec(out)?.[1];
      const consoleLine = /^restitch: console at .*$/m.exec(out)?.[0];
      if (url && consoleLine) resolve({ child, url, consoleLine, out: () => out });
    });
    child.stderr!.on("data", (d) => (err += d));
    child.on("close", (code) => reject(new Error(`serve exited (${code}) before listening: ${err}`)));
  });
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once("close", () => resolve());
    child.kill("SIGTERM");
  });
}

describe("restitch serve --console (real CLI, supervised workers)", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await writeApp(APP);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("shows every run whichever worker answers, also from a worker started after the runs", async () => {
    const s = await serve([dir, "--port", "0", "--workers", "2", "--console", "--console-token", TOKEN]);
    try {
      expect(s.consoleLine).toBe(`restitch: console at ${s.url}/_restitch/ (token from --console-token or RESTITCH_CONSOLE_TOKEN)`);
      for (let i = 0; i < 6; i++) expect((await request(`${s.url}/app/console-abcde/endpoint/greet?who=w${i}`)).status).toBe(200);
      const seen = async () => {
        const views = [];
        for (let i = 0; i < 4; i++) views.push((await request(`${s.url}/_restitch/api/runs`, { headers: bearer })).json().runs);
        return views;
      };
      // Runs reach the supervisor and come back asynchronously: wait until every view has all six.
      let views: any[][] = [];
      for (let tries = 0; tries < 50; tries++) {
        views = await seen();
        if (views.every((v) => v.length === 6)) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      // The same runs, numbered the same, from every worker (the order of runs that finish within a few
      // ms of each other on different workers may differ from their finishing order: docs/console.md).
      for (const v of views) expect(v).toEqual(views[0]);
      expect(views[0]!.map((r: any) => r.firstLog).sort()).toEqual(["w0", "w1", "w2", "w3", "w4", "w5"].map((w) => `greeting ${w}`));
      const workers = new Set(views[0]!.map((r: any) => r.worker));
      expect(workers.size).toBe(2); // both workers answered calls, and each one's runs show everywhere
      expect(views[0]!.map((r: any) => r.id)).toEqual([6, 5, 4, 3, 2, 1]);

      // Kill one worker: its replacement starts with the supervisor's log.
      const victim = [...workers][0] as number;
      process.kill(victim, "SIGKILL");
      let replaced = false;
      for (let tries = 0; tries < 100 && !replaced; tries++) {
        await new Promise((r) => setTimeout(r, 100));
        // Calls on new connections reach the replacement once it is ready (a refused one is retried).
        for (let i = 0; i < 2; i++) await request(`${s.url}/app/console-abcde/endpoint/greet?who=after`).catch(() => undefined);
        const after = (await request(`${s.url}/_restitch/api/runs?limit=1000`, { headers: bearer })).json().runs;
        replaced = after.some((r: any) => r.worker !== undefined && !workers.has(r.worker));
      }
      expect(replaced).toBe(true);
      for (let i = 0; i < 4; i++) {
        const runs = (await request(`${s.url}/_restitch/api/runs?limit=1000`, { headers: bearer })).json().runs;
        expect(runs.map((r: any) => r.firstLog)).toContain("greeting w0");
      }
    } finally {
      await stop(s.child);
    }
  });

  it("keeps the runs of a worker that is recycled (it sends what is pending before it exits)", async () => {
    const s = await serve([dir, "--port", "0", "--workers", "1", "--console", "--console-token", TOKEN], { RESTITCH_WORKER_MAX_CALLS: "2" });
    try {
      for (let i = 0; i < 5; i++) expect((await request(`${s.url}/app/console-abcde/endpoint/greet?who=r${i}`)).status).toBe(200);
      let runs: any[] = [];
      for (let tries = 0; tries < 50 && runs.length < 5; tries++) {
        await new Promise((r) => setTimeout(r, 100));
        runs = (await request(`${s.url}/_restitch/api/runs`, { headers: bearer })).json().runs;
      }
      expect(runs.map((r: any) => r.firstLog)).toEqual(["r4", "r3", "r2", "r1", "r0"].map((w) => `greeting ${w}`));
      expect(new Set(runs.map((r: any) => r.worker)).size).toBeGreaterThan(1); // it was answered by successive workers
    } finally {
      await stop(s.child);
    }
  });

  it("generates a token and prints it once with the console URL; RESTITCH_CONSOLE_TOKEN is used when set", async () => {
    const s = await serve([dir, "--port", "0", "--workers", "0", "--console"], { RESTITCH_CONSOLE_TOKEN: "" });
    try {
      const url = /console at (\S+)/.exec(s.consoleLine)![1]!;
      const token = new URL(url).searchParams.get("token")!;
      expect(token).toMatch(/^[A-Za-z0-9_-]{32}$/);
      expect(s.out().split(token).length - 1).toBe(1);
      const first = await request(url);
      expect(first.status).toBe(303);
      expect((await request(`${s.url}/_restitch/api/apps`, { headers: { Authorization: `Bearer ${token}` } })).status).toBe(200);
    } finally {
      await stop(s.child);
    }
    const fromEnv = await serve([dir, "--port", "0", "--console"], { RESTITCH_CONSOLE_TOKEN: TOKEN });
    try {
      expect(fromEnv.consoleLine).not.toContain("token=");
      expect((await request(`${fromEnv.url}/_restitch/api/apps`, { headers: bearer })).status).toBe(200);
    } finally {
      await stop(fromEnv.child);
    }
  });

  it("refuses a weak token and --console-token without --console, naming the flag", async () => {
    const run = (args: string[], env: Record<string, string> = {}) =>
      new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [BIN, "serve", dir, "--port", "0", ...args], { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, ...env } });
        let stderr = "";
        child.stderr.on("data", (d) => (stderr += d));
        child.on("close", (code) => resolve({ code, stderr }));
      });
    const short = await run(["--console", "--console-token", "hunter2"]);
    expect([short.code, short.stderr.split("\n")[0]]).toEqual([2, "restitch: --console-token must be at least 16 characters (got 7)"]);
    const env = await run(["--console"], { RESTITCH_CONSOLE_TOKEN: "short" });
    expect(env.stderr).toMatch(/environment variable RESTITCH_CONSOLE_TOKEN must be at least 16 characters/);
    const orphan = await run(["--console-token", TOKEN]);
    expect([orphan.code, orphan.stderr.split("\n")[0]]).toEqual([2, "restitch: --console-token needs --console"]);
  });
});
