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
    for (let i = 0; i < 4; i++) {
      gates.shift()!();
      await tick();
    }
    // a1 ran at once; a2 was waiting before b1 and c1 arrived, but a3 waits for their turns.
    expect(order).toEqual(["a1", "a2", "b1", "c1", "a3"]);
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
    const work = new HeavyHostWork(5);
    const done: string[] = [];
    const busy = (name: string, ms: number) => () => {
      const until = performance.now() + ms;
      while (performance.now() < until);
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

  const burn = `exports = function (ms) { const until = Date.now() + ms; while (Date.now() < until); return ms; };`;
  const apps = (heavyThreads: number, ids: string[]) => {
    runtime = createRuntime({ pool: { heavyThreads } });
    return ids.map((id) => runtime!.app({ id, functions: { burn: { source: burn } } }));
  };
  const call = (app: AppRuntime, ms: number) => app.call({ functionName: "burn", args: [ms] });

  it("two long calls make an app heavy; its calls then share the lane's thread while a quick app never waits", async () => {
    const [hog, quick] = apps(1, ["hog", "quick"]);
    expect((await call(hog!, 60)).ok).toBe(true);
    expect(hog!.stats().heavy).toBe(false); // one long call is not enough (a GC pause can look like one)
    expect((await call(hog!, 60)).ok).toBe(true);
    expect(hog!.stats().heavy).toBe(true);

    // Three 150 ms calls of the heavy app run one after another on the lane's single thread…
    const started = performance.now();
    const hogCalls = [call(hog!, 150), call(hog!, 150), call(hog!, 150)].map((p) => p.then(() => performance.now() - started));
    // …while the quick app's calls run at once on the event loop.
    const quickStarted = performance.now();
    const quickResult = await call(quick!, 1);
    const quickMs = performance.now() - quickStarted;
    const hogMs = await Promise.all(hogCalls);
    expect(quickResult.ok).toBe(true);
    expect(quick!.stats().heavy).toBe(false);
    expect(quickMs).toBeLessThan(100);
    expect(Math.max(...hogMs)).toBeGreaterThanOrEqual(3 * 150 - 20);
  });

  it("a runtime with one app keeps every thread for it: its app is never heavy", async () => {
    const [only] = apps(1, ["only"]);
    for (let i = 0; i < 3; i++) expect((await call(only!, 60)).ok).toBe(true);
    expect(only!.stats().heavy).toBe(false);
  });

  it("heavyThreads 0 turns the lane off", async () => {
    const [hog] = apps(0, ["hog", "other"]);
    for (let i = 0; i < 3; i++) expect((await call(hog!, 60)).ok).toBe(true);
    expect(hog!.stats().heavy).toBe(false);
  });
});
