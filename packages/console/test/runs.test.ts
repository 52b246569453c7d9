import { describe, expect, it } from "vitest";
import type { CallLogEntry } from "@restitch/router";
import { acceptRuns, RunLog, RUN_LOG_BYTES, runReporter, summarizeCall, supervisorRelay, tokenChecker, tokenProblem, type RunReport, type RunsUpdate, type RunSummary } from "../src/index.js";

const summary = (route: string, logs: string[] = []): RunSummary => ({ at: 0, appId: "a", method: "GET", route, status: 200, ms: 1, logs });

describe("RunLog", () => {
  it("keeps at most maxRuns, newest first, and finds runs by id", () => {
    const log = new RunLog({ maxRuns: 3 });
    for (let i = 1; i <= 5; i++) log.add(summary(`/r${i}`));
    expect(log.list().map((r) => r.route)).toEqual(["/r5", "/r4", "/r3"]);
    expect(log.get(2)).toBeUndefined();
    expect(log.get(4)?.route).toBe("/r4");
    expect(log.latestId()).toBe(5);
    expect(log.size().runs).toBe(3);
  });

  it("keeps at most maxBytes (but always the newest run)", () => {
    const log = new RunLog({ maxBytes: 2_000 });
    for (let i = 0; i < 10; i++) log.add(summary(`/r${i}`, ["x".repeat(500)]));
    expect(log.size().bytes).toBeLessThanOrEqual(2_000);
    expect(log.size().runs).toBe(3);
    const huge = new RunLog({ maxBytes: 100 });
    huge.add(summary("/big", ["y".repeat(1_000)]));
    expect(huge.list().map((r) => r.route)).toEqual(["/big"]);
  });

  it("filters by id (polling) and app, and stays correct across many evictions", () => {
    const log = new RunLog({ maxRuns: 10 });
    for (let i = 1; i <= 5_000; i++) log.add({ ...summary(`/r${i}`), appId: i % 2 ? "odd" : "even" });
    expect(log.list({ after: 4_997 }).map((r) => r.id)).toEqual([5_000, 4_999, 4_998]);
    expect(log.list({ appId: "odd", limit: 2 }).map((r) => r.id)).toEqual([4_999, 4_997]);
    expect(log.get(4_991)?.id).toBe(4_991);
    expect(log.get(4_990)).toBeUndefined();
  });

  it("takes runs numbered elsewhere in order and ignores older ones", () => {
    const log = new RunLog();
    log.insert({ id: 7, ...summary("/seven") });
    log.insert({ id: 3, ...summary("/three") });
    expect(log.list().map((r) => r.id)).toEqual([7]);
    expect(log.add(summary("/next")).id).toBe(8);
  });
});

describe("summarizeCall", () => {
  const entry: CallLogEntry = {
    appId: "app",
    method: "POST",
    route: "/x",
    status: 500,
    ms: 1.23456,
    logs: ["one", "two"],
    error: { kind: "threw", name: "Error", message: "boom", stack: "Error: boom\n    at exports (functions/x.js:1:7)" },
  };

  it("keeps kind, name and message of an error, never its stack", () => {
    const run = summarizeCall(entry, 42)!;
    expect(run).toMatchObject({ appId: "app", method: "POST", route: "/x", status: 500, ms: 1.235, logs: ["one", "two"], worker: 42 });
    expect(run.error).toEqual({ kind: "threw", name: "Error", message: "boom" });
    expect(JSON.stringify(run)).not.toContain("functions/x.js");
  });

  it("keeps other scalar fields the server reports, drops objects and secret-looking names", () => {
    const run = summarizeCall({ ...entry, requestId: "r-1", cpuTimeMs: 0.5, user: { id: "u" }, apiToken: "t0ps3cret" } as CallLogEntry)!;
    expect(run.details).toEqual({ requestId: "r-1", cpuTimeMs: 0.5 });
  });

  it("is no run for a request that named no app (e.g. the console's own, when every request is recorded)", () => {
    expect(summarizeCall({ ...entry, appId: "", route: "/_restitch/*" })).toBeUndefined();
  });

  it(`keeps at most ${RUN_LOG_BYTES} bytes of logs and says how many lines were left out`, () => {
    const line = "z".repeat(1_000);
    const run = summarizeCall({ ...entry, logs: Array.from({ length: 40 }, () => line) })!;
    expect(run.logs.join("\n").length).toBeLessThanOrEqual(RUN_LOG_BYTES);
    expect(run.logs.length + run.logsOmitted!).toBe(40);
  });
});

describe("the supervisor relay", () => {
  it("numbers each worker's runs once, in the order they finished, and gives every worker the same runs, a new one the whole log", async () => {
    const sent: RunsUpdate[] = [];
    const relay = supervisorRelay(new RunLog(), (m) => sent.push(m));
    const at = (route: string, t: number) => ({ ...summary(route), at: t });
    relay.onMessage({ console: "run", runs: [at("/a", 10), at("/c", 30)] }); // worker 1
    relay.onMessage({ console: "run", runs: [at("/b", 20)] }); // worker 2, its batch later
    relay.onMessage({ something: "else" });
    expect(sent).toEqual([]);
    await new Promise((r) => setTimeout(r, 80));
    expect(sent.map((m) => m.runs.map((r) => [r.id, r.route]))).toEqual([[[1, "/a"], [2, "/b"], [3, "/c"]]]);
    const worker = new RunLog();
    acceptRuns(worker, relay.snapshot());
    for (const m of sent) acceptRuns(worker, m); // a broadcast already in the snapshot is ignored
    expect(worker.list().map((r) => r.route)).toEqual(["/c", "/b", "/a"]);
  });

  it("batches a worker's reports: one message per 50 ms, at most 200 runs each", async () => {
    const sent: RunReport[] = [];
    const reporter = runReporter(async (m) => void sent.push(m));
    for (let i = 0; i < 450; i++) reporter.report(summary(`/r${i}`));
    expect(sent.map((m) => m.runs.length)).toEqual([200, 200]);
    await new Promise((r) => setTimeout(r, 80));
    expect(sent.map((m) => m.runs.length)).toEqual([200, 200, 50]);
    expect(sent.flatMap((m) => m.runs).map((r) => r.route).slice(-2)).toEqual(["/r448", "/r449"]);
    reporter.report(summary("/last"));
    await reporter.flush(); // a worker about to exit sends what is pending at once
    expect(sent.at(-1)!.runs.map((r) => r.route)).toEqual(["/last"]);
  });
});

describe("the token", () => {
  it("is checked exactly, whatever the length presented", () => {
    const ok = tokenChecker("correct-horse-battery");
    expect(ok("correct-horse-battery")).toBe(true);
    expect(ok("correct-horse-batter")).toBe(false);
    expect(ok("")).toBe(false);
    expect(ok(undefined)).toBe(false);
  });

  it("refuses short tokens and characters that need escaping, naming where the token came from", () => {
    expect(tokenProblem("short", "--console-token")).toMatch(/--console-token must be at least 16/);
    expect(tokenProblem("a;b=c d".padEnd(20, "x"), "RESTITCH_CONSOLE_TOKEN")).toMatch(/RESTITCH_CONSOLE_TOKEN may contain only/);
    expect(tokenProblem("abcdefghijklmnop", "x")).toBeUndefined();
  });
});
