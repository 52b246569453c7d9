import { execFileSync } from "node:child_process";
import { afterAll, describe, expect, it, vi } from "vitest";
import { appWith, countLoopTurns, run } from "./helpers.js";

const echoClient = `(function (invoke) { return { ping: (...a) => invoke("ping", a) }; })`;
const slowEcho = { type: "echo", invoke: () => new Promise((r) => setTimeout(() => r("late"), 50)) };
const fastEcho = { type: "echo", invoke: async () => "pong" };

const { runtime, app } = appWith(
  {
    ok: "exports = () => 'still fine';",
    spin: "exports = () => { while (true) {} };",
    spinAfterAwait: "exports = async () => { await context.services.get('echo').ping(); while (true) {} };",
    neverSettles: "exports = () => new Promise(() => {});",
    awaitLoop: "exports = async () => { while (true) { await null; } };",
    hostLoop: "exports = async () => { let n = 0; while (true) { await context.services.get('echo').ping(n++); } };",
    burstOfCalls: "exports = () => { const c = context.services.get('echo'); const ps = []; for (let i = 0; i < 50; i++) ps.push(c.ping(i)); return Promise.all(ps); };",
    memoryBomb: "exports = () => { const keep = []; while (true) keep.push(new Array(100000).fill(Math.random())); };",
    swallowingBomb: "exports = () => { const keep = []; while (true) { try { keep.push('x'.repeat(1e6) + Math.random()); } catch (e) {} } };",
    bigResult: "exports = () => 'x'.repeat(2000);",
    cyclic: "exports = () => { const a = {}; a.self = a; return a; };",
    unhandled: "exports = () => { Promise.reject(new Error('nobody listens')); return 'fine'; };",
    leaveTimer: "exports = () => { setTimeout(() => console.log('leaked'), 1); return 'returned'; };",
    leaveHostCall: "exports = () => { context.services.get('echo').ping().then(() => { globalThis.touched = true; console.log('late'); }); return 'returned'; };",
    sawLeftovers: "exports = () => typeof touched;",
    setGlobal: "exports = () => { globalThis.secret = 'from call 1'; try { leaked = 1; } catch (e) {} return 'set'; };",
    readGlobal: "exports = () => [typeof globalThis.secret, typeof leaked];",
    regexLeak: "exports = (secret) => { /(\\w+)@example/.test(secret + '@example'); return 'matched'; };",
    regexRead: "exports = () => [typeof RegExp.$1 === 'string' ? RegExp.$1 : null, typeof RegExp.lastMatch === 'string' ? RegExp.lastMatch : null];",
    patchProto: "exports = () => { try { Array.prototype.map = () => 'pwned'; } catch (e) {} try { Object.prototype.polluted = 1; } catch (e) {} try { JSON.parse = () => 'pwned'; } catch (e) {} return [1].map((x) => x); };",
    checkProto: "exports = () => [[1].map((x) => x + 1), 'polluted' in {}, JSON.parse('1')];",
    overrideOk: "exports = () => { function P() {} P.prototype.toString = function () { return 'custom'; }; const o = {}; o.toString = () => 'own'; return [String(new P()), o.toString()]; };",
    wasm: "exports = () => typeof WebAssembly;",
    twentyMegabytes: "exports = () => new Uint8Array(20 * 1024 * 1024).length;",
    bsonRoundTrip: "exports = () => { const b = BSON.serialize({ s: 'x'.repeat(100) }); return [b.length, BSON.deserialize(b).s.length]; };",
  },
  { serviceClients: { echo: echoClient }, limits: { wallTimeMs: 2_000, cpuTimeMs: 1_000, memoryMb: 32 } },
);

afterAll(() => runtime.close());

async function stillServes() {
  const r = await run(app, "ok");
  expect(r.value).toBe("still fine");
}

