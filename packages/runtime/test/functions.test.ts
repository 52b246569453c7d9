import { afterAll, describe, expect, it } from "vitest";
import * as BSON from "bson";
import { generateKeyPairSync } from "node:crypto";
import { appWith, run } from "./helpers.js";

const echoClient = `(function (invoke, BSON) {
  return { ping: (...args) => invoke("ping", args), fail: () => invoke("fail", []) };
})`;

const { runtime, app } = appWith(
  {
    plain: "exports = function (a, b) { return a + b; }",
    asyncFn: "exports = async function (x) { return x * 2; }",
    named: "exports = function namedOne() { return 'named'; }",
    arrow: "exports = (x) => ({ x })",
    moduleExports: "module.exports = function () { return 'module'; }",
    localFn: "const helper = (x) => x + 1;\nfunction main(x) { return helper(x); }\nexports = main;",
    noExport: "const x = 1;",
    syntax: "exports = function () {\n  return 1 +;\n};",
    thrower: "function inner() {\n  throw new TypeError('bad input');\n}\nexports = function () { inner(); };",
    rejecter: "exports = async function () { await null; throw new Error('async boom'); };",
    throwString: "exports = () => { throw 'just a string'; };",
    sum: "exports = (a, b) => a + b;",
    privateFn: "exports = () => 'private result';",
    callsSum: "exports = () => context.functions.execute('sum', 1, 2);",
    callsPrivate: "exports = async () => await context.functions.execute('privateFn');",
    callsMissing: "exports = () => context.functions.execute('nope');",
    recurse: "exports = (n) => context.functions.execute('recurse', n + 1);",
    whoami: "exports = () => context.functions.execute('ctx');",
    ctx: `exports = function () {
      return {
        user: context.user, system: context.runningAsSystem(), request: context.request, env: context.environment,
        value: context.values.get('greeting'), missing: context.values.get('nope'), app: context.app,
        svcMissing: context.services.get('nope') === undefined,
      };
    }`,
    service: "exports = async () => { const c = context.services.get('echo'); return await c.ping(1, new BSON.ObjectId('5e58667d902d38559c802b13'), new Date(5)); }",
    serviceFail: "exports = async () => { try { await context.services.get('echo').fail(); } catch (e) { return [e.name, e.message, e.code]; } }",
    crypto: `exports = function () {
      return {
        hmac: utils.crypto.hmac("hello!", "super-secret", "sha256", "base64"),
        hmacHex: utils.crypto.hmac("hello!", "super-secret", "sha256", "hex"),
        hash: utils.crypto.hash("sha256", "hello!").toBase64(),
        md5: utils.crypto.hash("md5", BSON.Binary.fromHex("00ff")).toHex(),
        decrypted: utils.crypto.decrypt("aes", BSON.Binary.fromBase64("WPBuIvJ6Bity43Uh822dW8QlVYVJaFUiDeUjlTiJXzptUuTYIKPlXekBQAJb"), "603082712271C525E087BD999A4E0738").text(),
      };
    }`,
    roundTrip: `exports = function (msg, key) {
      const enc = utils.crypto.encrypt("aes", msg, key);
      return { len: enc.buffer.length, back: utils.crypto.decrypt("aes", enc, key).text(), differs: utils.crypto.encrypt("aes", msg, key).toBase64() !== enc.toBase64() };
    }`,
    rsa: `exports = function (priv, pub) {
      const sig = utils.crypto.sign("rsa", "MongoDB is great!", priv, "pss");
      const sig15 = utils.crypto.sign("rsa", "MongoDB is great!", priv, "pkcs1v15");
      return [utils.crypto.verify("rsa", "MongoDB is great!", pub, sig, "pss"), utils.crypto.verify("rsa", "tampered", pub, sig, "pss"), utils.crypto.verify("rsa", "MongoDB is great!", pub, sig15, "pkcs1v15")];
    }`,
    badCrypto: "exports = () => { try { utils.crypto.hmac('a', 'b', 'md4', 'hex'); } catch (e) { return e.message; } }",
    jwt: `exports = function () {
      const token = utils.jwt.encode("HS256", { sub: "42", n: 1 }, "s3cret");
      return [utils.jwt.decode(token, "s3cret"), utils.jwt.decode(token, "s3cret", true).header.alg, (() => { try { utils.jwt.decode(token, "wrong"); } catch (e) { return e.message; } })()];
    }`,
    ejson: `exports = function (text) {
      const doc = EJSON.parse(text);
      return { isOid: doc._id instanceof BSON.ObjectId, hex: doc._id.toHexString(), json: JSON.stringify({ id: doc._id }), canon: EJSON.stringify({ n: 42, d: new Date(1583167607977) }) };
    }`,
    bsonTypes: `exports = function () {
      return {
        b64: BSON.Binary.fromBase64("aGVsbG8gd29ybGQ=").text(),
        oid: new BSON.ObjectId("5e58667d902d38559c802b13").toHexString(),
        int32: BSON.Int32(42).valueOf(),
        long: BSON.Long(1, 1).toString(),
        dec: BSON.Decimal128.fromString("9823.1297").toString(),
        re: new BSON.BSONRegExp("^H", "i").pattern,
      };
    }`,
    mirror: "exports = (...args) => args.map((a) => [a === null ? 'null' : (a && a._bsontype) || (a instanceof Date ? 'Date' : a instanceof RegExp ? 'RegExp' : typeof a), a]);",
    logs: "exports = function () { console.log('a', 1, { b: 2 }); console.error('bad'); console.warn(new BSON.ObjectId('5e58667d902d38559c802b13')); return 1; }",
    bigLogs: "exports = function () { for (let i = 0; i < 1000; i++) console.log('x'.repeat(100)); return 'done'; }",
    requires: "exports = function () { const assert = require('assert'); assert.strictEqual(1, 1); const url = require('url'); const u = url.parse('https://example.com:8443/a/b?x=1&y=2#h', true); return [u.hostname, u.port, u.pathname, u.query.y, require('querystring').stringify({ a: [1, 2] }), require('util').format('%s=%d', 'n', 5)]; }",
    requireFs: "exports = () => { try { require('fs'); } catch (e) { return e.message; } }",
    assertFails: "exports = () => { require('assert').strictEqual(1, 2); }",
    response: "exports = function (req, res) { res.setStatusCode(201); res.setHeader('X-A', '1'); res.setHeader('X-A', '2'); res.addHeader('X-B', '1'); res.addHeader('X-B', '2'); res.setBody(BSON.Binary.fromHex('0001ff')); return req; }",
    timers: "exports = () => new Promise((resolve) => setTimeout(() => resolve('ticked'), 5));",
  },
  { serviceClients: { echo: echoClient } },
);

