import { createRuntime, type AppRuntime, type Runtime } from "@restitch/runtime";
import { afterEach, describe, expect, it } from "vitest";
import { HeavyHostWork, HeavyLane } from "../src/heavy-lane.js";
import { countLoopTurns } from "./helpers.js";

const tick = () => new Promise((r) => setImmediate(r));

describe("HeavyLane", () => {
  it("runs at most `slots` slices at once, taking the apps in turn and each app's slices in order", async () => {
    const lane = new HeavyLane(1);
    const order: string[] = [];
    const gates: (() => void)[] = [];
    const slice = (name: string) => () => {
      order.push(name);
      return new Promise<void>((resolve) => gates.push(resolve));
    };
    lane.enter("a", slice("a1"));
    lane.enter("a", slice("a2"));
    lane.enter("a", slice("a3"));
    lane.enter("b", slice("b1"));
    lane.enter("c", slice("c1"));
    expect(order).toEqual(["a1"]);
    expect(lane.waiting).toBe(4);
    expect([lane.holds("a"), lane.holds("c"), lane.holds("z")]).toEqual([true, true, false]);
    for (let i = 0; i < 4; i++) {
      gates.shift()!();
      await tick();
    }
    // a1 ran at once; a2 was waiting before b1 and c1 arrived, but a3 waits for their turns.
    expect(order).toEqual(["a1", "a2", "b1", "c1", "a3"]);
    // Nothing waits any more: a3 runs, and a running slice is no place in the queue.
    expect([lane.holds("a"), lane.holds("c"), lane.waiting]).toEqual([false, false, 0]);
    gates.shift()!();
    await tick();
  });

  it("a slice that throws or rejects frees its slot", async () => {
    const lane = new HeavyLane(1);
    const ran: string[] = [];
    lane.enter("a", () => {
      throw new Error("boom");
    });
    lane.enter("a", () => Promise.reject(new Error("no")));
    lane.enter("b", async () => void ran.push("b"));
    await tick();
    await tick();
    expect(ran).toEqual(["b"]);
    expect(lane.waiting).toBe(0);
  });

  it("refuses a slot count that is not a positive integer", () => {
    expect(() => new HeavyLane(0)).toThrow(/positive integer/);
  });
});

describe("HeavyHostWork", () => {
  it("runs work in app turns, at most its budget per turn of the event loop", async () => {
    let clock = 0; // each piece of work below "takes" its ms on this clock: no timing in the test
    const work = new HeavyHostWork(5, () => clock);
    const done: string[] = [];
    const busy = (name: string, ms: number) => () => {
      clock += ms;
      done.push(name);
    };
    for (let i = 0; i < 4; i++) work.enter("flood", busy(`f${i}`, 3));
    work.enter("quiet", busy("q", 0));
    expect(done).toEqual([]); // never within the caller's turn
    await tick();
    // One turn: f0 (3 ms), q, f1 (3 ms) reach the 5 ms budget; the rest waits for the next turn.
    expect(done).toEqual(["f0", "q", "f1"]);
    await tick();
    expect(done).toEqual(["f0", "q", "f1", "f2", "f3"]);
  });
});