describe("limits: each one broken on purpose ends the call with a typed error; the app goes on", () => {
  it("CPU budget: an endless synchronous loop", async () => {
    const r = await run(app, "spin", [], { limits: { cpuTimeMs: 150 } });
    expect(r.error?.kind).toBe("cpu");
    expect(r.wallTimeMs).toBeLessThan(1_500);
    await stillServes();
  });
  it("CPU budget: an endless loop after an await (asynchronous slice)", async () => {
    const r = await run(app, "spinAfterAwait", [], { limits: { cpuTimeMs: 150 }, bridge: { services: { echo: fastEcho } } });
    expect(r.error?.kind).toBe("cpu");
    await stillServes();
  });
  it("wall-clock deadline: a promise that never settles", async () => {
    const r = await run(app, "neverSettles", [], { limits: { wallTimeMs: 200 } });
    expect(r.error).toMatchObject({ kind: "timeout", name: "ExecutionTimeLimitExceeded" });
    await stillServes();
  });
  it("wall-clock deadline: an endless await loop", async () => {
    const r = await run(app, "awaitLoop", [], { limits: { wallTimeMs: 300, cpuTimeMs: 5_000 } });
    expect(["timeout", "cpu"]).toContain(r.error?.kind);
    expect(r.wallTimeMs).toBeLessThan(2_000);
    await stillServes();
  });
  it("wall-clock deadline: endless host calls, each fast", async () => {
    const r = await run(app, "hostLoop", [], { limits: { wallTimeMs: 300, maxHostCalls: 1e9 }, bridge: { services: { echo: fastEcho } } });
    expect(r.error?.kind).toBe("timeout");
    await stillServes();
  });
  it("host-call bound: total host calls per call", async () => {
    const r = await run(app, "hostLoop", [], { limits: { maxHostCalls: 20 }, bridge: { services: { echo: fastEcho } } });
    expect(r.error?.kind).toBe("host-calls");
    expect(r.error?.message).toMatch(/too many host calls \(limit 20\)/);
    await stillServes();
  });
  it("host-call bound: pending host calls at once (App Services' async work queue)", async () => {
    const r = await run(app, "burstOfCalls", [], { limits: { maxPendingHostCalls: 10 }, bridge: { services: { echo: slowEcho } } });
    expect(r.error).toMatchObject({ kind: "host-calls", message: "exceeded max async work queue size of 10" });
    await stillServes();
  });
  it("heap limit: a memory bomb", async () => {
    const r = await run(app, "memoryBomb");
    expect(r.error?.kind).toBe("memory");
    await stillServes();
  });
  it("heap limit: a bomb that swallows allocation failures still ends", async () => {
    const r = await run(app, "swallowingBomb", [], { limits: { cpuTimeMs: 500 } });
    expect(["memory", "cpu"]).toContain(r.error?.kind);
    await stillServes();
  });
  it("heap limit per call: a call may ask for a smaller heap and gets an isolate of its own", async () => {
    const small = await run(app, "memoryBomb", [], { limits: { memoryMb: 40 } });
    expect(small.error?.kind).toBe("memory");
    expect(small.error?.message).toBe("memory limit exceeded (40 MB)");
    expect((await run(app, "ok", [], { limits: { memoryMb: 8 } })).error?.message).toMatch(/limits.memoryMb must be at least 32/);
    await stillServes();
  });
  it("heap limit: the whole limit is the tenant's (bson's 17 MB serialization buffer waits for a call that serializes)", async () => {
    // With the buffer allocated as bson loads, 17 of these 32 MB were gone before tenant code ran.
    expect(await run(app, "twentyMegabytes")).toMatchObject({ ok: true, value: 20 * 1024 * 1024 });
    expect(await run(app, "bsonRoundTrip")).toMatchObject({ ok: true, value: [113, 100] });
  });
  it("returned value size", async () => {
    const r = await run(app, "bigResult", [], { limits: { maxResultBytes: 1000 } });
    expect(r.error?.kind).toBe("result-size");
    expect((await run(app, "bigResult")).ok).toBe(true);
  });
  it("an unserializable result (a cycle) is a typed error, not a crash", async () => {
    expect((await run(app, "cyclic")).error?.kind).toBe("unserializable");
  });
  it("limits are validated", async () => {
    const r = await run(app, "ok", [], { limits: { cpuTimeMs: -1 } });
    expect(r.error?.message).toMatch(/limits.cpuTimeMs must be a positive number/);
  });
  it("other apps' calls are unaffected while one app breaks its limits", async () => {
    const other = runtime.app({ id: "other", functions: { f: { source: "exports = () => 'other ok'" } } });
    const [bad, good] = await Promise.all([run(app, "spin", [], { limits: { cpuTimeMs: 300 } }), other.call({ functionName: "f" })]);
    expect(bad.error?.kind).toBe("cpu");
    expect(good.value).toBe("other ok");
  });
});