afterAll(() => runtime.close());

describe("source forms (spec §2.1)", () => {
  it("C71 accepts `exports = function` and `exports = async function`", async () => {
    expect((await run(app, "plain", [2, 3])).value).toBe(5);
    expect((await run(app, "asyncFn", [21])).value).toBe(42);
  });
  it("accepts named and arrow functions and module.exports", async () => {
    expect((await run(app, "named")).value).toBe("named");
    expect((await run(app, "arrow", [1])).value).toEqual({ x: 1 });
    expect((await run(app, "moduleExports")).value).toBe("module");
  });
  it("C72 accepts `exports = localFn` with helpers in the file", async () => {
    expect((await run(app, "localFn", [1])).value).toBe(2);
  });
  it("reports a syntax error with line and column in the function's own file", async () => {
    const r = await run(app, "syntax");
    expect(r.ok).toBe(false);
    expect(r.error?.kind).toBe("syntax");
    expect(r.error?.message).toContain("functions/syntax.js:2:");
  });
  it("gives a clear error for a source that exports no function", async () => {
    const r = await run(app, "noExport");
    expect(r.error?.kind).toBe("no-export");
    expect(r.error?.message).toMatch(/functions\/noExport\.js does not export a function/);
  });
  it("refuses an unknown function name", async () => {
    const r = await run(app, "doesNotExist");
    expect(r.error?.kind).toBe("not-found");
  });
  it("runs an inline source (run_as_user_id_script_source)", async () => {
    const r = await app.call({ source: { source: 'exports = () => "628e47baf4c2ac2796fc8a91"', file: "run_as_user_id_script_source" } });
    expect(r.value).toBe("628e47baf4c2ac2796fc8a91");
  });
});

describe("errors thrown inside", () => {
  it("arrive as {name, message, stack} pointing at the function's file and line", async () => {
    const r = await run(app, "thrower");
    expect(r.error).toMatchObject({ kind: "threw", name: "TypeError", message: "bad input" });
    expect(r.error?.stack).toContain("functions/thrower.js:2:");
    expect(r.error?.stack).not.toContain("restitch-internal");
  });
  it("covers rejected promises and thrown non-errors", async () => {
    expect((await run(app, "rejecter")).error).toMatchObject({ kind: "threw", message: "async boom" });
    expect((await run(app, "throwString")).error).toMatchObject({ kind: "threw", message: "just a string" });
  });
});

