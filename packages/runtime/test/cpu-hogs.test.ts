import { createRuntime, type Runtime } from "@restitch/runtime";
import { afterEach, describe, expect, it } from "vitest";
import { CpuHogs, HOG_WINDOW_MS, MISCONDUCT_MEMORY_MS } from "../src/cpu-hogs.js";

/**
 * Feeds `windows` windows in which each app's `calls` calls (10 unless given: steady traffic) used
 * `perSecond` of CPU (ms per second; the floor is 100 ms/s), and returns the time the next window starts.
 */
function feed(hogs: CpuHogs, perSecond: Record<string, number>, windows: number, from = 0, calls: Record<string, number> = {}): number {
  let t = from;
  for (let w = 0; w < windows; w++, t += HOG_WINDOW_MS) {
    for (const [app, ms] of Object.entries(perSecond)) {
      const n = calls[app] ?? 10;
      for (let i = 0; i < n; i++) hogs.record(app, (ms * HOG_WINDOW_MS) / 1_000 / n, t + 1 + i);
    }
  }
  hogs.record("closing-call", 0, t + 1); // the first call of the next window closes the last one
  return t;
}

describe("CpuHogs (issue 8: a busy neighbour whose every call stays within its limits)", () => {
  it("reports the app that takes ≥ 100 ms/s, more than the others together and ≥ 2× a lighter app's CPU, after two windows in a row", () => {
    const reported: string[] = [];
    const suspected: string[] = [];
    const hogs = new CpuHogs(
      (app) => reported.push(app),
      (app) => suspected.push(app),
    );
    const t = feed(hogs, { regex: 280, normal: 60 }, 1);
    expect(reported).toEqual([]); // one window is a burst...
    expect(suspected).toEqual(["regex"]); // ...that makes it a suspect
    feed(hogs, { regex: 280, normal: 60 }, 1, t);
    expect(reported).toEqual(["regex"]);
    expect(suspected).toEqual(["regex"]);
  });

  it("never reports an app alone, nor equally busy apps, nor an app under the CPU floor", () => {
    const reported: string[] = [];
    const hogs = new CpuHogs((app) => reported.push(app));
    let t = feed(hogs, { busy: 900 }, 5); // alone: nobody to protect
    t = feed(hogs, { a: 600, b: 400 }, 5, t); // about as busy: neither takes from a lighter one
    feed(hogs, { small: 90, tiny: 1 }, 5, t); // 9 % of a core is no hog
    expect(reported).toEqual([]);
  });

  it("does not count apps called once or twice as lighter apps to protect (first contact: 500 req/s next to single hostile calls)", () => {
    const reported: string[] = [];
    const hogs = new CpuHogs((app) => reported.push(app));
    const t = feed(hogs, { normal: 150, once: 0.2, twice: 1 }, 4, 0, { once: 1, twice: 2 });
    expect(reported).toEqual([]);
    feed(hogs, { normal: 150, steady: 1 }, 2, t);
    expect(reported).toEqual(["normal"]); // the same load next to steady traffic is a hog
  });

  it("does not report a busy app next to another busy one unless it takes a quarter of a core (the normal app under attack, contended)", () => {
    const reported: string[] = [];
    const hogs = new CpuHogs((app) => reported.push(app));
    // Measured in the hostile test: the normal app's calls cost 13-16 % of a core on contended cores, the
    // regex app as much, a hostile app whose calls fail fast 4 %. The normal app is ≥ 2× the light one.
    let t = feed(hogs, { normal: 135, regex: 125, failsFast: 40 }, 4);
    expect(reported).toEqual([]);
    // The regex app at 22 % and more than the others together is a hog; at 30 % it is one next to anyone.
    t = feed(hogs, { normal: 100, regex: 220, failsFast: 15 }, 2, t);
    expect(new Set(reported)).toEqual(new Set(["regex"]));
    reported.length = 0;
    feed(hogs, { normal: 100, regex: 300, logs: 1_200, failsFast: 15 }, 2, t, { logs: 1 });
    expect(new Set(reported)).toEqual(new Set(["regex", "logs"]));
  });

  it("does not protect an app that misbehaved lately: a slowed hog or a limit-hitter makes nobody a hog", () => {
    const reported: string[] = [];
    const hogs = new CpuHogs((app) => reported.push(app));
    let t = feed(hogs, { regex: 300, normal: 60 }, 2);
    expect(reported).toEqual(["regex"]);
    // Slowed where it is, the regex app is now the light one with steady traffic; so is an app whose
    // every call hits a limit. Next to them the normal app's load is no hog.
    hogs.misbehavedAt("failsFast", t);
    t = feed(hogs, { normal: 150, regex: 10, failsFast: 10 }, 4, t);
    expect(reported).toEqual(["regex"]);
    // A minute later they are peers again.
    feed(hogs, { normal: 150, regex: 10, failsFast: 10 }, 2, t + MISCONDUCT_MEMORY_MS);
    expect(new Set(reported)).toEqual(new Set(["regex", "normal"]));
  });

  it("needs consecutive windows: a burst, a quiet window, a burst is not a hog", () => {
    const reported: string[] = [];
    const hogs = new CpuHogs((app) => reported.push(app));
    let t = feed(hogs, { regex: 400, normal: 5 }, 1);
    t = feed(hogs, { regex: 10, normal: 5 }, 1, t);
    feed(hogs, { regex: 400, normal: 5 }, 1, t);
    expect(reported).toEqual([]);
  });

  it("scales the floor with a window that closed late (after a quiet time)", () => {
    const reported: string[] = [];
    const hogs = new CpuHogs((app) => reported.push(app));
    // 300 ms of CPU in a window that closed 10 s after it opened is 3 % of a core.
    const window = (from: number) => {
      hogs.record("a", 300, from);
      for (let i = 1; i <= 5; i++) hogs.record("b", 0.2, from + i);
    };
    window(0);
    window(10_000);
    hogs.record("a", 0, 20_000);
    expect(reported).toEqual([]);
    // The same in windows of the usual length is a hog.
    window(20_000 + HOG_WINDOW_MS);
    window(20_000 + 2 * HOG_WINDOW_MS);
    hogs.record("a", 0, 20_000 + 3 * HOG_WINDOW_MS);
    expect(reported).toEqual(["a"]);
  });
});

