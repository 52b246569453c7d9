/**
 * Exhaustion: hostile functions that try to take the server's CPU, memory, event loop or host calls. Each
 * ends with its typed error within the suite's tight limits (harness.ts SUITE_LIMITS), and the victim
 * app keeps answering, during the attack where it matters and after every case.
 */
import { describe, expect } from "vitest";
import { defineCases, expectError, expectMemoryOrTime, expectValue, hostileSuite, SUITE_DATA_LIMITS, SUITE_LIMITS, TIME_LIMIT, type Case, type Harness, type Reply } from "./harness.js";

/** The victim answers while the hostile call is still running. */
async function victimAnswersDuring(h: Harness, route: string, init?: Parameters<Harness["hostile"]>[1]): Promise<Reply> {
  const attack = h.hostile(route, init);
  await new Promise((r) => setTimeout(r, 50));
  const started = performance.now();
  const victim = await h.victimState();
  const victimMs = performance.now() - started;
  const r = await attack;
  expect(victim.status).toBe(200);
  // The hostile call is still running (it takes its whole budget); the victim did not wait for it.
  expect(victimMs).toBeLessThan(r.ms);
  return r;
}

const store = `context.services.get("mongodb-atlas").db("hostile").collection("things")`;

/**
 * An aggregation-expression bomb run by the embedded store: `?bomb=1` runs it and returns the error it
 * got; without, the function reads its document through the same kind of operation (which also starts
 * the store's evaluator process, so the bomb's call has only the bomb's own time in it).
 */
function expressionBomb(run: string): string {
  return `exports = async function (request) {
    const c = ${store};
    await c.updateOne({ _id: "bomb" }, { $set: { n: 1 } }, { upsert: true });
    if (request.query.bomb === undefined) return c.find({ _id: "bomb", $expr: { $eq: ["$n", 1] } }).toArray();
    try {
      await ${run};
      return "finished";
    } catch (e) {
      return { name: e.name, code: e.code, message: e.message };
    }
  };`;
}

/** The bomb's error: the store's deadline, or (as its arrays grow) the heap of its evaluator process. */
function expectStoreLimit(r: Reply, kind: string): void {
  const ns = "hostile.things";
  expect(r.status, r.text).toBe(200);
  expect([
    { name: "DataServiceError", code: "MaxTimeMSExpired", message: `operation exceeded time limit: ${kind} on ${ns} ran longer than ${SUITE_DATA_LIMITS.operationTimeMs} ms (the embedded store's operationTimeMs)` },
    { name: "DataServiceError", code: "ExceededMemoryLimit", message: `operation exceeded memory limit: ${kind} on ${ns} needed more than ${SUITE_DATA_LIMITS.operationMemoryMb} MB (the embedded store's operationMemoryMb)` },
  ]).toContainEqual(r.json());
}

/** The bomb ends with the store's error within the store's limit, not the call's; the victim answers meanwhile and the attacker's store keeps working. */
async function checkExpressionBomb(r: Reply, h: Harness, route: string, kind: string): Promise<void> {
  expectValue(r, [{ _id: "bomb", n: 1 }]);
  const bomb = await victimAnswersDuring(h, route, { query: "bomb=1" });
  expectStoreLimit(bomb, kind);
  expect(bomb.ms).toBeLessThan(SUITE_LIMITS.wallTimeMs!);
  expectValue(await h.hostile(route), [{ _id: "bomb", n: 1 }]);
}

