/**
 * Crash containment with real processes: `restitch serve --workers N` keeps the service up when a
 * worker dies (kill -9 stands in for a V8 out-of-memory abort), fails the dead worker's in-flight
 * calls fast, and recycles workers after their call budget.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { writeApp } from "./helpers/app.js";
import { RESTITCH_BIN as BIN, serveRestitch, stopChildren } from "./helpers/process.js";

const children: ChildProcess[] = [];

afterEach(() => stopChildren(children));

const serve = (appDir: string, args: string[], env: Record<string, string> = {}) => serveRestitch([appDir, ...args], children, env);

const app = () =>
  writeApp({
    appId: "sup-abcde",
    functions: {
      hello: "exports = () => ({ ok: true });",
      slow: "exports = () => new Promise((r) => setTimeout(() => r('slow done'), 3000));",
    },
    endpoints: [
      { route: "/hello", http_method: "GET", function_name: "hello" },
      { route: "/slow", http_method: "GET", function_name: "slow" },
    ],
  });

async function until<T>(fn: () => Promise<T>, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (Date.now() > end) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** The first 200 from `url` within `ms` (a replacement worker is starting). */
const until200 = (url: string, ms: number) =>
  until(async () => {
    const r = await fetch(url);
    if (r.status !== 200) throw new Error(`status ${r.status}`);
    return r;
  }, ms);