describe("RuntimeOptions.onCpuHog, with real isolates", () => {
  let runtime: Runtime | undefined;
  afterEach(async () => {
    await runtime?.close();
    runtime = undefined;
  });

  /** Calls `busy` back to back (one call per turn of the event loop) and `light` every 20 ms for `ms`. */
  async function load(busy: { call: () => Promise<unknown> }, light: { call: () => Promise<unknown> } | undefined, ms: number) {
    const end = performance.now() + ms;
    const lightLoop = (async () => {
      while (light && performance.now() < end) {
        await light.call();
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    while (performance.now() < end) {
      await busy.call();
      await new Promise((r) => setImmediate(r));
    }
    await lightLoop;
  }

  const spin = `exports = function () { const end = Date.now() + 2; while (Date.now() < end); return "spun"; };`;
  const hello = `exports = function () { return "hello"; };`;

  it("reports an app whose quick calls take the CPU next to a light app, not the light app, and takes the hog's calls off the event loop at once (heavy)", async () => {
    const reported: string[] = [];
    runtime = createRuntime({ onCpuHog: (app) => reported.push(app) });
    const busy = runtime.app({ id: "busy", functions: { run: { source: spin } } });
    const light = runtime.app({ id: "light", functions: { run: { source: hello } } });
    const call = (app: typeof busy) => ({ call: () => app.call({ functionName: "run" }) });
    expect(busy.stats().heavy).toBe(false);
    await load(call(busy), call(light), 2_000);
    expect(reported.length).toBeGreaterThan(0);
    expect(new Set(reported)).toEqual(new Set(["busy"]));
    // Heavy before anyone acts on the report (a supervisor's move takes a second or more), and its calls
    // started off the event loop from the first window it was a suspect in.
    expect(busy.stats().heavy).toBe(true);
    expect(busy.stats().startsOffLoop).toBe(true);
    expect(light.stats().heavy).toBe(false);
    expect(light.stats().startsOffLoop).toBe(false);
  });

  it("does not report the same app when it is the only one served", async () => {
    const reported: string[] = [];
    runtime = createRuntime({ onCpuHog: (app) => reported.push(app) });
    const busy = runtime.app({ id: "busy", functions: { run: { source: spin } } });
    await load({ call: () => busy.call({ functionName: "run" }) }, undefined, 2_000);
    expect(reported).toEqual([]);
  });
});
