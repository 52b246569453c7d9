import type { CallLogEntry } from "@restitch/router";
import { describe, expect, it } from "vitest";
import { createLogger, createRedactor, createServerMetrics, createSupervisorMetrics, formatPretty, healthProbes, logRecord, observe, recordLevel, recordMessage, recordWriter, REDACTED } from "../src/index.js";

const entry = (over: Partial<CallLogEntry> = {}): CallLogEntry => ({
  kind: "endpoint",
  requestId: "req-1",
  appId: "app-abcde",
  method: "GET",
  route: "/hello",
  path: "/app/app-abcde/endpoint/hello",
  status: 200,
  ms: 1.23456,
  functionName: "hello",
  runMs: 0.5,
  cpuMs: 0.25,
  hostCalls: 2,
  logs: [],
  logsDropped: 0,
  ...over,
});

describe("redaction", () => {
  const redact = createRedactor(["the-secret-value", "abc"]);
  it.each([
    ["value the-secret-value inside", `value ${REDACTED} inside`],
    ['{"password":"hunter2","user":"bob"}', `{"password":${REDACTED},"user":"bob"}`],
    ["{ password: 'hunter2', n: 1 }", `{ password: ${REDACTED}, n: 1 }`],
    ["apiKey=k-123&x=1", `apiKey=${REDACTED}&x=1`],
    ['"X-Api-Key":["k1", "k2"],"Accept":["*/*"]', `"X-Api-Key":${REDACTED},"Accept":["*/*"]`],
    ["Authorization: Basic dXNlcjpwYXNz", `Authorization: ${REDACTED}`],
    ["sent Bearer abc.def-ghi to it", `sent Bearer ${REDACTED} to it`],
    ["jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl end", `jwt ${REDACTED} end`],
    ["mongodb://bob:pw@db:27017/x", `mongodb://${REDACTED}@db:27017/x`],
    ["cookie=session-1; refresh_token=r-2", `cookie=${REDACTED}; refresh_token=${REDACTED}`],
  ])("%s", (input, output) => expect(redact(input)).toBe(output));

  it("leaves ordinary text alone (and short secrets are not scrubbed by value)", () => {
    for (const s of ["tokenCount: 5", "secretName: foo", "abc is too short to scrub", "GET /hello 200"]) expect(redact(s)).toBe(s);
  });
});

describe("log records", () => {
  const redact = createRedactor([]);
  it("maps a request entry to named fields, rounded durations, no empty fields", () => {
    expect(logRecord(entry(), redact)).toEqual({
      kind: "endpoint",
      requestId: "req-1",
      app: "app-abcde",
      method: "GET",
      route: "/hello",
      path: "/app/app-abcde/endpoint/hello",
      function: "hello",
      status: 200,
      durationMs: 1.235,
      runMs: 0.5,
      cpuMs: 0.25,
      hostCalls: 2,
    });
  });

  it("caps console output at whole lines and counts the rest, with the runtime's own drops", () => {
    const logs = Array.from({ length: 10 }, (_, i) => `${i}`.padEnd(100, "x"));
    const r = logRecord(entry({ logs, logsDropped: 3 }), redact, 350);
    expect(r.console).toEqual(logs.slice(0, 3));
    expect(r.consoleDropped).toBe(7 + 3);
    const long = logRecord(entry({ logs: ["y".repeat(5000)] }), redact);
    expect(long.console![0]).toMatch(/^y{1024}… \(3976 more characters\)$/);
  });

  it("levels: info, warn for refusals and failed runs, error for 5xx", () => {
    expect(recordLevel(entry())).toBe("info");
    expect(recordLevel(entry({ status: 404 }))).toBe("warn");
    expect(recordLevel(entry({ kind: "function", status: 0, error: { kind: "threw", name: "Error", message: "x" } }))).toBe("warn");
    expect(recordLevel(entry({ status: 500 }))).toBe("error");
  });

  it("nothing is built or written below the logger's level", () => {
    let written = "";
    const logger = createLogger({ format: "json", level: "warn", destination: { write: (l: string) => void (written += l) } });
    const o = observe({ logger, metrics: false });
    o.onCall(entry());
    expect(written).toBe("");
    o.onCall(entry({ status: 503 }));
    expect(JSON.parse(written)).toMatchObject({ level: "error", status: 503, msg: "GET /app/app-abcde/endpoint/hello 503 1.235ms" });
  });

  it("a record is the very line pino writes (keys, order, escaping, bindings), built without pino's serialiser", () => {
    const lines = (l: string) => l.split("\n").filter(Boolean);
    let viaPino = "";
    let direct = "";
    const tricky = entry({
      path: '/app/app-abcde/endpoint/a"b\\c\nd\u2028e\ud800',
      status: 500,
      logs: ["line \"one\"", "emoji 😀"],
      error: { kind: "threw", name: "Error", message: "bad\tthing", stack: "Error: bad\n    at f.js:1" },
    });
    const pinoLogger = createLogger({ format: "json", destination: { write: (l: string) => void (viaPino += l) } }).child({ worker: 2 });
    const directLogger = createLogger({ format: "json", destination: { write: (l: string) => void (direct += l) } }).child({ worker: 2 });
    const record = logRecord(tricky, createRedactor());
    pinoLogger.error(record, recordMessage(tricky));
    recordWriter(directLogger)("error", record, recordMessage(tricky));
    const [a, b] = [lines(viaPino), lines(direct)];
    expect(a).toHaveLength(1);
    expect(b).toHaveLength(1);
    const drop = (line: string) => line.replace(/"time":\d+/, '"time":0');
    expect(drop(b[0]!)).toBe(drop(a[0]!));
    expect(JSON.parse(b[0]!)).toMatchObject({ level: "error", worker: 2, path: tricky.path, console: tricky.logs });
  });

  it("pretty: one line with the message and short fields, then the stack and console lines indented", () => {
    const time = new Date(2026, 0, 2, 3, 4, 5, 678).getTime();
    const line = formatPretty({ level: "warn", time, msg: "GET /x 400 1ms", status: 400, app: "a", function: "f", console: ["hi"], error: { kind: "threw", stack: "Error: no\n    at f.js:1" } });
    expect(line).toBe("03:04:05.678 WARN  GET /x 400 1ms app=a fn=f\n  ! Error: no\n  !     at f.js:1\n  | hi\n");
  });
});

