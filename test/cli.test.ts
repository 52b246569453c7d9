// The restitch command as users run it (bin/restitch.js in a child process): serve, check, run, usage errors.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeApp } from "./helpers/app.js";
import { runNode, type Finished } from "./helpers/process.js";

const BIN = path.resolve(import.meta.dirname, "../packages/cli/bin/restitch.js");

function restitch(args: string[]): Promise<Finished> {
  return runNode([BIN, ...args]);
}

/** Starts `restitch serve` and resolves with the URL from its "listening" line. */
function serve(args: string[]): Promise<{ child: ChildProcess; url: string; exited: Promise<number | null> }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, "serve", ...args], { stdio: ["ignore", "pipe", "pipe"] });
    const exited = new Promise<number | null>((r) => child.on("close", r));
    let out = "";
    child.stdout!.on("data", (d) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve({ child, url: m[1]!, exited });
    });
    let err = "";
    child.stderr!.on("data", (d) => (err += d));
    exited.then((code) => reject(new Error(`serve exited (${code}) before listening: ${err}`)));
  });
}

let dir: string;
beforeAll(async () => {
  dir = await writeApp({
    appId: "cli-abcde",
    functions: {
      sum: `exports = function (a, b) { console.log("adding", a, b); return { sum: a + b, at: new Date(0) }; };`,
      slow: `exports = async function () { await new Promise((r) => setTimeout(r, 500)); return "done"; };`,
      boom: `exports = function () { throw new Error("kaboom"); };`,
    },
    endpoints: [
      { route: "/sum", http_method: "GET", function_name: "sum" },
      { route: "/slow", http_method: "GET", function_name: "slow" },
    ],
  });
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe("restitch check", () => {
  it("prints the endpoint table for a valid app", async () => {
    const r = await restitch(["check", dir]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/GET\s+\/app\/cli-abcde\/endpoint\/sum\s+sum\s+system/);
  });
  it("lists every problem of an invalid app and exits 1", async () => {
    const bad = await writeApp({ functions: {}, endpoints: [{ route: "/x", http_method: "GET", function_name: "missing" }, { route: "nope", http_method: "FETCH", function_name: "alsoMissing" }] });
    await mkdir(path.join(bad, "values"), { recursive: true });
    await writeFile(path.join(bad, "values", "broken.json"), "{ not json");
    const r = await restitch(["check", bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/problem/);
    expect(r.stderr).toContain("http_endpoints/config.json");
    expect(r.stderr).toContain("values/broken.json");
    expect(r.stderr.split("\n").filter((l) => l.startsWith("  ")).length).toBeGreaterThanOrEqual(3);
    await rm(bad, { recursive: true, force: true });
  });
  it("also explains the syntax errors of function sources, with the line, in the same run as the configuration problems", async () => {
    const bad = await writeApp({
      functions: {
        ok: "exports = () => 1;",
        unclosed: "exports = function () {\n  return { a: 1 ;\n};",
        shadows: "const console = 1;\nexports = () => console;",
      },
      endpoints: [{ route: "/x", http_method: "GET", function_name: "missing" }],
    });
    const r = await restitch(["check", bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("the app is invalid (3 problems)");
    // Inline run-as scripts are compiled too (once the configuration loads).
    const script = await writeApp({
      functions: { ok: "exports = () => 1;" },
      endpoints: [{ route: "/x", http_method: "GET", function_name: "ok", run_as_system: false, run_as_user_id_script_source: "exports = () => { return 'id' " }],
    });
    const s = await restitch(["check", script]);
    expect(s.code).toBe(1);
    expect(s.stderr).toContain("http_endpoints/config.json: GET /x: run_as_user_id_script_source: SyntaxError: the source ends early");
    await rm(script, { recursive: true, force: true });
    expect(r.stderr).toContain('http_endpoints/config.json: [0].function_name: function "missing" does not exist');
    expect(r.stderr).toMatch(/functions\/unclosed\.js: SyntaxError at line 2:\d+: /);
    expect(r.stderr).toContain("functions/shadows.js: SyntaxError at line 1:7: Identifier 'console' has already been declared");
    expect(r.stderr).not.toContain("functions/ok.js");
    await rm(bad, { recursive: true, force: true });
  });
  it("checks auth provider settings the server would refuse at start, and names the parts of the export that will not run", async () => {
    const app = await writeApp({
      functions: { f: "exports = () => 1;" },
      endpoints: [],
      authProviders: {
        "custom-token": { name: "custom-token", type: "custom-token", disabled: false, config: { signingAlgorithm: "ES256" }, secret_config: { signingKeys: [] } },
        "custom-function": { name: "custom-function", type: "custom-function", disabled: false, config: {} },
        "oauth2-google": { name: "oauth2-google", type: "oauth2-google", disabled: false, config: {} },
      },
    });
    await mkdir(path.join(app, "triggers"), { recursive: true });
    await writeFile(path.join(app, "triggers", "onInsert.json"), "{}");
    await mkdir(path.join(app, "hosting"), { recursive: true }); // empty: nothing to say
    const r = await restitch(["check", app]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('auth/providers.json: custom-token.config.signingAlgorithm: must be "HS256" or "RS256", got "ES256"');
    expect(r.stderr).toContain("auth/providers.json: custom-token.secret_config.signingKeys: at least one signing key is required");
    expect(r.stderr).toContain("auth/providers.json: custom-function.config.functionName: required");
    expect(r.stdout).toContain("warning: triggers/: ignored: triggers (database, scheduled, authentication) are not run by Restitch");
    expect(r.stdout).not.toContain("hosting/");
    await writeFile(path.join(app, "auth", "providers.json"), JSON.stringify({ "oauth2-google": { name: "oauth2-google", type: "oauth2-google", disabled: false, config: {} } }));
    const ok = await restitch(["check", app]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain("warning: auth/providers.json: oauth2-google: provider type oauth2-google is not implemented: its logins are refused");
    await rm(app, { recursive: true, force: true });
  });
  it("exits 0 with warnings only, printing them", async () => {
    const warned = await writeApp({ functions: { f: "exports = () => 1;" }, endpoints: [{ route: "/f", http_method: "GET", function_name: "f", frobnicate: true }] });
    const r = await restitch(["check", warned]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("warning: http_endpoints/config.json: [0].frobnicate: unknown field (ignored)");
    expect(r.stdout).toContain("is valid: 1 functions, 1 endpoints");
    await rm(warned, { recursive: true, force: true });
  });
});

describe("restitch run", () => {
  it("runs one function with EJSON arguments and prints its logs and result", async () => {
    const r = await restitch(["run", dir, "sum", "1", '{"$numberInt":"2"}']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("adding 1 2");
    expect(JSON.parse(r.stdout)).toEqual({ sum: 3, at: { $date: "1970-01-01T00:00:00Z" } });
  });
  it("prints, as the App Services console did, how long it ran, the logs, then the result (stdout holds the result alone)", async () => {
    const r = await restitch(["run", dir, "sum", "1", "2"]);
    expect(r.stderr).toMatch(/^> ran 'sum' as the system user in [\d.]+ ms \(cpu [\d.]+ ms\)\n> logs:\nadding 1 2\n> result:\n$/);
    const canonical = await restitch(["run", dir, "sum", "1", "2", "--canonical"]);
    expect(JSON.parse(canonical.stdout)).toEqual({ sum: { $numberInt: "3" }, at: { $date: { $numberLong: "0" } } });
  });
  it("a throwing function prints the error and exits 1", async () => {
    const r = await restitch(["run", dir, "boom"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("> error (threw):");
    expect(r.stderr).toContain("kaboom");
    expect(r.stdout).toBe("");
  });
  it("a function that does not compile reports the same syntax error as restitch check (exit 1)", async () => {
    const app = await writeApp({ functions: { shadows: "const console = 1;\nexports = () => console;" }, endpoints: [] });
    const r = await restitch(["run", app, "shadows"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("> error (syntax):\nSyntaxError: Identifier 'console' has already been declared [functions/shadows.js:1:7]");
    await rm(app, { recursive: true, force: true });
  });
  it("names the bad argument, the unknown function and the unknown command (exit 2)", async () => {
    expect(await restitch(["run", dir, "sum", "{oops"])).toMatchObject({ code: 2, stderr: expect.stringContaining("argument 1 is not valid EJSON") });
    expect(await restitch(["run", dir, "nope"])).toMatchObject({ code: 2, stderr: expect.stringContaining("no function 'nope'") });
    expect(await restitch(["frobnicate"])).toMatchObject({ code: 2, stderr: expect.stringContaining("unknown command 'frobnicate'") });
    expect(await restitch(["serve", dir, "--port", "http"])).toMatchObject({ code: 2, stderr: expect.stringContaining("--port must be an integer") });
  });
});

describe("restitch run --user", () => {
  it("runs as an application user of the server's store, with rules applied; an unknown id exits 1", async () => {
    const app = await writeApp({
      appId: "runas-abcde",
      functions: {
        whoami: `exports = () => ({ id: context.user.id, type: context.user.type, system: context.runningAsSystem() });`,
        add: `exports = async (text) => (await context.services.get("mongodb-atlas").db("app").collection("items").insertOne({ text })).insertedId ? "inserted" : "no";`,
        count: `exports = () => context.services.get("mongodb-atlas").db("app").collection("items").count({});`,
      },
      endpoints: [],
      dataSources: { "mongodb-atlas": { rules: { "app.items": { roles: [{ name: "reader", apply_when: {}, read: true, write: false, insert: false, delete: false, search: true }] } } } },
      authProviders: { "anon-user": { name: "anon-user", type: "anon-user", disabled: false } },
    });
    const dataDir = path.join(app, ".data");
    const { child, url, exited } = await serve([app, "--port", "0", "--workers", "0", "--data-dir", dataDir]);
    let userId: string;
    try {
      const login = await fetch(`${url}/api/client/v2.0/app/runas-abcde/auth/providers/anon-user/login`, { method: "POST" });
      userId = ((await login.json()) as { user_id: string }).user_id;
    } finally {
      child.kill("SIGTERM");
      await exited;
    }
    const me = await restitch(["run", app, "whoami", "--user", userId, "--data-dir", dataDir]);
    expect(me.code).toBe(0);
    expect(me.stderr).toContain(`as user ${userId}`);
    expect(JSON.parse(me.stdout)).toEqual({ id: userId, type: "normal", system: false });
    // As the system user the insert bypasses rules; as the user, the role has no insert permission.
    expect(await restitch(["run", app, "add", '"a"', "--data-dir", dataDir])).toMatchObject({ code: 0, stdout: '"inserted"\n' });
    const denied = await restitch(["run", app, "add", '"b"', "--user", userId, "--data-dir", dataDir]);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/> error \(threw\):\n.*insert not permitted/);
    expect(await restitch(["run", app, "count", "--user", userId, "--data-dir", dataDir])).toMatchObject({ code: 0, stdout: "1\n" });
    const unknown = await restitch(["run", app, "whoami", "--user", "5f0000000000000000000000", "--data-dir", dataDir]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("has no enabled user with id '5f0000000000000000000000'");
    expect(await restitch(["run", app, "whoami", "--user", ""])).toMatchObject({ code: 2, stderr: expect.stringContaining("--user needs a user id") });
    await rm(app, { recursive: true, force: true });
  });
});

describe("restitch serve", () => {
  it("prints 'listening' with the URL, serves, and drains in-flight calls on SIGTERM (in-process, --workers 0)", async () => {
    const { child, url, exited } = await serve([dir, "--port", "0", "--workers", "0"]);
    const ok = await fetch(`${url}/app/cli-abcde/endpoint/sum`);
    expect(ok.status).toBe(200);
    const inFlight = fetch(`${url}/app/cli-abcde/endpoint/slow`).then((r) => r.json());
    await new Promise((r) => setTimeout(r, 150));
    child.kill("SIGTERM");
    expect(await inFlight).toBe("done");
    expect(await exited).toBe(0);
  });
});