describe("heavy apps in a runtime serving several apps", () => {
  let runtime: Runtime | undefined;
  afterEach(async () => {
    await runtime?.close();
    runtime = undefined;
  });

  // Work counted in loop iterations, not time: a loaded machine stretches the wall clock, not the CPU.
  const burn = `exports = function (n) { let x = 0; for (let i = 0; i < n; i++) x = (x * 31 + i) | 0; return x; };`;
  const LONG = 300_000_000; // well over 100 ms of CPU
  const apps = (heavyThreads: number, ids: string[]) => {
    runtime = createRuntime({ pool: { heavyThreads } });
    return ids.map((id) => runtime!.app({ id, functions: { burn: { source: burn } } }));
  };
  const call = (app: AppRuntime, n: number) => app.call({ functionName: "burn", args: [n] });

  it("two long calls make an app heavy; its calls then share the lane's thread while a quick app never waits", async () => {
    const [hog, quick] = apps(1, ["hog", "quick"]);
    expect((await call(hog!, LONG)).ok).toBe(true);
    expect(hog!.stats().heavy).toBe(false); // one long call is not enough (a GC pause can look like one)
    expect((await call(hog!, LONG)).ok).toBe(true);
    expect(hog!.stats().heavy).toBe(true);

    const started = performance.now();
    const hogCalls = [call(hog!, LONG), call(hog!, LONG), call(hog!, LONG)].map((p) => p.then((r) => ({ r, at: performance.now() - started })));
    const quickResult = await call(quick!, 1);
    const quickAt = performance.now() - started;
    const hogs = await Promise.all(hogCalls);
    expect(quickResult.ok).toBe(true);
    expect(quick!.stats().heavy).toBe(false);
    // The quick app ran on the event loop at once, before any heavy call was through…
    expect(quickAt).toBeLessThan(Math.min(...hogs.map((h) => h.at)));
    // …and the heavy calls ran one after another on the lane's one thread: the last ends no sooner than
    // all their CPU time added up (on several threads at once it would, on two cores).
    const cpu = hogs.reduce((sum, h) => sum + h.r.cpuTimeMs, 0);
    expect(hogs.every((h) => h.r.ok)).toBe(true);
    expect(Math.max(...hogs.map((h) => h.at))).toBeGreaterThanOrEqual(0.95 * cpu);
  });

  it("after a first slice overran, the app's calls start off the event loop (not heavy: no lane waits)", async () => {
    const [slow, quick] = apps(1, ["slow", "quick"]);
    // Past their probation (an idle isolate, too: the next call starts without a hop).
    for (let i = 0; i < 3; i++) for (const app of [slow!, quick!]) expect((await call(app, 1)).ok).toBe(true);
    // CPU of this thread spent inside call(), i.e. by the call's first slice if it runs here.
    const loopCpuMs = (start: () => Promise<unknown>) => {
      const before = process.threadCpuUsage();
      const pending = start();
      const after = process.threadCpuUsage(before);
      return { pending, ms: (after.user + after.system) / 1000 };
    };
    const first = loopCpuMs(() => call(slow!, LONG));
    expect(first.ms).toBeGreaterThanOrEqual(10); // the 20 ms first slice ran on this thread and overran
    expect((await first.pending as { ok: boolean }).ok).toBe(true);
    expect(slow!.stats()).toMatchObject({ startsOffLoop: true, heavy: false });
    expect(quick!.stats().startsOffLoop).toBe(false);
    const next = loopCpuMs(() => call(slow!, LONG));
    expect(next.ms).toBeLessThan(5);
    expect((await next.pending as { ok: boolean }).ok).toBe(true);
  });

  it("a new app's first calls start off the event loop until three of them were quick; an update puts it on probation again", async () => {
    const [fresh, other] = apps(1, ["fresh", "other"]);
    // CPU of this thread spent inside call(): a first slice run here would take its whole 20 ms budget.
    const loopCpuMs = async (app: AppRuntime) => {
      const before = process.threadCpuUsage();
      const pending = call(app, LONG);
      const after = process.threadCpuUsage(before);
      expect((await pending).ok).toBe(true);
      return (after.user + after.system) / 1000;
    };
    expect(fresh!.stats().startsOffLoop).toBe(true);
    expect(await loopCpuMs(fresh!)).toBeLessThan(5);
    for (let i = 0; i < 3; i++) expect((await call(fresh!, 1)).ok).toBe(true);
    expect(fresh!.stats().startsOffLoop).toBe(false);
    expect(other!.stats().startsOffLoop).toBe(true); // proven per app
    // An error thrown by the tenant counts as a quick call; a limit hit does not.
    const thrower = runtime!.app({ id: "thrower", functions: { boom: { source: "exports = () => { throw new Error('no'); };" } } });
    for (let i = 0; i < 3; i++) expect((await thrower.call({ functionName: "boom" })).error?.kind).toBe("threw");
    expect(thrower.stats().startsOffLoop).toBe(false);
    const limited = runtime!.app({ id: "limited", functions: { big: { source: "exports = () => 'x'.repeat(2e6);" } } });
    for (let i = 0; i < 3; i++) expect((await limited.call({ functionName: "big", limits: { maxResultBytes: 1000 } })).error?.kind).toBe("result-size");
    expect(limited.stats().startsOffLoop).toBe(true);
    fresh!.update({ id: "fresh", functions: { burn: { source: burn } } });
    expect(fresh!.stats().startsOffLoop).toBe(true);
    expect(await loopCpuMs(fresh!)).toBeLessThan(5);
  });

  it("a CPU limit hit makes its app heavy at once (no quick call hits one by accident); other apps stay quick", async () => {
    const [hog, quick] = apps(1, ["hog", "quick"]);
    const r = await hog!.call({ source: { source: "exports = () => { for (;;) {} };" }, limits: { cpuTimeMs: 60 } });
    expect(r.error?.kind).toBe("cpu");
    expect(hog!.stats().heavy).toBe(true);
    expect((await call(quick!, 1)).ok).toBe(true);
    expect(quick!.stats().heavy).toBe(false);
  });

  it("a runtime with one app keeps every thread for it: its app is never heavy", async () => {
    const [only] = apps(1, ["only"]);
    for (let i = 0; i < 3; i++) expect((await call(only!, LONG)).ok).toBe(true);
    expect(only!.stats().heavy).toBe(false);
  });

  it("heavyThreads 0 turns the lane off", async () => {
    const [hog] = apps(0, ["hog", "other"]);
    for (let i = 0; i < 3; i++) expect((await call(hog!, LONG)).ok).toBe(true);
    expect(hog!.stats().heavy).toBe(false);
  });
});