describe("state never leaks from one call to the next", () => {
  it("a global written by one call is invisible to the next", async () => {
    expect((await run(app, "setGlobal")).value).toBe("set");
    expect((await run(app, "readGlobal")).value).toEqual(["undefined", "undefined"]);
  });
  it("RegExp's legacy statics do not carry one call's last match into the next", async () => {
    expect((await run(app, "regexLeak", ["alice-secret"])).value).toBe("matched");
    expect((await run(app, "regexRead")).value).toEqual([null, null]);
  });
  it("shared intrinsics cannot be patched for later calls", async () => {
    expect((await run(app, "patchProto")).value).toEqual([1]);
    expect((await run(app, "checkProto")).value).toEqual([[2], false, 1]);
  });
  it("ordinary code that overrides toString on its own objects still works", async () => {
    expect((await run(app, "overrideOk")).value).toEqual(["custom", "own"]);
  });
  it("timers and host calls left running by a finished call cannot touch a later call", async () => {
    const first = await run(app, "leaveHostCall", [], { bridge: { services: { echo: slowEcho } } });
    expect(first.value).toBe("returned");
    const timer = await run(app, "leaveTimer");
    expect(timer.logs).toEqual([]);
    await new Promise((r) => setTimeout(r, 100));
    const later = await run(app, "sawLeftovers");
    expect(later.value).toBe("undefined");
    expect(later.logs).toEqual([]);
  });
  it("an unhandled rejection is the tenant's bug: logged, the call and the isolate go on", async () => {
    const r = await run(app, "unhandled");
    expect(r.value).toBe("fine");
    expect(r.logs).toEqual(["Unhandled promise rejection: nobody listens"]);
    await stillServes();
  });
  it("WebAssembly is not available (its memory escapes the heap limit)", async () => {
    expect((await run(app, "wasm")).value).toBe("undefined");
  });
  it("a host run with --expose-gc gives tenant code no gc()", async () => {
    // V8 flags reach every isolate: the host's --expose-gc would install gc() in each realm too.
    const script = `
      const { createRuntime } = await import(${JSON.stringify(new URL("../dist/index.js", import.meta.url).href)});
      const rt = createRuntime();
      const r = await rt.app({ id: "gc-abcde", functions: { f: { source: "exports = () => typeof gc + ' ' + typeof globalThis.gc;" } } }).call({ functionName: "f", args: [] });
      console.log(typeof gc, r.ok ? r.value : r.error.message);
      await rt.close();`;
    const out = execFileSync(process.execPath, ["--no-node-snapshot", "--expose-gc", "--input-type=module", "-e", script], { encoding: "utf8" });
    expect(out.trim()).toBe("function undefined undefined");
  });
});