describe("metrics", () => {
  it("the supervisor sums every worker's registry and adds its own worker metrics", async () => {
    const workers = [createServerMetrics({ processMetrics: false }), createServerMetrics({ processMetrics: false })];
    workers[0]!.record(entry());
    workers[1]!.record(entry());
    workers[1]!.record(entry({ error: { kind: "timeout", name: "TimeoutError", message: "" }, status: 400 }));
    workers[0]!.watchPool("app-abcde", () => ({ isolates: 2, busy: 1, queued: 0, heapBytes: 10_000_000 }));
    workers[1]!.watchPool("app-abcde", () => ({ isolates: 3, busy: 0, queued: 4, heapBytes: 15_000_000 }));
    const sup = createSupervisorMetrics();
    sup.watchWorkers(() => 2);
    sup.onEvent({ type: "exit", pid: 1, code: null, signal: "SIGKILL", expected: false });
    sup.onEvent({ type: "recycle", pid: 2, reason: "served its call budget", cause: "calls" });
    const text = await sup.combine(await Promise.all(workers.map((w) => w.registry.getMetricsAsJSON())));
    expect(text).toContain('restitch_http_requests_total{app="app-abcde",route="/hello",method="GET",status="200"} 2');
    expect(text).toContain('restitch_function_runs_total{app="app-abcde",function="hello",outcome="timeout"} 1');
    expect(text).toContain('restitch_limit_hits_total{app="app-abcde",kind="timeout"} 1');
    // 1.23 ms each: le 0.0025 holds all three (cumulative), 0.001 none.
    const h = 'app="app-abcde",route="/hello",method="GET"';
    expect(text).toContain(`restitch_http_request_duration_seconds_bucket{le="0.001",${h}} 0`);
    expect(text).toContain(`restitch_http_request_duration_seconds_bucket{le="0.0025",${h}} 3`);
    expect(text).toContain(`restitch_http_request_duration_seconds_bucket{le="+Inf",${h}} 3`);
    expect(text).toContain(`restitch_http_request_duration_seconds_count{${h}} 3`);
    expect(text).toContain('restitch_pool_isolates{app="app-abcde"} 5');
    expect(text).toContain('restitch_pool_queued{app="app-abcde"} 4');
    expect(text).toContain('restitch_pool_heap_bytes{app="app-abcde"} 25000000');
    expect(text).toContain("restitch_workers 2");
    expect(text).toContain("restitch_worker_restarts_total 1");
    expect(text).toContain('restitch_worker_recycles_total{cause="calls"} 1');
    expect(text).toContain('restitch_worker_recycles_total{cause="memory"} 0');
  });

  it("edge limits and dropped console lines count as limit hits; a refused request is not a run", async () => {
    const m = createServerMetrics({ processMetrics: false });
    m.record(entry({ status: 413, errorCode: "RequestTooLarge", cpuMs: undefined, functionName: undefined }));
    m.record(entry({ logsDropped: 5 }));
    const text = await m.registry.metrics();
    expect(text).toContain('restitch_limit_hits_total{app="app-abcde",kind="request-body"} 1');
    expect(text).toContain('restitch_limit_hits_total{app="app-abcde",kind="console-bytes"} 1');
    expect(text).toContain('restitch_function_runs_total{app="app-abcde",function="hello",outcome="ok"} 1');
  });
});

describe("probes", () => {
  it("/readyz is 503 with each failing check's (redacted) reason; a check that hangs times out", async () => {
    const probes = healthProbes({
      redact: createRedactor([]),
      checkTimeoutMs: 50,
      readiness: [
        { name: "ok", check: () => {} },
        { name: "db", check: () => Promise.reject(new Error("cannot reach mongodb://u:p@h/")) },
        { name: "slow", check: () => new Promise(() => {}) },
      ],
    });
    const res = await probes["/readyz"]!();
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ status: "not ready", checks: { ok: "ok", db: `cannot reach mongodb://${REDACTED}@h/`, slow: "no answer within 50 ms" } });
    expect((await probes["/healthz"]!()).status).toBe(200);
    expect(probes["/metrics"]).toBeUndefined();
  });
});