describe("supervised worker processes", () => {
  it("a worker that dies loses only its in-flight calls, which fail fast; a new worker takes over", async () => {
    const dir = await app();
    const s = await serve(dir, ["--workers", "1"]);
    expect(s.pids).toHaveLength(1);
    const base = `${s.url}/app/sup-abcde/endpoint`;
    expect((await fetch(`${base}/hello`)).status).toBe(200);

    const started = Date.now();
    const inFlight = fetch(`${base}/slow`).then((r) => r.status, (e: Error) => `failed: ${e.message}`);
    await new Promise((r) => setTimeout(r, 300));
    process.kill(s.pids[0]!, "SIGKILL");
    const outcome = await inFlight;
    expect(String(outcome)).toMatch(/^failed/);
    expect(Date.now() - started).toBeLessThan(3_000); // fails fast instead of hanging for 5 s

    expect(await (await until200(`${base}/hello`, 10_000)).json()).toEqual({ ok: true });
    expect(s.stderr()).toMatch(/worker \d+ died \(SIGKILL\); starting a new one/);
    expect(s.child.exitCode).toBeNull();
  }, 30_000);

  it("recycles a worker after its call budget without failing a request", async () => {
    const dir = await app();
    const s = await serve(dir, ["--workers", "1"], { RESTITCH_WORKER_MAX_CALLS: "3" });
    const base = `${s.url}/app/sup-abcde/endpoint`;
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      statuses.push((await fetch(`${base}/hello`)).status);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(statuses.every((x) => x === 200)).toBe(true);
    expect(s.stderr()).toMatch(/recycling worker \d+: served its call budget/);
  }, 30_000);

  it("workers run with V8's heap growth at RESTITCH_WORKER_HEAP_GROWING_PERCENT (50 by default, 0: V8's own; node's own flag wins)", async () => {
    const dir = await app();
    const flagsOf = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter((a) => a.startsWith("--heap-growing-percent"));
    const byDefault = await serve(dir, ["--workers", "1"]);
    expect(flagsOf(byDefault.pids[0]!)).toEqual(["--heap-growing-percent=50"]);
    expect(flagsOf(byDefault.child.pid!)).toEqual([]); // the supervisor's own heap is left as it is
    const set = await serve(dir, ["--workers", "1"], { RESTITCH_WORKER_HEAP_GROWING_PERCENT: "30" });
    expect(flagsOf(set.pids[0]!)).toEqual(["--heap-growing-percent=30"]);
    const off = await serve(dir, ["--workers", "1"], { RESTITCH_WORKER_HEAP_GROWING_PERCENT: "0" });
    expect(flagsOf(off.pids[0]!)).toEqual([]);
    expect((await fetch(`${off.url}/app/sup-abcde/endpoint/hello`)).status).toBe(200);
    // A value given to node itself wins: the workers inherit it and get no second one.
    const own = await serveRestitch([dir, "--workers", "1"], children, {}, ["--heap-growing-percent=70"]);
    expect(flagsOf(own.pids[0]!)).toEqual(["--heap-growing-percent=70"]);
    const bad = spawn(process.execPath, [BIN, "serve", dir, "--port", "0"], { env: { ...process.env, RESTITCH_WORKER_HEAP_GROWING_PERCENT: "-5" } });
    let err = "";
    bad.stderr.on("data", (d) => (err += d));
    const code = await new Promise((r) => bad.on("exit", r));
    expect(code).not.toBe(0);
    expect(err).toMatch(/RESTITCH_WORKER_HEAP_GROWING_PERCENT must be a non-negative integer, got '-5'/);
  }, 40_000);

  it("recycling under concurrent keep-alive load fails no request", async () => {
    const dir = await app();
    const s = await serve(dir, ["--workers", "1"], { RESTITCH_WORKER_MAX_CALLS: "300" });
    const url = `${s.url}/app/sup-abcde/endpoint/hello`;
    let ok = 0;
    const failures: string[] = [];
    const end = Date.now() + 4_000;
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        while (Date.now() < end) {
          try {
            const r = await fetch(url);
            await r.text();
            if (r.status === 200) ok++;
            else failures.push(`status ${r.status}`);
          } catch (e) {
            failures.push(String((e as Error & { cause?: { code?: string } }).cause?.code ?? e));
          }
        }
      }),
    );
    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(300);
    expect(s.stderr()).toMatch(/recycling worker \d+: served its call budget/);
  }, 30_000);

  it("a worker whose event loop is held (a tenant's first long continuation) is killed by the watchdog and replaced", async () => {
    const dir = await writeApp({
      appId: "hang-abcde",
      functions: {
        hello: "exports = () => ({ ok: true });",
        // Resumed after a host answer, it runs on the event loop until its 10 s CPU budget (docs/security.md, known edges).
        spin: "exports = async () => { await new Promise((r) => setTimeout(r, 1)); for (;;) {} };",
      },
      endpoints: [
        { route: "/hello", http_method: "GET", function_name: "hello" },
        { route: "/spin", http_method: "GET", function_name: "spin" },
      ],
    });
    const s = await serve(dir, ["--workers", "1"], { RESTITCH_WORKER_HANG_MS: "1500" });
    const base = `${s.url}/app/hang-abcde/endpoint`;
    expect((await fetch(`${base}/hello`)).status).toBe(200);
    const started = Date.now();
    const spun = await fetch(`${base}/spin`).then((r) => r.status, (e: Error) => `failed: ${e.message}`);
    expect(String(spun)).toMatch(/^failed/); // its worker was killed under it…
    expect(Date.now() - started).toBeLessThan(8_000); // …well before the 10 s CPU budget ran out
    const res = await until200(`${base}/hello`, 15_000);
    expect(await res.json()).toEqual({ ok: true });
    expect(s.stderr()).toMatch(new RegExp(`worker ${s.pids[0]} held its event loop for \\d+ ms; killing it`));
  });

  it("two workers share one port and both answer", async () => {
    const dir = await app();
    const s = await serve(dir, ["--workers", "2"]);
    expect(s.pids).toHaveLength(2);
    const results = await Promise.all(Array.from({ length: 20 }, () => fetch(`${s.url}/app/sup-abcde/endpoint/hello`).then((r) => r.status)));
    expect(results.every((x) => x === 200)).toBe(true);
  }, 30_000);

  it("without --data-dir, every worker sees the same data, and it outlives a worker", async () => {
    const dir = await writeApp({
      appId: "mem-abcde",
      functions: {
        add: "exports = async (req) => (await context.services.get('mongodb-atlas').db('d').collection('c').insertOne({ n: 1 })).insertedId;",
        count: "exports = () => context.services.get('mongodb-atlas').db('d').collection('c').count({});",
      },
      endpoints: [
        { route: "/add", http_method: "POST", function_name: "add" },
        { route: "/count", http_method: "GET", function_name: "count" },
      ],
      dataSources: { "mongodb-atlas": {} },
    });
    const s = await serve(dir, ["--workers", "2"]);
    const base = `${s.url}/app/mem-abcde/endpoint`;
    for (let i = 0; i < 3; i++) expect((await fetch(`${base}/add`, { method: "POST" })).status).toBe(200);
    const counts = await Promise.all(Array.from({ length: 8 }, () => fetch(`${base}/count`).then((r) => r.json())));
    expect(counts).toEqual(Array(8).fill(3));
    process.kill(s.pids[0]!, "SIGKILL");
    expect(await (await until200(`${base}/count`, 10_000)).json()).toBe(3);
  }, 30_000);

  it("SIGTERM lets in-flight calls finish, then stops the whole service", async () => {
    const dir = await app();
    const s = await serve(dir, ["--workers", "1"]);
    const inFlight = fetch(`${s.url}/app/sup-abcde/endpoint/slow`).then(async (r) => [r.status, await r.text()]);
    await new Promise((r) => setTimeout(r, 500));
    const exited = new Promise<number | null>((r) => s.child.on("exit", (code) => r(code)));
    s.child.kill("SIGTERM");
    expect(await inFlight).toEqual([200, '"slow done"']);
    expect(await exited).toBe(0);
  }, 30_000);

  it("SIGTERM while the workers are still starting stops cleanly", async () => {
    const dir = await app();
    const child = spawn(process.execPath, [BIN, "serve", dir, "--port", "0", "--workers", "1"], { stdio: ["ignore", "pipe", "pipe"] });
    children.push(child);
    let err = "";
    child.stderr!.on("data", (d) => (err += d));
    await new Promise((r) => setTimeout(r, 300));
    const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(err).not.toMatch(/ERR_IPC_CHANNEL_CLOSED|Unhandled/);
  }, 30_000);
});