describe("the pool", () => {
  it("bounds concurrency and queue, answering `overloaded` beyond them", async () => {
    const { runtime: rt, app: small } = appWith({ slow: "exports = () => new Promise((r) => setTimeout(() => r('done'), 100));" }, { pool: { maxIsolates: 1, maxQueue: 1 } });
    const results = await Promise.all([run(small, "slow"), run(small, "slow"), run(small, "slow")]);
    expect(results.map((r) => (r.ok ? r.value : r.error?.kind))).toEqual(["done", "done", "overloaded"]);
    expect(small.stats()).toMatchObject({ isolates: 1, queued: 0 });
    await rt.close();
  });
  it("isolates boot off the event loop: other work keeps its turns while a first call, or the call after a memory-limit kill, waits for one", async () => {
    const { runtime: rt, app } = appWith(
      { one: "exports = () => 1;", bomb: "exports = () => { const keep = []; for (;;) keep.push(new Array(100000).fill(1)); };" },
      { pool: { warmIsolates: 0, maxIsolates: 1 } },
    );
    /** Event-loop turns that ran while `work` was pending (a boot on the event loop would allow none). */
    const turnsDuring = async (work: () => Promise<unknown>) => {
      const loop = countLoopTurns();
      await work();
      loop.stop();
      return loop.turns();
    };
    expect(await turnsDuring(async () => expect((await run(app, "one")).value).toBe(1))).toBeGreaterThanOrEqual(2);
    // Past the app's probation (three quick calls), a warm isolate answers within its first slice: no turn passes.
    for (let i = 0; i < 2; i++) expect((await run(app, "one")).value).toBe(1);
    expect(await turnsDuring(async () => expect((await run(app, "one")).value).toBe(1))).toBe(0);
    expect((await run(app, "bomb")).error?.kind).toBe("memory");
    expect(await turnsDuring(async () => expect((await run(app, "one")).value).toBe(1))).toBeGreaterThanOrEqual(2);
    await rt.close();
  });
  it("a warm isolate counts as idle once booted (ready()), and the first call takes it", async () => {
    const { runtime: rt, app } = appWith({ one: "exports = () => 1;" });
    await app.ready();
    expect(app.stats()).toMatchObject({ isolates: 1, busy: 0 });
    expect((await run(app, "one")).value).toBe(1);
    expect(app.stats()).toMatchObject({ isolates: 1, busy: 0 });
    await rt.close();
  });
  it("runs calls of one app concurrently up to maxIsolates", async () => {
    const { runtime: rt, app: wide } = appWith({ slow: "exports = () => new Promise((r) => setTimeout(() => r('done'), 500));" }, { pool: { maxIsolates: 4 } });
    const calls = Promise.all([1, 2, 3, 4].map(() => run(wide, "slow")));
    // Isolates boot off the event loop: wait until all four calls run.
    await vi.waitFor(() => expect(wide.stats()).toMatchObject({ isolates: 4, busy: 4, queued: 0 }), { timeout: 5000, interval: 5 });
    expect((await calls).every((r) => r.value === "done")).toBe(true);
    await rt.close();
  });
  it("continuations run on the calling thread until one runs long; then the app's go to isolated-vm's threads", async () => {
    const { runtime: rt, app: a } = appWith(
      {
        quick: "exports = async () => (await context.services.get('echo').ping()) + '!';",
        heavy: "exports = async () => { await context.services.get('echo').ping(); const end = Date.now() + 60; while (Date.now() < end) {} return 'done'; };",
      },
      { serviceClients: { echo: echoClient } },
    );
    const bridge = { services: { echo: fastEcho } };
    expect((await run(a, "quick", [], { bridge })).value).toBe("pong!");
    expect(a.stats().asyncContinuations).toBe(false);
    expect((await run(a, "heavy", [], { bridge })).value).toBe("done");
    expect(a.stats().asyncContinuations).toBe(true);
    expect((await run(a, "quick", [], { bridge })).value).toBe("pong!"); // still correct on the other path
    await rt.close();
    const { runtime: rt2, app: b } = appWith({ f: "exports = () => 1" }, { pool: { asyncContinuations: true } });
    expect(b.stats().asyncContinuations).toBe(true);
    await rt2.close();
  });
  it("a continuation that runs into its CPU limit also moves the app's continuations off the event loop", async () => {
    const { runtime: rt, app: a } = appWith({ spinAfterAwait: "exports = async () => { await context.services.get('echo').ping(); while (true) {} };" }, { serviceClients: { echo: echoClient } });
    const r = await run(a, "spinAfterAwait", [], { limits: { cpuTimeMs: 100 }, bridge: { services: { echo: fastEcho } } });
    expect(r.error?.kind).toBe("cpu");
    // Without the switch every such call would hold the event loop for its whole CPU budget.
    expect(a.stats().asyncContinuations).toBe(true);
    await rt.close();
  });
  it.runIf(process.platform === "linux")("calls running on isolated-vm's threads run at a lower priority than the event loop (threadNice)", async () => {
    const { readdirSync, readFileSync } = await import("node:fs");
    const { getPriority } = await import("node:os");
    const nices = () => {
      const main = readFileSync(`/proc/self/task/${process.pid}/comm`, "utf8");
      return readdirSync("/proc/self/task")
        .filter((t) => Number(t) !== process.pid && readFileSync(`/proc/self/task/${t}/comm`, "utf8") === main)
        .map((t) => getPriority(Number(t)));
    };
    const { runtime: rt, app: a } = appWith({ spin: "exports = () => { while (true) {} };" }); // default threadNice: 10
    const spinning = run(a, "spin", [], { limits: { cpuTimeMs: 400 } }); // moves to a thread after its first 20 ms
    await new Promise((r) => setTimeout(r, 150));
    expect(nices()).toContain(10);
    expect(getPriority(process.pid)).toBe(0); // the event loop's own thread is untouched
    expect((await spinning).error?.kind).toBe("cpu");
    await rt.close();
  });
  it("update() swaps the code; close() refuses further calls", async () => {
    const { runtime: rt, app: a } = appWith({ f: "exports = () => 1" });
    expect((await run(a, "f")).value).toBe(1);
    a.update({ id: "test-app", functions: { f: { source: "exports = () => 2" } } });
    expect((await run(a, "f")).value).toBe(2);
    await a.close();
    expect((await run(a, "f")).error?.kind).toBe("closed");
    await rt.close();
  });
});