describe("context (spec §2.2)", () => {
  it("C74 C76 C77 C80 C82 builds context from the host bridge", async () => {
    const r = await run(app, "ctx", [], {
      bridge: {
        user: { id: "u1", type: "normal", data: { email: "a@b.c" }, identities: [], custom_data: {} },
        runningAsSystem: false,
        request: { httpMethod: "GET", rawQueryString: "a=1" },
        environment: { tag: "development", values: { color: "blue" } },
        values: (name) => (name === "greeting" ? { hello: "world" } : undefined),
        app: { id: "a", clientAppId: "myapp-abcde" },
      },
    });
    expect(r.value).toMatchObject({
      user: { id: "u1", type: "normal" },
      system: false,
      request: { httpMethod: "GET", rawQueryString: "a=1" },
      env: { tag: "development", values: { color: "blue" } },
      value: { hello: "world" },
      app: { clientAppId: "myapp-abcde" },
      svcMissing: true,
    });
    expect(r.value).not.toHaveProperty("missing");
  });
  it("defaults to the system user when the host gives none", async () => {
    const r = await run(app, "ctx", [], { bridge: { runningAsSystem: true } });
    expect(r.value).toMatchObject({ user: { type: "system" }, system: true, env: { tag: "" } });
  });
  it("C78 C79 functions.execute runs another (also private) function in the same call and user", async () => {
    expect((await run(app, "callsSum")).value).toBe(3);
    expect((await run(app, "callsPrivate")).value).toBe("private result");
    const r = await run(app, "whoami", [], { bridge: { user: { id: "u7", type: "normal" } } });
    expect(r.value).toMatchObject({ user: { id: "u7" } });
  });
  it("functions.execute of an unknown name fails with `function not found`", async () => {
    expect((await run(app, "callsMissing")).error?.message).toBe("function not found: 'nope'");
  });
  it("bounds functions.execute recursion (maxCallDepth)", async () => {
    const r = await run(app, "recurse", [0], { limits: { maxCallDepth: 5 } });
    expect(r.error?.message).toMatch(/nested deeper than 5/);
  });
  it("the host can refuse functions.execute (canExecute)", async () => {
    const r = await run(app, "callsSum", [], { bridge: { canExecute: (n) => { throw new Error(`no ${n} for you`); } } });
    expect(r.error?.message).toBe("no sum for you");
  });
  it("services cross the boundary with BSON types intact, both ways", async () => {
    let seen: unknown[] = [];
    const r = await run(app, "service", [], {
      bridge: { services: { echo: { type: "echo", invoke: async (method, args) => { seen = [method, args]; return { got: args, at: new Date(7), id: new BSON.ObjectId() }; } } } },
    });
    expect(seen[0]).toBe("ping");
    const args = seen[1] as unknown[];
    expect(args[1]).toBeInstanceOf(BSON.ObjectId);
    expect(args[2]).toBeInstanceOf(Date);
    const v = r.value as { got: unknown[]; at: Date; id: BSON.ObjectId };
    expect(v.at).toBeInstanceOf(Date);
    expect(v.id).toBeInstanceOf(BSON.ObjectId);
    expect(r.hostCalls).toBe(1);
  });
  it("a failing service call rejects inside with the host's name, message and code only", async () => {
    const err = Object.assign(new Error("duplicate key"), { name: "DataServiceError", code: "DuplicateKey" });
    const r = await run(app, "serviceFail", [], { bridge: { services: { echo: { type: "echo", invoke: async () => { throw err; } } } } });
    expect(r.value).toEqual(["DataServiceError", "duplicate key", "DuplicateKey"]);
  });
  it("setTimeout is host-driven and bounded by the call", async () => {
    expect((await run(app, "timers")).value).toBe("ticked");
  });
});

