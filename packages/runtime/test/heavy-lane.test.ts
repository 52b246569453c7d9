import { createRuntime, type AppRuntime, type Runtime } from "@restitch/runtime";
import { afterEach, describe, expect, it } from "vitest";
import { HeavyHostWork, HeavyLane } from "../src/heavy-lane.js";

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
    expect(lane.holds("c")).toBe(false); // done: c's place in the lane is gone
    expect(lane.holds("a")).toBe(true); // a3 still runs
    gates.shift()!();
    await tick();
    expect(lane.holds("a")).toBe(false);
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