describe("host-call floods (spec 4: a tenant's quick host calls must not take the event loop)", () => {
  let runtime: Runtime | undefined;
  afterEach(async () => {
    await runtime?.close();
    runtime = undefined;
  });

  // Each op holds the event loop for `OP_MS` of wall time, like a store query that runs inline.
  const OP_MS = 1;
  const hold = () => {
    const until = performance.now() + OP_MS;
    while (performance.now() < until);
  };
  const client = `(function (invoke) { return { op: (...a) => invoke("op", a) }; })`;
  const flood = `exports = async (n) => { const s = context.services.get("svc"); const got = await Promise.all(Array.from({ length: n }, (_, i) => s.op(i))); return got.reduce((a, b) => a + b, 0); };`;

  /** Runs the apps' calls while counting turns of the event loop; records which turn each op ran in. */
  function setUp(ids: string[], options: { asyncContinuations?: boolean } = {}) {
    runtime = createRuntime({ pool: { heavyThreads: 1, ...options }, serviceClients: { svc: client } });
    const opsByTurn = new Map<number, number>();
    const loop = countLoopTurns();
    const services = {
      svc: {
        type: "svc",
        invoke: async (_method: string, [i]: unknown[]) => {
          hold();
          opsByTurn.set(loop.turns(), (opsByTurn.get(loop.turns()) ?? 0) + 1);
          return i as number;
        },
      },
    };
    const apps = ids.map((id) => runtime!.app({ id, functions: { flood: { source: flood } } }));
    const call = (app: AppRuntime, n: number) => app.call({ functionName: "flood", args: [n], bridge: { services } });
    return { apps, call, opsByTurn, stop: loop.stop };
  }

  it("a call that held the loop past half a slice takes its host work in turns; after a few such calls its app is heavy", async () => {
    const { apps, call, opsByTurn, stop } = setUp(["flood", "quiet"]);
    const [flooder, quiet] = apps;
    expect((await call(flooder!, 100)).value).toBe(4950);
    stop();
    // Ops ran at once until the call had held the loop for ~10 ms, then a couple per turn (2 ms budget).
    const perTurn = [...opsByTurn.values()];
    expect(Math.max(...perTurn)).toBeLessThanOrEqual(Math.ceil(10 / OP_MS) + 1);
    expect(perTurn.length).toBeGreaterThanOrEqual(20);
    expect(flooder!.stats().heavy).toBe(false); // one such call is not enough
    await call(flooder!, 100);
    await call(flooder!, 100);
    expect(flooder!.stats().heavy).toBe(true);
    expect((await call(quiet!, 3)).value).toBe(3);
    expect(quiet!.stats().heavy).toBe(false);
  });

  it("answers that arrive together resume their call in one slice (microtasks of the first run after the second is answered)", async () => {
    const { apps, stop } = setUp(["together"]);
    const source = `exports = async () => {
      const s = context.services.get("svc"); const order = [];
      const a = s.op(1).then(() => { order.push("a"); return Promise.resolve().then(() => order.push("a, a tick later")); });
      const b = s.op(2).then(() => order.push("b"));
      await Promise.all([a, b]);
      return order;
    };`;
    const r = await apps[0]!.call({ source: { source }, bridge: { services: { svc: { type: "svc", invoke: async () => null } } } });
    stop();
    // One slice per answer would give ["a", "a, a tick later", "b"].
    expect(r.value).toEqual(["a", "b", "a, a tick later"]);
  });

  it("hundreds of host calls in one Promise.all answer each promise, on the event loop and on isolated-vm's threads", async () => {
    for (const asyncContinuations of [false, true]) {
      const { apps, call, stop } = setUp(["batch"], { asyncContinuations });
      const fine = `exports = async () => { const s = context.services.get("svc"); const got = await Promise.allSettled(Array.from({ length: 500 }, (_, i) => s.op(i))); return got.map((g) => (g.status === "fulfilled" ? g.value : g.reason.message)); };`;
      const r = await apps[0]!.call({ source: { source: fine }, bridge: { services: { svc: { type: "svc", invoke: async (_m: string, [i]: unknown[]) => (i === 7 ? Promise.reject(new Error("seven is refused")) : i) } } } });
      stop();
      expect(r.hostCalls).toBe(500);
      expect(r.value).toEqual(Array.from({ length: 500 }, (_, i) => (i === 7 ? "seven is refused" : i)));
      await runtime!.close();
      runtime = undefined;
    }
  });
});
