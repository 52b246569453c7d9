/**
 * Isolate recycling (pool.recycleAfterCalls): an isolate is replaced after between half and all of that
 * many calls, so that isolates started together are not replaced together, and its successor boots at
 * once, so that no call waits for it.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { createRuntime } from "../src/index.js";
import { Sandbox } from "../src/sandbox.js";

afterEach(() => vi.restoreAllMocks());

describe("isolate recycling", () => {
  it("replaces an isolate after between half and all of recycleAfterCalls, at varied counts", async () => {
    const retiredAt: number[] = [];
    const dispose = Sandbox.prototype.dispose;
    vi.spyOn(Sandbox.prototype, "dispose").mockImplementation(function (this: Sandbox) {
      if (!this.disposed) retiredAt.push(this.callCount);
      dispose.call(this);
    });
    const runtime = createRuntime({ pool: { maxIsolates: 1, recycleAfterCalls: 20 } });
    const app = runtime.app({ id: "recycled", functions: { f: { source: "exports = (i) => i * 2;" } } });
    for (let i = 0; i < 400; i++) expect(await app.call({ functionName: "f", args: [i] })).toMatchObject({ ok: true, value: i * 2 });
    await runtime.close();
    const planned = retiredAt.slice(0, -1); // the last one was disposed by close()
    expect(planned.length).toBeGreaterThanOrEqual(400 / 20 - 1);
    for (const n of planned) {
      expect(n).toBeGreaterThanOrEqual(10);
      expect(n).toBeLessThanOrEqual(20);
    }
    // Jitter: 19 or more draws from 10..20 that are all alike would mean there is none.
    expect(new Set(planned).size).toBeGreaterThan(3);
  });

  it("boots the successor when it retires an isolate, before the next call comes", async () => {
    // recycleAfterCalls 1: every isolate retires after its one call.
    const runtime = createRuntime({ pool: { maxIsolates: 1, recycleAfterCalls: 1 } });
    const app = runtime.app({ id: "successor", functions: { f: { source: "exports = () => 'ok';" } } });
    await app.ready();
    const opens = vi.spyOn(Sandbox, "open");
    expect(await app.call({ functionName: "f", args: [] })).toMatchObject({ ok: true, value: "ok" });
    expect(opens).toHaveBeenCalledTimes(1); // the successor, booting as the first isolate retires
    await app.ready();
    expect(app.stats()).toMatchObject({ isolates: 1, busy: 0 });
    expect(await app.call({ functionName: "f", args: [] })).toMatchObject({ ok: true, value: "ok" });
    // The call took the booted successor (a boot on demand would have made it 3), which then retired in turn.
    expect(opens).toHaveBeenCalledTimes(2);
    await runtime.close();
  });
});
