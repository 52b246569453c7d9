/**
 * Leaks between calls and between apps: prototype pollution (in the isolate and, through the data
 * service and the codec, in the host), globals, patched shared objects, timers and promises left behind,
 * and reaching another app's data, functions or values. Most cases write in one request (`?step=write`)
 * and look in the next (`?step=read`); the harness checks the victim app and the host after each.
 */
import { describe, expect } from "vitest";
import { defineCases, expectError, expectMemoryOrTime, expectValue, hostileSuite, type Case, type Reply } from "./harness.js";

const WRITE = { query: "step=write" };

/** A case in two requests: `write` tries to leave something behind, `read` (a later call) reports what it finds. */
function twoStep(write: string, read: string): string {
  return `exports = async function (request, response) {
    if (request.query.step === "write") { ${write} }
    else { ${read} }
  };`;
}

async function readStep(h: Parameters<Case["check"]>[1], route: string): Promise<Reply> {
  return h.hostile(route, { query: "step=read" });
}

const store = (db: string, coll: string) => `context.services.get("mongodb-atlas").db("${db}").collection("${coll}")`;

const cases: Case[] = [
  {
    title: "prototype pollution inside the isolate is refused, and invisible to the next call",
    source: twoStep(
      `const tries = [
        () => { Object.prototype.polluted = "yes"; },
        () => { ({}).__proto__.polluted = "yes"; },
        () => { Array.prototype.polluted = "yes"; },
        () => { Object.defineProperty(Object.prototype, "polluted", { value: "yes" }); },
        () => { Object.setPrototypeOf(Object.prototype, { polluted: "yes" }); },
        () => { Function.prototype.polluted = "yes"; },
      ];
      return tries.map((t) => { try { t(); return typeof ({}).polluted; } catch (e) { return e.name; } });`,
      `return [typeof ({}).polluted, typeof [].polluted, typeof (() => {}).polluted];`,
    ),
    request: WRITE,
    check: async (r, h, route) => {
      expectValue(r, ["undefined", "undefined", "undefined", "TypeError", "TypeError", "undefined"]);
      expectValue(await readStep(h, route), ["undefined", "undefined", "undefined"]);
    },
  },
  {
    title: "a __proto__ key in a parsed request body stays data of that object (C7, C93)",
    source: `exports = function (request) {
      const parsed = JSON.parse(request.body.text());
      const ejson = EJSON.parse(request.body.text());
      const merged = Object.assign({}, parsed);
      return [Object.keys(parsed), typeof ({}).polluted, typeof ejson.polluted, typeof merged.polluted, typeof Object.prototype.polluted];
    };`,
    request: { method: "POST", body: '{"__proto__": {"polluted": "yes"}, "a": 1}' },
    check: (r) => expectValue(r, [["__proto__", "a"], "undefined", "undefined", "string", "undefined"]),
  },
  {
    title: "prototype pollution through the data service ($set on __proto__ paths) leaves the host's prototypes untouched",
    source: `exports = async function () {
      const c = ${store("hostile", "pp")};
      await c.insertOne({ _id: 1, a: {} });
      const out = [];
      for (const update of [{ $set: { "__proto__.polluted": "yes" } }, { $set: { "a.__proto__.polluted": "yes" } }, { $set: { "constructor.prototype.polluted": "yes" } }, { $inc: { "__proto__.count": 1 } }]) {
        try { await c.updateOne({ _id: 1 }, update); out.push("ok"); } catch (e) { out.push(e.name); }
      }
      return [out.length, typeof ({}).polluted];
    };`,
    check: (r) => expectValue(r, [4, "undefined"]), // the harness compares the host's prototypes before and after
  },
  {
    title: "documents with __proto__ and constructor keys are stored and read back as data, polluting nothing",
    source: `exports = async function () {
      const c = ${store("hostile", "pp2")};
      const doc = JSON.parse('{"_id": 2, "__proto__": {"polluted": "yes"}, "constructor": {"prototype": {"polluted": "yes"}}}');
      await c.insertOne(doc);
      const back = await c.findOne({ _id: 2 });
      let agg;
      try { agg = await c.aggregate([{ $match: { _id: 2 } }, { $addFields: { x: "$__proto__.polluted" } }]).toArray(); } catch (e) { agg = e.message; }
      return [Object.keys(back).sort(), back.__proto__, typeof ({}).polluted, agg];
    };`,
    check: (r) => expectValue(r, [["__proto__", "_id", "constructor"], { polluted: "yes" }, "undefined", "Accessing __proto__ is not allowed in selector: '__proto__.polluted'."]),
  },
  {
    title: "a global set by one call is gone in the next",
    source: twoStep(`globalThis.leak = "from the write call"; global.leak2 = 1; return "set";`, `return [typeof globalThis.leak, typeof global.leak2, typeof leak];`),
    request: WRITE,
    check: async (r, h, route) => {
      expectValue(r, "set");
      expectValue(await readStep(h, route), ["undefined", "undefined", "undefined"]);
    },
  },
  {
    title: "an implicit (sloppy) global fails silently and is gone in the next call",
    source: twoStep(`try { leakedImplicit = "x"; } catch (e) { return e.name; } return typeof leakedImplicit;`, `return typeof leakedImplicit;`),
    request: WRITE,
    check: async (r, h, route) => {
      expectValue(r, "undefined");
      expectValue(await readStep(h, route), "undefined");
    },
  },
  {
    title: "shared utils, console, require, context services, BSON, EJSON and built-ins cannot be patched for later calls",
    source: twoStep(
      `const patch = (o, k) => { try { o[k] = () => "patched"; } catch (e) {} };
      patch(utils.crypto, "hmac"); patch(utils, "crypto"); patch(console, "log"); patch(context.values, "get");
      patch(context.functions, "execute"); patch(context.services, "get"); patch(require("util"), "format");
      patch(BSON.ObjectId.prototype, "toHexString"); patch(EJSON, "stringify"); patch(JSON, "parse"); patch(Array.prototype, "map");
      patch(Promise.prototype, "then"); patch(Function.prototype, "call"); patch(Math, "random"); patch(Date, "now");
      patch(Object.getPrototypeOf(context), "values"); patch(Object.getPrototypeOf(context), "runningAsSystem");
      return "patched";`,
      `return [
        utils.crypto.hmac("a", "b", "sha256", "hex").length, typeof console.log(), context.values.get("greeting"),
        typeof context.functions.execute, typeof context.services.get("mongodb-atlas"), require("util").format("%s!", "x"),
        new BSON.ObjectId("5e58667d902d38559c802b13").toHexString(), EJSON.stringify({ a: 1 }), JSON.parse("[1]"), [1].map((x) => x + 1),
        typeof Promise.prototype.then.call, Math.random() < 1, typeof Date.now(), context.runningAsSystem(),
      ];`,
    ),
    request: WRITE,
    check: async (r, h, route) => {
      expectValue(r, "patched");
      expectValue(await readStep(h, route), [64, "undefined", "hello", "function", "object", "x!", "5e58667d902d38559c802b13", '{"a":{"$numberInt":"1"}}', [1], [2], "function", true, "number", true]);
    },
  },
  {
    title: "context.user and context.values replaced on one call's context are that call's only (C50, C74)",
    source: twoStep(
      `context.user = { id: "admin", type: "normal" }; try { context.values = { get: () => "forged" }; } catch (e) {} return [context.user.id, context.values.get("greeting")];`,
      `return [context.user.type, context.user.id, context.values.get("greeting"), context.runningAsSystem()];`,
    ),
    request: WRITE,
    check: async (r, h, route) => {
      expectValue(r, ["admin", "hello"]);
      expectValue(await readStep(h, route), ["system", "", "hello", true]);
    },
  },
  {
    title: "a response object whose methods one call replaced is that call's only (C14)",
    source: twoStep(`response.setBody = () => {}; response.setBody("ignored"); return "returned";`, `response.setBody("set by the next call");`),
    request: WRITE,
    check: async (r, h, route) => {
      expectValue(r, "returned");
      const next = await readStep(h, route);
      expect([next.status, next.text]).toEqual([200, "set by the next call"]);
    },
  },
  {
    title: "a timer left behind by a finished call never fires",
    source: twoStep(`setTimeout(() => console.log("LEAKED-TIMER"), 20); setImmediate(() => console.log("LEAKED-IMMEDIATE")); return "left";`, `return "later";`),
    request: WRITE,
    check: async (r, h, route) => {
      expectValue(r, "left");
      await new Promise((res) => setTimeout(res, 100));
      expectValue(await readStep(h, route), "later");
      expect(h.calls().flatMap((c) => c.logs)).toEqual([]);
    },
  },
  {
    title: "a promise on a host call left behind by a finished call never resumes",
    source: twoStep(
      `${store("hostile", "late")}.findOne({}).then(() => { globalThis.late = true; console.log("LEAKED-PROMISE"); }); return "left";`,
      `return typeof globalThis.late;`,
    ),
    request: WRITE,
    check: async (r, h, route) => {
      expectValue(r, "left");
      await new Promise((res) => setTimeout(res, 50));
      expectValue(await readStep(h, route), "undefined");
      expect(h.calls().flatMap((c) => c.logs)).toEqual([]);
    },
  },
  {
    title: "an unhandled rejection is logged on its own call only",
    source: twoStep(`Promise.reject(new Error("nobody listens")); return "fine";`, `return "next";`),
    request: WRITE,
    check: async (r, h, route) => {
      expectValue(r, "fine");
      expectValue(await readStep(h, route), "next");
      expect(h.calls().map((c) => c.logs)).toEqual([["Unhandled promise rejection: nobody listens"], []]);
    },
  },
  {
    title: "an endless microtask chain left running after the return ends the call; the next call is clean",
    source: twoStep(`const loop = () => Promise.resolve().then(loop); loop(); return "returned";`, `return "clean";`),
    request: WRITE,
    check: async (r, h, route) => {
      expectMemoryOrTime(r); // CPU budget, or the heap as its promises pile up
      expectValue(await readStep(h, route), "clean");
    },
  },
  {
    title: "RegExp legacy statics do not carry one call's last match into the next",
    source: twoStep(`/(secret-\\w+)@example/.test("secret-token@example"); return RegExp.$1 === undefined ? "no statics" : RegExp.$1;`, `return [RegExp.$1, RegExp.lastMatch, RegExp.input].map(String);`),
    request: WRITE,
    check: async (r, h, route) => {
      expectValue(r, "no statics");
      expectValue(await readStep(h, route), ["undefined", "undefined", "undefined"]);
    },
  },
  {
    title: "one call's request headers and query are not visible to the next (C8, C10)",
    source: twoStep(`return context.request.requestHeaders["X-Private"];`, `return [JSON.stringify(context.request).includes("private-token"), request.query.token === undefined];`),
    request: { query: "step=write&token=private-token", headers: { "X-Private": "private-token" } },
    check: async (r, h, route) => {
      expectValue(r, ["private-token"]);
      expectValue(await readStep(h, route), [false, true]);
    },
  },
  {
    title: "another app's collections with the same names are another store: reads see nothing, writes stay here",
    source: `exports = async function () {
      const notes = ${store("victimdb", "notes")};
      const before = await notes.find({}).toArray();
      await notes.insertOne({ _id: 3, text: "planted by the hostile app" });
      await notes.deleteMany({ owner: "victim" });
      await notes.updateMany({}, { $set: { owner: "hostile" } });
      return [before, await notes.find({}).toArray()];
    };`,
    check: (r) => expectValue(r, [[], [{ _id: 3, text: "planted by the hostile app", owner: "hostile" }]]),
  },
  {
    title: "another app's functions cannot be executed (C78)",
    source: `exports = async function () {
      const out = [];
      for (const name of ["state", "seed", "../victim-vvvvv/state", "constructor", "__proto__"]) {
        try { await context.functions.execute(name); out.push("ran " + name); } catch (e) { out.push(e.message); }
      }
      return out;
    };`,
    check: (r) =>
      expectValue(r, ["function not found: 'state'", "function not found: 'seed'", "function not found: '../victim-vvvvv/state'", "function not found: 'constructor'", "function not found: '__proto__'"]),
  },
  {
    title: "another app's values and secrets are not this app's values (C74, C75)",
    source: `exports = function () {
      return [context.values.get("victimSecret"), context.values.get("greeting"), context.values.get("__proto__"), context.values.get("constructor"), context.environment.values];
    };`,
    check: (r) => expectValue(r, [null, "hello", null, null, { mode: "prod" }]),
  },
  {
    title: "another app's endpoints are not reachable under this app's id (C1, C2)",
    source: `exports = function () { return "hostile"; };`,
    check: async (r, h) => {
      expectValue(r, "hostile");
      const viaHostile = await h.hostile("/state");
      expectError(viaHostile, 404, "EndpointNotFound");
      // Encoded slashes are not path separators: no route of this app matches.
      expectError(await h.hostile("/..%2F..%2Fvictim-vvvvv%2Fendpoint%2Fstate"), 404, "EndpointNotFound");
    },
  },
  {
    title: "Error.prepareStackTrace, Error.stackTraceLimit and Symbol registry entries set by one call do not change the next",
    source: twoStep(
      `try { Error.prepareStackTrace = () => "forged"; } catch (e) {} try { Error.stackTraceLimit = 0; } catch (e) {} Symbol.for("restitch.leak"); return "set";`,
      `return [typeof Error.prepareStackTrace, Error.stackTraceLimit, typeof new Error("x").stack, new Error("x").stack.startsWith("Error: x")];`,
    ),
    request: WRITE,
    check: async (r, h, route) => {
      expectValue(r, "set");
      expectValue(await readStep(h, route), ["undefined", 10, "string", true]);
    },
  },
];

describe("leaks between calls and apps", () => {
  const h = hostileSuite("hostile-leaks", cases);
  defineCases(h, cases);
});
