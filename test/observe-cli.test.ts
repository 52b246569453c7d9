/**
 * `restitch serve` as users run it: with `--workers 2` every worker logs its requests as JSON lines
 * on the one stdout, and /metrics answers for the whole server (the supervisor sums every worker's
 * registry) whichever worker takes the scrape. Flags --log-format and --log-level.
 */
import type { ChildProcess } from "node:child_process";
import http from "node:http";
import { rm } from "node:fs/promises";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { writeApp } from "./helpers/app.js";
import { RESTITCH_BIN as BIN, runNode, serveRestitch, stopChildren } from "./helpers/process.js";

const children: ChildProcess[] = [];
let dir = "";

beforeAll(async () => {
  dir = await writeApp({
    appId: "obscli-abcde",
    functions: { hello: `exports = function () { console.log("said hello"); return "hi"; };` },
    endpoints: [{ route: "/hello", http_method: "GET", function_name: "hello" }],
  });
});
afterAll(() => rm(dir, { recursive: true, force: true }));
afterEach(() => stopChildren(children));

const serve = (args: string[]) => serveRestitch([dir, ...args], children);

/** A GET on a connection of its own (the supervisor hands each new connection to the next worker). */
function get(url: string): Promise<{ status: number; body: string; requestId: string | undefined }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        let body = "";
        res.on("data", (d) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode!, body, requestId: res.headers["x-request-id"] as string | undefined }));
      })
      .on("error", reject);
  });
}

function sample(metrics: string, line: string): number {
  const found = metrics.split("\n").find((l) => l.startsWith(`${line} `));
  return found === undefined ? NaN : Number(found.slice(line.length + 1));
}

async function until(check: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("restitch serve: logs and metrics", () => {
  it("--workers 2: JSON records from both workers on stdout, /metrics aggregated across them", async () => {
    const s = await serve(["--workers", "2", "--log-format", "json"]);
    const N = 20;
    const ids = new Set<string>();
    for (let i = 0; i < N; i++) {
      const r = await get(`${s.url}/app/obscli-abcde/endpoint/hello`);
      expect(r.status).toBe(200);
      ids.add(r.requestId!);
    }
    const records = () =>
      s
        .stdout()
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as { pid: number; requestId?: string; console?: string[]; route?: string });
    await until(() => records().filter((r) => r.route === "/hello").length >= N);
    const hello = records().filter((r) => r.route === "/hello");
    expect(new Set(hello.map((r) => r.requestId))).toEqual(ids);
    expect(new Set(hello.map((r) => r.pid)).size).toBe(2); // both workers served and logged
    expect(hello.every((r) => r.console?.[0] === "said hello")).toBe(true);
    // Every stdout line is whole: the listening line, then JSON records.
    for (const line of s.stdout().split("\n").filter(Boolean)) if (!line.startsWith("restitch: ")) expect(() => JSON.parse(line)).not.toThrow();

    // Several scrapes, each on a new connection (so by both workers): each reports the whole server.
    for (let i = 0; i < 4; i++) {
      const m = await get(`${s.url}/metrics`);
      expect(m.status).toBe(200);
      expect(sample(m.body, 'restitch_http_requests_total{app="obscli-abcde",route="/hello",method="GET",status="200"}')).toBe(N);
      expect(sample(m.body, 'restitch_function_runs_total{app="obscli-abcde",function="hello",outcome="ok"}')).toBe(N);
      expect(sample(m.body, 'restitch_http_request_duration_seconds_count{app="obscli-abcde",route="/hello",method="GET"}')).toBe(N);
      expect(sample(m.body, "restitch_workers")).toBe(2);
      expect(sample(m.body, "restitch_worker_restarts_total")).toBe(0);
      const isolates = sample(m.body, 'restitch_pool_isolates{app="obscli-abcde"}');
      expect(isolates).toBeGreaterThanOrEqual(2);
      // What an isolate that served a few calls holds: a few MB (bson's 17 MB buffer waits for BSON.serialize).
      const perIsolate = sample(m.body, 'restitch_pool_heap_bytes{app="obscli-abcde"}') / isolates;
      expect(perIsolate).toBeGreaterThan(1 << 20);
      expect(perIsolate).toBeLessThan(15 << 20);
      expect(m.body).toContain("process_resident_memory_bytes");
    }
    const ready = await get(`${s.url}/readyz`);
    expect(ready.status).toBe(200);

    // Worker lifecycle comes from the supervisor: a killed worker counts as a restart once replaced.
    const pids = [...new Set(hello.map((r) => r.pid))];
    process.kill(pids[0]!, "SIGKILL");
    let after = "";
    for (const end = Date.now() + 15_000; Date.now() < end; await new Promise((r) => setTimeout(r, 200))) {
      after = (await get(`${s.url}/metrics`)).body;
      if (sample(after, "restitch_worker_restarts_total") === 1 && sample(after, "restitch_workers") === 2) break;
    }
    expect(sample(after, "restitch_worker_restarts_total")).toBe(1);
    expect(sample(after, "restitch_workers")).toBe(2);
  }, 60_000);

  it("--log-level silent writes no records; a bad --log-format or --log-level is a usage error", async () => {
    const s = await serve(["--workers", "0", "--log-level", "silent"]);
    expect((await get(`${s.url}/app/obscli-abcde/endpoint/hello`)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 200));
    expect(s.stdout().split("\n").filter((l) => l.startsWith("{"))).toEqual([]);

    for (const [flag, value] of [
      ["--log-format", "xml"],
      ["--log-level", "loud"],
    ] as const) {
      const r = await runNode([BIN, "serve", dir, flag, value]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`${flag} must be one of`);
    }
  });
});
