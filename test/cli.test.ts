// The restitch command as users run it (bin/restitch.js in a child process): serve, check, run, usage errors.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeApp } from "./helpers/app.js";

const BIN = path.resolve(import.meta.dirname, "../packages/cli/bin/restitch.js");

function restitch(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
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
});

describe("restitch run", () => {
  it("runs one function with EJSON arguments and prints its logs and result", async () => {
    const r = await restitch(["run", dir, "sum", "1", '{"$numberInt":"2"}']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("adding 1 2");
    expect(JSON.parse(r.stdout)).toEqual({ sum: 3, at: { $date: "1970-01-01T00:00:00Z" } });
  });
  it("a throwing function prints the error and exits 1", async () => {
    const r = await restitch(["run", dir, "boom"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("kaboom");
  });
  it("names the bad argument, the unknown function and the unknown command (exit 2)", async () => {
    expect(await restitch(["run", dir, "sum", "{oops"])).toMatchObject({ code: 2, stderr: expect.stringContaining("argument 1 is not valid EJSON") });
    expect(await restitch(["run", dir, "nope"])).toMatchObject({ code: 2, stderr: expect.stringContaining("no function 'nope'") });
    expect(await restitch(["frobnicate"])).toMatchObject({ code: 2, stderr: expect.stringContaining("unknown command 'frobnicate'") });
    expect(await restitch(["serve", dir, "--port", "http"])).toMatchObject({ code: 2, stderr: expect.stringContaining("--port must be an integer") });
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
