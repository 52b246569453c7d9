/**
 * Escapes: every way known to climb out of a JavaScript sandbox, tried from an endpoint function served by
 * the real server. Each probe reports what it reached; the answer must be exactly the safe one, and the
 * harness checks after each case that no canary, host path or file escaped (see harness.ts).
 */
import { describe, expect } from "vitest";
import { defineCases, expectError, expectValue, hostileSuite, type Case } from "./harness.js";

/** What `Function('return …')()` must give from any object's constructor chain: the isolate's own realm. */
const REALM_PROBE = "return [typeof process, typeof require, typeof module, typeof Buffer, typeof __restitch_host_sync, typeof _ivm].join()";
const SAFE_REALM = "undefined,undefined,undefined,undefined,undefined,undefined";

const probeEach = `
  function probe(obj) {
    try {
      const F = obj.constructor.constructor;
      return F(${JSON.stringify(REALM_PROBE)})();
    } catch (e) {
      return "blocked:" + e.name;
    }
  }`;

const cases: Case[] = [
  {
    title: "this.constructor.constructor('return process')() finds no process",
    source: `exports = function () {
      try { return String(this.constructor.constructor("return process")()); } catch (e) { return e.name + ": " + e.message; }
    };`,
    check: (r) => expectValue(r, "ReferenceError: process is not defined"),
  },
  {
    title: "constructor chains of request, response, context and everything reachable from it reach only the isolate's realm (C5)",
    source: `exports = async function (request, response) {
      ${probeEach}
      const db = context.services.get("mongodb-atlas").db("d");
      const coll = db.collection("c");
      const cursor = coll.find({});
      const objects = {
        request, response, query: request.query, headers: request.headers, body: request.body,
        context, user: context.user, contextRequest: context.request, app: context.app, environment: context.environment,
        values: context.values, valuesGet: context.values.get, services: context.services, functions: context.functions,
        execute: context.functions.execute, mongodb: context.services.get("mongodb-atlas"), db, coll, cursor, findOne: coll.findOne,
        runningAsSystem: context.runningAsSystem, utils, crypto: utils.crypto, hmac: utils.crypto.hmac, jwt: utils.jwt,
        EJSON, BSON, objectId: new BSON.ObjectId(), binary: BSON.Binary.fromBase64("aGk="), console, log: console.log,
        require, assert: require("assert"), setTimeout, promise: coll.findOne({}), globalThis,
      };
      const out = {};
      for (const [k, v] of Object.entries(objects)) out[k] = probe(v);
      await cursor.toArray();
      return out;
    };`,
    request: { method: "POST", body: "payload", headers: { "x-probe": "1" } },
    check: (r) => {
      expect(r.status, r.text).toBe(200);
      const found = r.json() as Record<string, string>;
      expect(Object.keys(found).length).toBe(36);
      for (const [k, v] of Object.entries(found)) expect(`${k} -> ${v}`).toBe(`${k} -> ${SAFE_REALM}`);
    },
  },
  {
    title: "errors thrown by host calls are the isolate's own errors: their constructor chains reach nothing",
    source: `exports = async function () {
      ${probeEach}
      const attempts = {
        findOneBadArgs: () => context.services.get("mongodb-atlas").db("d").collection("c").findOne(5),
        adminDatabase: () => context.services.get("mongodb-atlas").db("admin").collection("c").findOne({}),
        executeMissing: () => context.functions.execute("no such function"),
        cryptoBadInput: () => utils.crypto.hmac("x", "key", "md-nope", "hex"),
        decryptGarbage: () => utils.crypto.decrypt("aes", BSON.Binary.fromBase64("AAAA"), "short"),
        ejsonBadText: () => EJSON.parse("{not json"),
        valuesBadName: () => context.values.get({ toString() { return "greeting"; } }),
        jwtBadToken: () => utils.jwt.decode("a.b.c", "secret"),
      };
      const out = {};
      for (const [k, f] of Object.entries(attempts)) {
        try { await f(); out[k] = "no error"; } catch (e) { out[k] = [probe(e), e instanceof Error, Object.getPrototypeOf(Object.getPrototypeOf(e)) === Object.prototype || Object.getPrototypeOf(Object.getPrototypeOf(e)) === Error.prototype]; }
      }
      return out;
    };`,
    check: (r) => {
      expect(r.status).toBe(200);
      const found = r.json() as Record<string, unknown>;
      expect(Object.keys(found)).toHaveLength(8);
      for (const [k, v] of Object.entries(found)) expect([k, v]).toEqual([k, [SAFE_REALM, true, true]]);
    },
  },
  {
    title: "host errors carry no host stack, path or internals in message or stack",
    source: `exports = async function () {
      const texts = [];
      const attempts = [
        () => context.services.get("mongodb-atlas").db("d").collection("c").insertOne("not a document"),
        () => context.services.get("mongodb-atlas").db("d").collection("c").aggregate([{ $currentOp: {} }]).toArray(),
        () => context.services.get("mongodb-atlas").db("d").collection("c").find({ $where: "1" }).toArray(),
        () => utils.crypto.sign("rsa", "x", "not a key"),
        () => utils.crypto.encrypt("aes", "x", "bad key"),
      ];
      for (const f of attempts) {
        try { await f(); texts.push("no error"); } catch (e) { texts.push(String(e.stack), String(e.message), JSON.stringify(Object.getOwnPropertyNames(e))); }
      }
      return texts;
    };`,
    check: (r) => {
      expect(r.status, r.text).toBe(200);
      const texts = r.json() as string[];
      expect(texts).toHaveLength(15);
      expect(texts).not.toContain("no error");
      // The harness checks every answer for host paths; here: every frame is the tenant's file or the
      // isolate's own prelude, and own properties are only what a guest error has.
      const frames = texts.flatMap((t) => t.split("\n").filter((l) => /^\s+at /.test(l)));
      expect(frames.length).toBeGreaterThan(0);
      for (const f of frames) expect(f).toMatch(/functions\/case3\.js|restitch-internal:prelude/);
      for (const t of texts.filter((t) => t.startsWith("["))) expect(JSON.parse(t).filter((k: string) => !["stack", "message", "name", "code"].includes(k))).toEqual([]);
      expect(texts.some((t) => /server-side JavaScript \(\$where\) is not allowed/.test(t))).toBe(true);
    },
  },
  {
    title: "arguments.callee.caller stops at the tenant's own frames",
    source: `exports = function hostile() {
      return (function inner() {
        const out = [];
        let c = inner;
        for (let i = 0; i < 10; i++) {
          try { c = c.caller; } catch (e) { out.push("blocked:" + e.name); break; }
          if (!c) { out.push(null); break; }
          out.push(c.name || "<anonymous>");
        }
        return out;
      })();
    };`,
    check: (r) => expectValue(r, ["hostile", null]),
  },
  {
    title: "Error.prepareStackTrace cannot be installed; stack frames never hand out a receiver or function",
    source: `exports = function () {
      let installed = "no";
      try { Error.prepareStackTrace = (e, frames) => frames.map((f) => [typeof f.getThis(), String(f.getFunction())]); installed = typeof Error.prepareStackTrace; } catch (e) { installed = e.name; }
      let stack;
      try { null.f(); } catch (e) { stack = e.stack; }
      return [installed, typeof stack, Array.isArray(stack)];
    };`,
    check: (r) => expectValue(r, ["undefined", "string", false]),
  },
  {
    title: "Error.captureStackTrace and Error.stackTraceLimit give only the tenant's frames",
    source: `exports = function () {
      const o = {};
      Error.captureStackTrace(o);
      let limit = "unchanged";
      try { Error.stackTraceLimit = 1000; } catch (e) { limit = e.name; }
      return [o.stack.split("\\n").filter((l) => l.includes("at ")).every((l) => l.includes("functions/case6.js") || l.includes("restitch-internal:prelude")), Error.stackTraceLimit, limit];
    };`,
    check: (r) => expectValue(r, [true, 10, "unchanged"]),
  },
  {
    title: "CVE-2022-36067 (vm2): a replaced global Error's prepareStackTrace is never called",
    source: `exports = function () {
      const OldError = Error;
      let called = false;
      globalThis.Error = function () {};
      globalThis.Error.prepareStackTrace = (e, sst) => { called = true; return sst[0].getThis().constructor.constructor("return process")(); };
      const stack = new OldError("x").stack;
      return [called, typeof stack, stack.startsWith("Error: x")];
    };`,
    check: (r) => expectValue(r, [false, "string", true]),
  },
  {
    title: "CVE-2023-29017 (vm2): an async SyntaxError with prepareStackTrace set reaches no host object",
    source: `exports = async function () {
      try { Error.prepareStackTrace = (e, frames) => frames[0].getThis().constructor.constructor("return process")(); } catch (e) {}
      async function aa() { eval("1 = 1"); }
      try { await aa(); return "no error"; } catch (e) { return [e.name, e.constructor === SyntaxError, typeof e.stack]; }
    };`,
    check: (r) => expectValue(r, ["SyntaxError", true, "string"]),
  },
  {
    title: "CVE-2023-30547 (vm2): a throwing toString on an error's name, caught from err.stack, is the isolate's",
    source: `exports = function () {
      const found = [];
      const err = new Error();
      err.name = { toString: new Proxy(() => "", { apply(target, thiz, args) { found.push(args.constructor.constructor("return typeof process")()); throw args.constructor; } }) };
      try { err.stack; } catch (stack) { found.push(typeof stack, stack === Array); }
      try { found.push(String(err)); } catch (e) { found.push("threw:" + (e === Array)); }
      return found;
    };`,
    check: (r) => {
      expect(r.status, r.text).toBe(200);
      const found = r.json() as string[];
      expect(found.filter((f) => f !== "undefined")).toEqual(["threw:true"]);
      expect(found.length).toBeGreaterThan(1); // the trap ran, and saw the isolate's Function
    },
  },
  {
    title: "CVE-2023-32314 (vm2): a Symbol error name in an async stack reaches no host Function",
    source: `exports = async function () {
      const err = new Error("x");
      err.name = Symbol();
      const f = async () => err.stack;
      let got;
      try { got = await f(); } catch (e) { got = e; }
      try { return [typeof got, got.constructor.constructor("return typeof process")()]; } catch (e2) { return "blocked:" + e2.name; }
    };`,
    check: (r) => expectValue(r, ["string", "undefined"]),
  },
  {
    title: "CVE-2023-37466 (vm2): a stack overflow caught through a fake Promise species is the isolate's RangeError, and touches no file",
    source: `exports = async function () {
      const seen = [];
      async function fn() { (function stack() { stack(); })(); }
      const p = fn();
      p.constructor = {
        [Symbol.species]: class FakePromise {
          constructor(executor) {
            executor((x) => x, (err) => {
              seen.push(err.name, err.constructor.constructor("return typeof process")());
              try { err.constructor.constructor("return process")().mainModule.require("child_process").execSync("touch pwned"); } catch (e) { seen.push(e.name); }
            });
          }
        },
      };
      seen.push(Object.hasOwn(p, "constructor")); // frozen Promise.prototype: the fake species never lands
      p.then();
      try { await p; } catch (err) { seen.push(err.name, err.constructor.constructor("return typeof process")()); }
      return seen;
    };`,
    check: (r) => expectValue(r, [false, "RangeError", "undefined"]),
  },
  {
    title: "a returned thenable with a getter `then` is resolved inside the isolate",
    source: `exports = function () {
      return { get then() { return (resolve) => resolve([typeof process, typeof globalThis.require, "resolved"]); } };
    };`,
    check: (r) => expectValue(r, ["undefined", "undefined", "resolved"]),
  },
  {
    title: "a returned Proxy's traps run in the isolate while it serialises its own result",
    source: `exports = function () {
      return new Proxy({ a: 1, b: 2 }, { get(target, key) { return typeof key === "string" && key in target ? typeof process + ":" + key : undefined; } });
    };`,
    check: (r) => expectValue(r, { a: "undefined:a", b: "undefined:b" }),
  },
  {
    title: "getters, toJSON, valueOf, toString and Symbol.toPrimitive run only in the isolate; the host sees plain data",
    source: `exports = function () {
      const d = new Date(0);
      d.toISOString = () => "not a date";
      return {
        getter: { get x() { return typeof process; } },
        viaToJSON: { toJSON() { return { y: typeof require }; } },
        hooks: { valueOf() { return "valueOf ran"; }, toString() { return "toString ran"; }, [Symbol.toPrimitive]() { return "prim ran"; } },
        date: d,
      };
    };`,
    check: (r) => expectValue(r, { getter: { x: "undefined" }, viaToJSON: { y: "function" }, hooks: {}, date: "1970-01-01T00:00:00.000Z" }),
  },
  {
    title: "Symbol.toPrimitive on host-call arguments is never run by the host",
    source: `exports = function () {
      let ran = 0;
      const evil = { [Symbol.toPrimitive]() { ran++; return "sha256"; }, toString() { ran++; return "sha256"; } };
      let hash;
      try { hash = utils.crypto.hash(evil, "x").toHex(); } catch (e) { hash = e.message; }
      return [hash, ran];
    };`,
    check: (r) => {
      expect(r.status).toBe(200);
      const [hash, ran] = r.json();
      expect(ran).toBe(0);
      expect(hash).not.toMatch(/^[0-9a-f]{64}$/);
    },
  },
  {
    title: "Symbol.species on arrays and promises runs the tenant's own code only",
    source: `exports = async function () {
      const seen = [];
      class A extends Array { static get [Symbol.species]() { seen.push(typeof process); return Array; } }
      const mapped = A.from([1, 2]).map((x) => x * 2);
      class P extends Promise { static get [Symbol.species]() { seen.push(typeof require === "function" ? "tenant require" : "?"); return Promise; } }
      const v = await P.resolve(5).then((x) => x + 1);
      return [mapped, v, seen];
    };`,
    check: (r) => expectValue(r, [[2, 4], 6, ["undefined", "tenant require"]]),
  },
  {
    title: "Reflect and Proxy tricks on context.values.get reach only the app's own values (C74)",
    source: `exports = function () {
      const get = context.values.get;
      const out = [];
      out.push(Reflect.apply(get, new Proxy({}, {}), ["greeting"]));
      out.push(get.call(null, "victimSecret") === undefined);
      try { out.push(get({ toString() { return "greeting"; } })); } catch (e) { out.push(e.name + ": " + e.message); }
      try { out.push(get(new Proxy({}, { get() { return () => "greeting"; } }))); } catch (e) { out.push(e.name); }
      out.push(Object.isFrozen(context.values), Object.getOwnPropertyNames(context.values).join());
      return out;
    };`,
    check: (r) => expectValue(r, ["hello", true, "TypeError: context.values.get: name must be a string", "TypeError", true, "get"]),
  },
  {
    title: "dynamic import() of host modules fails inside the isolate",
    source: `exports = async function () {
      const out = [];
      for (const m of ["fs", "node:child_process", "data:text/javascript,export default 1"]) {
        try { await import(m); out.push("imported " + m); } catch (e) { out.push(e instanceof Error); }
      }
      return out;
    };`,
    check: (r) => expectValue(r, [true, true, true]),
  },
  {
    title: "WebAssembly and SharedArrayBuffer are absent; Atomics.wait cannot block",
    source: `exports = function () {
      let wait;
      try { wait = Atomics.wait(new Int32Array(new ArrayBuffer(8)), 0, 0, 1000); } catch (e) { wait = e.name; }
      return [typeof WebAssembly, typeof SharedArrayBuffer, wait];
    };`,
    check: (r) => expectValue(r, ["undefined", "undefined", "TypeError"]),
  },
  {
    title: "require() of child_process, fs, net, vm, worker_threads and module fails; only pure modules exist (C73)",
    source: `exports = function () {
      const out = {};
      for (const m of ["child_process", "fs", "node:fs", "net", "http", "vm", "worker_threads", "module", "process", "os", "isolated-vm"]) {
        try { require(m); out[m] = "loaded"; } catch (e) { out[m] = e.code; }
      }
      out.assert = typeof require("assert");
      return out;
    };`,
    check: (r) =>
      expectValue(r, {
        child_process: "MODULE_NOT_FOUND", fs: "MODULE_NOT_FOUND", "node:fs": "MODULE_NOT_FOUND", net: "MODULE_NOT_FOUND", http: "MODULE_NOT_FOUND",
        vm: "MODULE_NOT_FOUND", worker_threads: "MODULE_NOT_FOUND", module: "MODULE_NOT_FOUND", process: "MODULE_NOT_FOUND", os: "MODULE_NOT_FOUND",
        "isolated-vm": "MODULE_NOT_FOUND", assert: "function",
      }),
  },
  {
    title: "enumerating globalThis (and its prototype chain) finds no host name",
    source: `exports = function () {
      const names = new Set();
      for (let o = globalThis; o; o = Object.getPrototypeOf(o)) for (const k of Reflect.ownKeys(o)) names.add(String(k));
      const hostish = [...names].filter((k) => /^(process|require|module|Buffer|global|fetch|XMLHttpRequest|WebSocket|Deno|Bun|_ivm)$|restitch|host/i.test(k));
      return [hostish, names.has("Object"), names.has("BSON")];
    };`,
    check: (r) => expectValue(r, [[], true, true]),
  },
  {
    title: "eval, indirect eval and new Function see the frozen isolate global",
    source: `exports = function () {
      const g = (0, eval)("this");
      return [eval("typeof process"), typeof g.process, Object.isFrozen(g), new Function("return typeof this.require")(), (async () => {}).constructor("return typeof process")() instanceof Promise];
    };`,
    check: (r) => expectValue(r, ["undefined", "undefined", true, "undefined", true]),
  },
  {
    title: "context.environment and context.app hold only the app's own configuration (C76, C77, C82)",
    source: `exports = function () {
      const members = [];
      for (const k in context) members.push(k);
      return [context.environment, context.app.id, Object.keys(context.app).sort(), members.sort()];
    };`,
    check: (r) =>
      expectValue(r, [
        { tag: "production", values: { mode: "prod" } },
        "hostile-escapes",
        ["clientAppId", "deployment", "hostingUri", "id", "lastDeployed", "name", "projectId"],
        ["app", "environment", "functions", "request", "runningAsSystem", "services", "user", "values"],
      ]),
  },
  {
    title: "a syntax error that tries to break out of the function wrapper is reported, nothing runs (C71)",
    source: `}); globalThis.escaped = true; (function () {`,
    check: (r) => expectError(r, 400, "FunctionExecutionError", "Single function literal required [functions/case24.js: the source closes its function wrapper]"),
  },
];

describe("escapes", () => {
  const h = hostileSuite("hostile-escapes", cases);
  defineCases(h, cases);
});
