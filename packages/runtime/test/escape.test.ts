import { afterAll, describe, expect, it } from "vitest";
import { assertIsolatedVmVersion, compareVersions as compareVersionsForTest } from "@restitch/runtime";
import { appWith, run } from "./helpers.js";

/**
 * Tenant code is hostile: every object the runtime hands in is probed for a way back to the host.
 * Each probe returns what it found; nothing may be a host object (process, require, a Reference…).
 */
const probes: Record<string, string> = {
  globals: "exports = () => [typeof process, typeof require, typeof module, typeof global.process, typeof globalThis.process, typeof _ivm, typeof __restitch_host_sync, typeof __restitch_bson, typeof setInterval, typeof Buffer];",
  constructorChain: `exports = function (req, res) {
    const found = [];
    for (const obj of [context, context.services, context.values, context.functions, utils.crypto, console, BSON, EJSON, res, req, context.values.get, utils.crypto.hmac]) {
      try { const F = obj.constructor.constructor; found.push(F('return typeof process')()); } catch (e) { found.push('blocked:' + e.name); }
    }
    return found;
  }`,
  functionThis: "exports = () => { const g = Function('return this')(); return [typeof g.process, Object.isFrozen(g)]; };",
  thrownHostError: `exports = async () => {
    try { await context.services.get('echo').boom(); } catch (e) {
      return [e.constructor.constructor('return typeof process')(), Object.keys(e), /sandbox\\.js|node:internal|dist\\//.test(String(e.stack)) ];
    }
  }`,
  thenableResult: "exports = () => ({ then(resolve) { resolve(typeof process); } });",
  getterResult: "exports = () => ({ get x() { return typeof process + '/' + typeof require; }, toJSON() { return { y: typeof process }; } });",
  argProbe: "exports = (a) => [a.constructor.constructor('return typeof process')(), Object.getPrototypeOf(a) === Object.prototype];",
  callbackArgs: "exports = () => { try { return [typeof utils.crypto.hmac.call({}, 'a', 'b', 'sha256', 'hex'), utils.crypto.hmac.toString().includes('[native code]')] } catch (e) { return e.message } };",
  errorPrepare: "exports = () => { try { Error.prepareStackTrace = (e, frames) => frames.map((f) => typeof f.getThis()); } catch (e) {} return new Error('x').stack.split('\\n').length > 0; };",
  evalProbe: "exports = () => [eval('typeof process'), (0, eval)('typeof require'), new Function('return typeof this.process')()];",
  asyncCtorProbe: "exports = () => { const AF = (async () => {}).constructor; return AF('return typeof process')(); };",
};

const { runtime, app } = appWith(probes, { serviceClients: { echo: `(function (invoke) { return { boom: () => invoke("boom", []) }; })` } });
afterAll(() => runtime.close());

describe("escape attempts yield no host object", () => {
  it("no host globals exist inside (process, require, isolated-vm internals, the host callbacks)", async () => {
    expect((await run(app, "globals")).value).toEqual(["undefined", "function", "object", "undefined", "undefined", "undefined", "undefined", "undefined", "undefined", "undefined"]);
  });
  it("constructor chains of every object handed in reach only the isolate's own Function", async () => {
    const r = await run(app, "constructorChain", [{ query: {} }], { httpResponse: true });
    for (const found of r.value as string[]) expect(found === "undefined" || found.startsWith("blocked")).toBe(true);
  });
  it("Function('return this') gives the isolate's frozen global, without process", async () => {
    expect((await run(app, "functionThis")).value).toEqual(["undefined", true]);
  });
  it("errors thrown by the host arrive as fresh guest errors without host stacks", async () => {
    const r = await run(app, "thrownHostError", [], { bridge: { services: { echo: { type: "echo", invoke: async () => { throw new Error("host failure"); } } } } });
    const [procType, , leaksPath] = r.value as [string, string[], boolean];
    expect(procType).toBe("undefined");
    expect(leaksPath).toBe(false);
  });
  it("a returned thenable is resolved inside the isolate, never by the host", async () => {
    expect((await run(app, "thenableResult")).value).toBe("undefined");
  });
  it("getters and toJSON of a returned value run inside the isolate, never in the host", async () => {
    expect((await run(app, "getterResult")).value).toEqual({ y: "undefined" });
  });
  it("arguments are copies built inside the isolate", async () => {
    expect((await run(app, "argProbe", [{ a: 1 }])).value).toEqual(["undefined", true]);
  });
  it("host callbacks cannot be inspected or re-bound into host access", async () => {
    const r = await run(app, "callbackArgs");
    expect(r.ok).toBe(true);
    expect(JSON.stringify(r.value)).not.toContain("process");
  });
  it("eval, Function and AsyncFunction stay inside the realm", async () => {
    expect((await run(app, "evalProbe")).value).toEqual(["undefined", "undefined", "undefined"]);
    expect((await run(app, "asyncCtorProbe")).value).toBe("undefined");
    expect((await run(app, "errorPrepare")).ok).toBe(true);
  });
});

describe("isolated-vm version guard (GHSA-864f-rcv7-6rh4)", () => {
  it("refuses an isolated-vm older than 7.0.1, saying why", () => {
    expect(() => assertIsolatedVmVersion("7.0.0")).toThrow(/GHSA-864f-rcv7-6rh4/);
    expect(() => assertIsolatedVmVersion("6.1.9")).toThrow(/needs 7.0.1 or newer/);
    expect(() => assertIsolatedVmVersion("7.0.1")).not.toThrow();
    expect(() => assertIsolatedVmVersion()).not.toThrow();
    expect(compareVersionsForTest("7.10.0", "7.9.9")).toBe(1);
  });
});