const cases: Case[] = [
  {
    title: "C148 an endless synchronous loop ends with ExecutionTimeLimitExceeded",
    source: `exports = function () { for (;;) {} };`,
    check: async (r) => expectError(r, 400, "ExecutionTimeLimitExceeded", TIME_LIMIT),
  },
  {
    title: "C148 a catastrophic regex inside the isolate is stopped by the CPU budget",
    source: `exports = function () { return /^(a|a)*\\1$/.test("a".repeat(40) + "!"); };`,
    check: (r) => expectError(r, 400, "ExecutionTimeLimitExceeded", TIME_LIMIT),
  },
  {
    title: "an endless microtask chain is stopped by the CPU budget (or, as its promises pile up, the heap limit)",
    source: `exports = function () { const loop = () => Promise.resolve().then(loop); loop(); return new Promise(() => {}); };`,
    check: (r) => expectMemoryOrTime(r),
  },
  {
    title: "an endless await loop is stopped by the CPU budget or the wall clock",
    source: `exports = async function () { for (;;) await null; };`,
    check: (r) => expectError(r, 400, "ExecutionTimeLimitExceeded", TIME_LIMIT),
  },
  {
    title: "C148 a promise that never settles is stopped by the wall clock",
    source: `exports = function () { return new Promise(() => {}); };`,
    check: (r) => {
      expectError(r, 400, "ExecutionTimeLimitExceeded", TIME_LIMIT);
      expect(r.ms).toBeGreaterThanOrEqual(SUITE_LIMITS.wallTimeMs! - 50);
    },
  },
  {
    title: "an endless loop after an await (a continuation) is stopped; the victim answers meanwhile",
    source: `exports = async function () { await ${store}.findOne({}); for (;;) {} };`,
    check: async (r, h, route) => {
      expectError(r, 400, "ExecutionTimeLimitExceeded", TIME_LIMIT);
      expectError(await victimAnswersDuring(h, route), 400, "ExecutionTimeLimitExceeded", TIME_LIMIT);
    },
  },
  {
    title: "deep recursion is the tenant's RangeError, the isolate survives",
    source: `exports = function () { const f = (n) => f(n + 1) + 1; return f(0); };`,
    check: (r) => expectError(r, 400, "FunctionExecutionError", "Maximum call stack size exceeded"),
  },
  {
    title: "a memory bomb of arrays hits the heap limit",
    source: `exports = function () { const keep = []; for (;;) keep.push(new Array(100000).fill(Math.random())); };`,
    check: (r) => expectMemoryOrTime(r),
  },
  {
    title: "a memory bomb of strings hits the heap limit",
    source: `exports = function () { const keep = []; for (let i = 0; ; i++) keep.push("x".repeat(1 << 20) + i); };`,
    check: (r) => expectMemoryOrTime(r),
  },
  {
    title: "a string over V8's maximum length is the tenant's RangeError",
    source: `exports = function () { return "x".repeat(2 ** 30).length; };`,
    check: (r) => expectError(r, 400, "FunctionExecutionError", "Invalid string length"),
  },
  {
    title: "a typed array larger than the heap cannot be allocated",
    source: `exports = function () { try { return new Uint8Array(2 ** 31).length; } catch (e) { return e.name; } };`,
    check: (r) => expectValue(r, "RangeError"),
  },
  {
    title: "many typed arrays are counted against the heap limit: the allocator refuses them",
    source: `exports = function () { const keep = []; for (;;) keep.push(new Float64Array(1 << 20)); };`,
    check: (r) => expectMemoryOrTime(r, "Array buffer allocation failed"),
  },
  {
    title: "a huge return value is refused with ResultTooLarge's message",
    source: `exports = function () { return "x".repeat(2 * 1024 * 1024); };`,
    // Refused before its text is built (one uninterruptible builtin call for megabytes).
    check: (r) => expectError(r, 400, "FunctionExecutionError", `the function's return value holds a string of ${2 * 1024 * 1024} characters, over the limit of ${SUITE_LIMITS.maxResultBytes} bytes`),
  },
  {
    title: "toJSON that inflates a small value into a huge one is refused the same way",
    source: `exports = function () { return { toJSON() { return new Array(1000).fill("x".repeat(2000)); } }; };`,
    check: (r) => expectError(r, 400, "FunctionExecutionError", /^the function's return value is \d+ bytes, over the limit of 1048576$/),
  },
  {
    title: "a huge response body is refused like a huge result",
    source: `exports = function (request, response) { response.setBody("x".repeat(4 * 1024 * 1024)); };`,
    check: (r) => expectError(r, 400, "FunctionExecutionError", /^the response body is \d+ bytes, over the limit of 1048576$/),
  },
  {
    title: "huge logs are capped at maxLogBytes and the call still answers",
    source: `exports = function () { const line = "y".repeat(1000); for (let i = 0; i < 5000; i++) console.log(line); return "logged"; };`,
    check: (r, h) => {
      expectValue(r, "logged");
      const [entry] = h.calls();
      const bytes = entry!.logs.reduce((n, l) => n + l.length, 0);
      expect(bytes).toBeLessThanOrEqual(SUITE_LIMITS.maxLogBytes!);
      expect(entry!.logs.length).toBe(16);
    },
  },
  {
    title: "a huge thrown message is clipped before it reaches the host and the caller (C63)",
    source: `exports = function () { const e = new Error("m".repeat(8e6)); e.name = "n".repeat(8e6); throw e; };`,
    check: (r, h) => {
      expectError(r, 400, "FunctionExecutionError", `${"m".repeat(16 * 1024)}… (${8e6 - 16 * 1024} more characters)`);
      expect(r.text.length).toBeLessThan(17 * 1024);
      const [entry] = h.calls();
      expect(entry!.error!.stack!.length).toBeLessThan(17 * 1024);
    },
  },
  {
    title: "a huge thrown string is clipped the same way",
    source: `exports = async function () { await null; throw "s".repeat(8e6); };`,
    check: (r) => expectError(r, 400, "FunctionExecutionError", `${"s".repeat(16 * 1024)}… (${8e6 - 16 * 1024} more characters)`),
  },
  {
    title: "a flood of synchronous host calls hits maxHostCalls",
    source: `exports = function () { for (;;) context.values.get("greeting"); };`,
    check: (r) => expectError(r, 400, "FunctionExecutionError", `too many host calls (limit ${SUITE_LIMITS.maxHostCalls})`),
  },
  {
    title: "a flood of parallel data calls hits maxHostCalls (or, once the app is heavy, the pending-call bound)",
    source: `exports = function () { const ps = []; for (let i = 0; i < 2000; i++) ps.push(${store}.findOne({ i })); return Promise.all(ps); };`,
    // Earlier cases of this suite's app make it heavy; a heavy app's host work waits for its turn, so its
    // queries are still pending when the 51st is asked for (runtime/src/heavy-lane.ts, HeavyHostWork).
    check: (r) =>
      expectError(
        r,
        400,
        "FunctionExecutionError",
        new RegExp(`^(too many host calls \\(limit ${SUITE_LIMITS.maxHostCalls}\\)|exceeded max async work queue size of ${SUITE_LIMITS.maxPendingHostCalls})$`),
      ),
  },
  {
    title: "a flood of long timers hits the pending-call bound (App Services' async work queue)",
    source: `exports = function () { for (let i = 0; i < 300; i++) setTimeout(() => {}, 10000); return new Promise((resolve) => setTimeout(resolve, 5000)); };`,
    check: (r) => expectError(r, 400, "FunctionExecutionError", `exceeded max async work queue size of ${SUITE_LIMITS.maxPendingHostCalls}`),
  },
  {
    title: "a sequential data-call loop ends at maxHostCalls",
    source: `exports = async function () { for (let i = 0; ; i++) await ${store}.findOne({ i }); };`,
    check: (r) => expectError(r, 400, "FunctionExecutionError", `too many host calls (limit ${SUITE_LIMITS.maxHostCalls})`),
  },
  {
    title: "recursive functions.execute stops at maxCallDepth (C78)",
    source: `exports = function () { return context.functions.execute("selfRecurse", 0); };`,
    functions: { selfRecurse: `exports = function (n) { return context.functions.execute("selfRecurse", n + 1); };` },
    check: (r) => expectError(r, 400, "FunctionExecutionError", `context.functions.execute nested deeper than ${SUITE_LIMITS.maxCallDepth}`),
  },
  {
    title: "mutually recursive async functions.execute stops at maxCallDepth (C79)",
    source: `exports = async function () { return context.functions.execute("pingPong", 0); };`,
    functions: { pingPong: { source: `exports = async function (n) { await null; return context.functions.execute("pingPong", n + 1); };`, private: true } },
    check: (r) => expectError(r, 400, "FunctionExecutionError", `context.functions.execute nested deeper than ${SUITE_LIMITS.maxCallDepth}`),
  },
  {
    title: "a catastrophic $regex run by the embedded store does not hold the server",
    source: `exports = async function () {
      const c = ${store};
      await c.insertOne({ _id: "redos", s: "a".repeat(40) + "!" });
      return c.find({ _id: "redos", s: { $regex: "^(a+)+$" } }).toArray();
    };`,
    check: async (r, h) => {
      expectValue(r, []);
      expect(r.ms).toBeLessThan(SUITE_LIMITS.wallTimeMs!);
      expect((await h.victimState()).status).toBe(200);
    },
  },
  {
    title: "a catastrophic $regex with a backreference is refused by the embedded store",
    source: `exports = async function () {
      const c = ${store};
      await c.insertOne({ _id: "redos2", s: "a".repeat(40) + "!" });
      return c.find({ s: { $regex: "^(a|a)*\\\\1$" } }).toArray();
    };`,
    check: (r) => expectError(r, 400, "FunctionExecutionError", /backreference/),
  },
  {
    title: "an aggregation expression bomb on the embedded store ($range in $project) ends at the store's limit; the victim answers meanwhile",
    source: expressionBomb(`c.aggregate([{ $match: { _id: "bomb" } }, { $project: { x: { $range: [0, 3e7] } } }]).toArray()`),
    check: (r, h, route) => checkExpressionBomb(r, h, route, "aggregate"),
  },
  {
    title: "a quadratic $reduce in a find's $expr ends at the store's limit; the victim answers meanwhile",
    source: expressionBomb(
      `c.find({ $expr: { $gt: [{ $size: { $reduce: { input: { $range: [0, 100000] }, initialValue: [], in: { $concatArrays: ["$$value", ["$$this"]] } } } }, 0] } }).toArray()`,
    ),
    check: (r, h, route) => checkExpressionBomb(r, h, route, "find"),
  },
  {
    title: "saturating the hostile app's isolate pool does not slow the victim (other apps unaffected)",
    source: `exports = function () { for (;;) {} };`,
    check: async (r, h, route) => {
      expectError(r, 400, "ExecutionTimeLimitExceeded", TIME_LIMIT);
      const attacks = Array.from({ length: 12 }, () => h.hostile(route));
      await new Promise((res) => setTimeout(res, 30));
      const started = performance.now();
      const victim = await h.victimState();
      const victimMs = performance.now() - started;
      const results = await Promise.all(attacks);
      expect(victim.status).toBe(200);
      for (const a of results) expectError(a, 400, "ExecutionTimeLimitExceeded", TIME_LIMIT);
      expect(victimMs).toBeLessThan(Math.max(...results.map((a) => a.ms)));
    },
  },
];

describe("exhaustion", () => {
  const h = hostileSuite("hostile-exhaustion", cases);
  defineCases(h, cases);
});