describe("utils.crypto, EJSON, BSON (spec §2.4)", () => {
  it("C94 C95 C96 match the documented outputs", async () => {
    const r = await run(app, "crypto");
    expect(r.value).toMatchObject({
      hmac: "SUXd6PRMaTXXgBGaGsIHzaDWgTSa6C3D44lRGrvRak0=",
      hash: "zgYJL7lI2f+sfRo3bkBLJrdXW8wR7gWkYV/vT+w6MIs=",
      decrypted: "MongoDB is great!",
    });
    expect((r.value as { hmacHex: string }).hmacHex).toMatch(/^[0-9a-f]{64}$/);
  });
  it("C97 encrypt/decrypt round-trips with a 12-byte nonce and 16-byte tag", async () => {
    const r = await run(app, "roundTrip", ["MongoDB is great!", "603082712271C525E087BD999A4E0738"]);
    expect(r.value).toEqual({ len: 17 + 28, back: "MongoDB is great!", differs: true });
  });
  it("signs and verifies RSA (PKCS#1 keys) with pss and pkcs1v15", async () => {
    const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048, privateKeyEncoding: { type: "pkcs1", format: "pem" }, publicKeyEncoding: { type: "pkcs1", format: "pem" } });
    expect((await run(app, "rsa", [privateKey, publicKey])).value).toEqual([true, false, true]);
  });
  it("rejects unsupported algorithms with a clear message", async () => {
    expect((await run(app, "badCrypto")).value).toBe('hash algorithm must be one of "sha1", "sha256", "sha512"');
  });
  it("C100 utils.jwt encode/decode round-trips and checks the signature", async () => {
    const r = await run(app, "jwt");
    expect(r.value).toEqual([{ sub: "42", n: 1 }, "HS256", "signature is invalid"]);
  });
  it("C93 C99 EJSON.parse gives ObjectId; JSON renders it as hex", async () => {
    const r = await run(app, "ejson", ['{"_id":{"$oid":"5e58667d902d38559c802b13"}}']);
    expect(r.value).toEqual({ isOid: true, hex: "5e58667d902d38559c802b13", json: '{"id":"5e58667d902d38559c802b13"}', canon: '{"n":{"$numberInt":"42"},"d":{"$date":{"$numberLong":"1583167607977"}}}' });
  });
  it("C98 BSON helpers as App Services documents them", async () => {
    expect((await run(app, "bsonTypes")).value).toEqual({ b64: "hello world", oid: "5e58667d902d38559c802b13", int32: 42, long: "4294967297", dec: "9823.1297", re: "^H" });
  });
});

describe("BSON fidelity across the boundary", () => {
  it("every BSON type arrives inside as the same type and comes back as the same type", async () => {
    const values = [
      new BSON.ObjectId("5e58667d902d38559c802b13"),
      new Date(1683248523456),
      new BSON.Binary(Buffer.from([1, 2, 3]), 5),
      BSON.Decimal128.fromString("9823.1297"),
      BSON.Long.fromString("9007199254740993"),
      new BSON.Int32(7),
      new BSON.Double(1),
      new BSON.Timestamp({ t: 5, i: 6 }),
      new BSON.BSONRegExp("^H", "i"),
      /ab+c/gi,
      new BSON.MinKey(),
      new BSON.MaxKey(),
      "s",
      1.5,
      null,
      { nested: [new BSON.ObjectId("5e58667d902d38559c802b13")] },
    ];
    const r = await run(app, "mirror", values);
    expect(r.ok).toBe(true);
    const out = r.value as [string, unknown][];
    expect(out.map(([t]) => t)).toEqual(["ObjectId", "Date", "Binary", "Decimal128", "Long", "Int32", "Double", "Timestamp", "BSONRegExp", "RegExp", "MinKey", "MaxKey", "string", "number", "null", "object"]);
    expect(out[0]![1]).toBeInstanceOf(BSON.ObjectId);
    expect((out[0]![1] as BSON.ObjectId).toHexString()).toBe("5e58667d902d38559c802b13");
    expect(out[1]![1]).toEqual(new Date(1683248523456));
    expect((out[2]![1] as BSON.Binary).sub_type).toBe(5);
    expect(Buffer.from((out[2]![1] as BSON.Binary).buffer)).toEqual(Buffer.from([1, 2, 3]));
    expect((out[3]![1] as BSON.Decimal128).toString()).toBe("9823.1297");
    expect((out[4]![1] as BSON.Long).toString()).toBe("9007199254740993");
    expect(out[5]![1]).toBeInstanceOf(BSON.Int32);
    expect(out[6]![1]).toBeInstanceOf(BSON.Double);
    expect(out[7]![1]).toBeInstanceOf(BSON.Timestamp);
    expect(out[8]![1]).toBeInstanceOf(BSON.BSONRegExp);
    expect(out[9]![1]).toEqual(/ab+c/gi);
    expect(out[10]![1]).toBeInstanceOf(BSON.MinKey);
    expect(out[11]![1]).toBeInstanceOf(BSON.MaxKey);
    expect(out[15]![1]).toEqual({ nested: [new BSON.ObjectId("5e58667d902d38559c802b13")] });
  });
});

describe("values that only look tagged", () => {
  it("a plain object shaped like a broken tagged value comes back as that plain object, sync or after an await (found by test/fuzz: it threw on the host, and after an await crashed the process)", async () => {
    const { runtime: rt, app: a } = appWith({
      sync: "exports = () => [{ $oid: 'zz' }, { $numberLong: null }, { $binary: 1 }, { $timestamp: null }, { $numberDecimal: 'x' }];",
      later: "exports = async () => { await new Promise((r) => setTimeout(r, 1)); return { $oid: 'zz' }; };",
      echo: "exports = (v) => v;",
    });
    expect((await run(a, "sync")).value).toEqual([{ $oid: "zz" }, { $numberLong: null }, { $binary: 1 }, { $timestamp: null }, { $numberDecimal: "x" }]);
    expect((await run(a, "later")).value).toEqual({ $oid: "zz" });
    expect((await run(a, "echo", [{ $oid: 5, x: 1 }])).value).toEqual({ $oid: 5, x: 1 }); // host to guest too
    await rt.close();
  });
});

describe("host answers the codec must carry", () => {
  const client = `(function (invoke) { return { get: (...a) => invoke("get", a) }; })`;
  const answering = (value: () => unknown) => ({ services: { svc: { type: "svc", invoke: async () => value() } } });
  it("a DBRef in a service answer (as the driver returns stored {$ref, $id}) arrives as a DBRef and goes back (it crashed the worker: unhandled rejection)", async () => {
    const { runtime: rt, app: a } = appWith(
      { f: "exports = async () => { const d = await context.services.get('svc').get(); return [d instanceof BSON.DBRef, d.collection, d.oid.toHexString(), d]; };" },
      { serviceClients: { svc: client } },
    );
    const oid = new BSON.ObjectId();
    const r = await run(a, "f", [], { bridge: answering(() => new BSON.DBRef("people", oid, "db1")) });
    expect(r.value).toEqual([true, "people", oid.toHexString(), new BSON.DBRef("people", oid, "db1")]);
    await rt.close();
  });
  it("a service answer the codec cannot write becomes the call's error, not a process crash", async () => {
    const { runtime: rt, app: a } = appWith(
      { f: "exports = async () => { try { await context.services.get('svc').get(); return 'no error'; } catch (e) { return e.message; } };" },
      { serviceClients: { svc: client } },
    );
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect((await run(a, "f", [], { bridge: answering(() => cyclic) })).value).toMatch(/nested too deeply|cyclic/);
    await rt.close();
  });
});

describe("console, require, response", () => {
  it("captures console output per call and returns it to the host", async () => {
    const r = await run(app, "logs");
    expect(r.logs).toEqual(['a 1 {"b":2}', "ERROR: bad", 'WARN: {"$oid":"5e58667d902d38559c802b13"}']);
  });
  it("caps console output at maxLogBytes and counts what it dropped", async () => {
    const r = await run(app, "bigLogs", [], { limits: { maxLogBytes: 1000 } });
    expect(r.value).toBe("done");
    expect(r.logs.join("").length).toBeLessThanOrEqual(1000);
    expect(r.logsDropped).toBe(1000 - r.logs.length);
  });
  it("C73 require() offers assert, url, querystring, util", async () => {
    expect((await run(app, "requires")).value).toEqual(["example.com", "8443", "/a/b", "2", "a=1&a=2", "n=5"]);
    expect((await run(app, "assertFails")).error).toMatchObject({ name: "AssertionError" });
  });
  it("require() of anything else is a clear error, never a host module", async () => {
    expect((await run(app, "requireFs")).value).toMatch(/^Cannot find module 'fs': Restitch provides assert, events, querystring, url, util/);
  });
  it("records the response object's calls (setHeader replaces, addHeader appends, Binary body)", async () => {
    const r = await run(app, "response", [{ query: {} }], { httpResponse: true });
    expect(r.response?.statusCode).toBe(201);
    expect(r.response?.headers).toEqual({ "X-A": ["2"], "X-B": ["1", "2"] });
    expect(Buffer.from(r.response!.body!)).toEqual(Buffer.from([0, 1, 255]));
  });
});

describe("per call, the host gets", () => {
  it("the value, logs, CPU time, wall time and host-call count", async () => {
    const r = await run(app, "plain", [1, 2]);
    expect(r).toMatchObject({ ok: true, value: 3, logs: [], hostCalls: 0 });
    expect(r.cpuTimeMs).toBeGreaterThan(0);
    expect(r.wallTimeMs).toBeGreaterThanOrEqual(r.cpuTimeMs * 0.5);
  });
});
