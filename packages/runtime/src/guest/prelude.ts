// @ts-nocheck -- guest code: runs in a bare V8 realm, typed loosely on purpose
/**
 * Code that runs INSIDE each isolate, once, before any tenant code. It is serialized with
 * Function.prototype.toString, so every function here must be self-contained (no imports, no
 * references to module scope). It builds the App Services globals, keeps per-call state, then
 * hardens the realm: intrinsics frozen, WebAssembly removed, the global object frozen.
 *
 * Host interface (set as globals by the host, captured and deleted here):
 *   __restitch_host.sync(callId, op, payload) -> "1"+encoded | "0"+errorJson   (synchronous host ops)
 *   __restitch_host.start(callId, reqId, op, payload, reqId, op, payload, …)   (async host ops asked for in one
 *                                                                              turn of microtasks; answers via settle)
 *   __restitch_host.done(callId, kind, value, logsJson, responseJson)          (a call finished)
 * Returns the entry points the host keeps References to: {run, settle, define}; settle takes
 * (callId, reqId, ok, payload, reqId, ok, payload, …), every answer that arrived since the last one.
 */
export function guestPrelude(host: any, BSON: any, makeCodec: any, serviceClientSources: Record<string, string>, modulesSource: string, bytes: any): any {
  "use strict";
  const codec = makeCodec(BSON, bytes);
  const hostSync = host.sync;
  const hostStart = host.start;
  const hostDone = host.done;
  const JSONstringify = JSON.stringify;
  const JSONparse = JSON.parse;
  const MapCtor = Map;
  const PromiseCtor = Promise;
  const ObjectCreate = Object.create;

  // ---- the call running now ------------------------------------------------------------------------
  // An isolate runs one call at a time, and a finished call's code can never run again: its pending host
  // answers are dropped, its timers cleared, and its microtasks ran before its slice ended. So the
  // shared `utils`, `console`, `require`, timers and context services below act for `current`.
  let current = null;
  function cur() {
    if (current === null || current.closed) throw new Error("this call has already finished");
    return current;
  }

  // ---- host calls ---------------------------------------------------------------------------------
  function callSync(op, args) {
    const state = cur();
    const out = hostSync(state.id, op, codec.encode(args));
    if (out.charCodeAt(0) === 49 /* "1" */) return codec.decode(out.slice(1));
    const e = JSONparse(out.slice(1));
    const err = new (e.name === "TypeError" ? TypeError : Error)(e.message);
    throw err;
  }

  // Async host ops go to the host in batches, one per turn of microtasks: `Promise.all` of 500 queries is
  // one crossing instead of 500 (from isolated-vm's threads each crossing is a task on the event loop).
  const resolvedPromise = PromiseCtor.resolve();
  function callAsync(op, args) {
    const state = cur();
    const reqId = ++state.nextReq;
    return new PromiseCtor((resolve, reject) => {
      state.pending.set(reqId, { resolve, reject });
      const starts = state.starts;
      starts.push(reqId, op, codec.encode(args));
      if (starts.length === 3) resolvedPromise.then(() => flushStarts(state));
    });
  }
  function flushStarts(state) {
    const starts = state.starts;
    state.starts = [];
    if (!state.closed) hostStart(state.id, ...starts);
  }

  // ---- BSON / EJSON as App Services exposes them ---------------------------------------------------
  const EJSONglobal = {
    parse(text, options) {
      return BSON.EJSON.parse(text, { relaxed: true, ...(options || {}) });
    },
    stringify(value, replacer, space, options) {
      // App Services' EJSON.stringify is canonical by default (docs: 42 -> {"$numberLong":"42"} in old
      // builds; {"$numberInt":"42"} here, matching the bson library's canonical mode).
      if (replacer && typeof replacer === "object" && !Array.isArray(replacer)) return BSON.EJSON.stringify(value, { relaxed: false, ...replacer });
      return BSON.EJSON.stringify(value, replacer, space, { relaxed: false, ...(options || {}) });
    },
    serialize(value, options) {
      return BSON.EJSON.serialize(value, { relaxed: false, ...(options || {}) });
    },
    deserialize(value, options) {
      return BSON.EJSON.deserialize(value, { relaxed: true, ...(options || {}) });
    },
  };

  // Callable without `new` (docs call BSON.Int32(42)), and Binary gets App Services' helpers.
  function callable(Cls) {
    const f = function (...args) {
      return new Cls(...args);
    };
    Object.defineProperty(f, "name", { value: Cls.name });
    f.prototype = Cls.prototype;
    for (const k of Object.getOwnPropertyNames(Cls)) {
      if (k === "prototype" || k === "length" || k === "name") continue;
      const d = Object.getOwnPropertyDescriptor(Cls, k);
      if (d && typeof d.value === "function") f[k] = d.value.bind(Cls);
      else if (d && !d.set && !d.get) Object.defineProperty(f, k, { get: () => Cls[k] });
    }
    Object.defineProperty(f, Symbol.hasInstance, { value: (v) => v instanceof Cls });
    return f;
  }
  const Binary = BSON.Binary;
  Binary.fromHex = function (hex, subType) {
    return Binary.createFromHexString(hex, subType || 0);
  };
  Binary.fromBase64 = function (b64, subType) {
    return new Binary(bytes.base64ToBytes(b64), subType || 0);
  };
  Binary.prototype.toHex = function () {
    return this.toString("hex");
  };
  Binary.prototype.toBase64 = function () {
    return bytes.bytesToBase64(this.buffer.subarray(0, this.position));
  };
  const utf8 = new TextDecoder();
  Binary.prototype.text = function () {
    return utf8.decode(this.buffer.subarray(0, this.position));
  };
  const BSONglobal = {};
  for (const name of ["ObjectId", "BSONRegExp", "Binary", "MaxKey", "MinKey", "Int32", "Long", "Double", "Decimal128", "Timestamp", "Code", "DBRef", "UUID", "BSONSymbol"]) {
    if (BSON[name]) BSONglobal[name] = callable(BSON[name]);
  }
  BSONglobal.ObjectID = BSONglobal.ObjectId;
  BSONglobal.EJSON = EJSONglobal;
  BSONglobal.serialize = BSON.serialize;
  BSONglobal.deserialize = BSON.deserialize;
  BSONglobal.calculateObjectSize = BSON.calculateObjectSize;

  // ---- per-call state -------------------------------------------------------------------------------
  const functions = new MapCtor(); // name -> {factory, file}
  const serviceFactories = new MapCtor();
  for (const type of Object.keys(serviceClientSources)) {
    serviceFactories.set(type, (0, eval)(serviceClientSources[type]));
  }
  const states = new MapCtor(); // callId -> state (several while a finished call's leftovers linger)

  function formatLogArg(v) {
    if (typeof v === "string") return v;
    if (v instanceof Error) return v.stack || String(v);
    try {
      const s = BSON.EJSON.stringify(v, { relaxed: true });
      return s === undefined ? String(v) : s;
    } catch {
      try {
        return String(v);
      } catch {
        return "[unprintable]";
      }
    }
  }

  const CONSOLE = {};
  for (const level of ["log", "info", "warn", "error", "debug", "trace"]) {
    CONSOLE[level] = function (...args) {
      const state = current;
      if (state === null || state.closed) return;
      let line = args.map(formatLogArg).join(" ");
      if (level !== "log") line = `${level.toUpperCase()}: ${line}`;
      if (state.logBytes + line.length > state.maxLogBytes) {
        state.logsDropped++;
        return;
      }
      state.logBytes += line.length;
      state.logs.push(line);
    };
  }

  function makeResponse() {
    // No prototype: a header named __proto__ is kept like any other.
    const rec = { statusCode: undefined, headers: ObjectCreate(null), body: undefined };
    const response = {
      setStatusCode(code) {
        if (typeof code !== "number" || !Number.isInteger(code) || code < 100 || code > 999) throw new TypeError("setStatusCode: code must be an integer HTTP status");
        rec.statusCode = code;
      },
      setBody(body) {
        if (typeof body === "string") rec.body = body;
        // Bytes are copied now into a fresh Uint8Array: the host-bound encoder at the call's end must not
        // run tenant code (a fake Binary's getters, a Binary mutated after setBody).
        else if (body instanceof Binary) rec.body = new Uint8Array(body.buffer.subarray(0, body.position));
        else if (body instanceof Uint8Array) rec.body = new Uint8Array(body);
        else throw new TypeError("setBody: body must be a string or BSON.Binary");
      },
      setHeader(name, value) {
        rec.headers[String(name)] = [String(value)];
      },
      addHeader(name, value) {
        const k = String(name);
        (rec.headers[k] || (rec.headers[k] = [])).push(String(value));
      },
    };
    return { response, rec };
  }

  function encodeResponse(rec) {
    let body = null;
    if (typeof rec.body === "string") body = { text: rec.body };
    else if (rec.body) body = { base64: bytes.bytesToBase64(rec.body) };
    return JSONstringify({ statusCode: rec.statusCode === undefined ? null : rec.statusCode, headers: rec.headers, body });
  }

  // An error's text goes to the host and its message to the HTTP caller: bounded like logs and results.
  const MAX_ERROR_TEXT = 16 * 1024;
  function clip(s) {
    return s.length > MAX_ERROR_TEXT ? `${s.slice(0, MAX_ERROR_TEXT)}… (${s.length - MAX_ERROR_TEXT} more characters)` : s;
  }

  function errorInfo(e) {
    try {
      if (e instanceof Error || (e && typeof e === "object" && "message" in e)) {
        const name = clip(String(e.name || "Error"));
        const message = clip(String(e.message));
        let stack = typeof e.stack === "string" ? e.stack : `${name}: ${message}`;
        // Keep the tenant's frames only.
        stack = stack
          .split("\n")
          .filter((l) => !l.includes("restitch-internal") && !l.includes("<isolated-vm"))
          .map(clip)
          .join("\n");
        return { name, message, stack: clip(stack) };
      }
      return { name: "Error", message: clip(String(e)) };
    } catch {
      return { name: "Error", message: "a value was thrown that cannot be described" };
    }
  }

  const modules = (0, eval)(modulesSource)(BSON);

  function instantiate(entry, context, gt) {
    const module = { exports: {} };
    const initial = module.exports;
    const [exp, modExp] = entry.factory.call(undefined, undefined, module, REQUIRE, context, UTILS, CONSOLE, gt, gt, setTimeoutFn, clearTimeoutFn, setImmediateFn);
    if (typeof exp === "function") return exp;
    if (modExp !== initial && typeof modExp === "function") return modExp;
    const e = new Error(`${entry.file} does not export a function: assign one to \`exports\` (exports = function (...) { ... })`);
    e.name = "FunctionExportError";
    e.kind = "no-export";
    throw e;
  }

  const UTILS = {
    crypto: {
      encrypt: (...a) => callSync("crypto.encrypt", a),
      decrypt: (...a) => callSync("crypto.decrypt", a),
      sign: (...a) => callSync("crypto.sign", a),
      verify: (...a) => callSync("crypto.verify", a),
      hmac: (...a) => callSync("crypto.hmac", a),
      hash: (...a) => callSync("crypto.hash", a),
    },
    jwt: {
      encode: (...a) => callSync("jwt.encode", a),
      decode: (...a) => callSync("jwt.decode", a),
    },
  };

  function REQUIRE(name) {
    if (typeof name !== "string") throw new TypeError("require: module name must be a string");
    const m = modules[name.startsWith("node:") ? name.slice(5) : name];
    if (m) return m;
    const e = new Error(`Cannot find module '${name}': Restitch provides ${Object.keys(modules).sort().join(", ")} (npm packages and other Node built-ins are not available)`);
    e.code = "MODULE_NOT_FOUND";
    throw e;
  }

  function setTimeoutFn(fn, ms, ...args) {
    if (typeof fn !== "function") throw new TypeError("setTimeout: callback must be a function");
    const state = cur();
    const id = ++state.timerSeq;
    state.timers.set(id, true);
    callAsync("timer", [Number(ms) || 0]).then(
      () => {
        if (state.timers.delete(id) && !state.closed) fn(...args);
      },
      () => state.timers.delete(id),
    );
    return id;
  }
  function clearTimeoutFn(id) {
    if (current !== null) current.timers.delete(id);
  }
  function setImmediateFn(fn, ...args) {
    return setTimeoutFn(fn, 0, ...args);
  }

  /** The call's context data (user, request, …), decoded on first use: most handlers never look. */
  function meta(state) {
    if (state.meta === undefined) state.meta = codec.decode(state.metaText);
    return state.meta;
  }

  const SERVICES = {
    get(name) {
      const state = cur();
      const m = meta(state);
      const type = m.services && Object.prototype.hasOwnProperty.call(m.services, name) ? m.services[name] : undefined;
      if (type === undefined) return undefined;
      let client = state.clients.get(name);
      if (client === undefined) {
        const factory = serviceFactories.get(type);
        if (!factory) return undefined;
        client = factory((method, args) => callAsync("service", [name, method, args]), BSONglobal);
        state.clients.set(name, client);
      }
      return client;
    },
  };

  const FUNCTIONS = {
    execute(name, ...args) {
      if (typeof name !== "string") throw new TypeError("context.functions.execute: name must be a string");
      const state = cur();
      const entry = functions.get(name);
      if (!entry) {
        const e = new Error(`function not found: '${name}'`);
        e.name = "FunctionNotFound";
        throw e;
      }
      if (state.depth >= state.maxCallDepth) throw new RangeError(`context.functions.execute nested deeper than ${state.maxCallDepth}`);
      if (meta(state).checkExecute) callSync("functions.canExecute", [name]);
      state.depth++;
      let result;
      try {
        result = instantiate(entry, state.context, state.globalThis)(...args);
      } finally {
        if (!(result && typeof result.then === "function")) state.depth--;
      }
      if (result && typeof result.then === "function") {
        return PromiseCtor.resolve(result).finally(() => {
          state.depth--;
        });
      }
      return result;
    },
  };

  const VALUES = { get: (name) => callSync("values.get", [name]) };

  // context: a fresh object per call whose data parts are decoded when first read, then kept as the
  // call's own (mutable) properties.
  const CONTEXT_PROTO = {};
  const SYSTEM_USER = () => ({ id: "", type: "system", data: {}, identities: [], custom_data: {} });
  for (const [key, fallback] of [["app", () => ({})], ["user", SYSTEM_USER], ["request", () => ({})], ["environment", () => ({ tag: "", values: {} })]]) {
    Object.defineProperty(CONTEXT_PROTO, key, {
      get() {
        const v = meta(cur())[key] ?? fallback();
        Object.defineProperty(this, key, { value: v, writable: true, enumerable: true, configurable: true });
        return v;
      },
      set(v) {
        Object.defineProperty(this, key, { value: v, writable: true, enumerable: true, configurable: true });
      },
      enumerable: true,
    });
  }
  CONTEXT_PROTO.values = VALUES;
  CONTEXT_PROTO.services = SERVICES;
  CONTEXT_PROTO.functions = FUNCTIONS;
  CONTEXT_PROTO.runningAsSystem = function () {
    return meta(cur()).runningAsSystem === true;
  };

  function finish(state, kind, value) {
    if (state.closed) return;
    state.closed = true;
    // Pending host calls are dropped, not rejected: the finished call's leftovers simply never resume.
    state.pending.clear();
    states.delete(state.id);
    let out;
    if (kind === "ok") {
      try {
        out = codec.encode(value, state.maxResultBytes);
      } catch (e) {
        if (e instanceof RangeError && typeof e.stringChars === "number") {
          kind = "result-size";
          out = JSONstringify({ name: "ResultTooLarge", message: `the function's return value holds a string of ${e.stringChars} characters, over the limit of ${state.maxResultBytes} bytes` });
        } else {
          kind = "unserializable";
          out = JSONstringify({ name: "UnserializableResult", message: `the function's return value cannot be serialized: ${errorInfo(e).message}` });
        }
      }
      if (kind === "ok" && out.length > state.maxResultBytes) {
        kind = "result-size";
        out = JSONstringify({ name: "ResultTooLarge", message: `the function's return value is ${out.length} bytes, over the limit of ${state.maxResultBytes}` });
      }
    } else {
      out = JSONstringify(value);
    }
    const logs = state.logs.length === 0 && state.logsDropped === 0 ? "" : JSONstringify({ logs: state.logs, dropped: state.logsDropped });
    let response = "";
    if (state.rec) {
      // A body set with setBody is bounded like a returned value: both are copied into the host.
      const size = state.rec.body === undefined ? 0 : state.rec.body.length;
      if (size > state.maxResultBytes) {
        kind = "result-size";
        out = JSONstringify({ name: "ResultTooLarge", message: `the response body is ${size} bytes, over the limit of ${state.maxResultBytes}` });
      } else response = encodeResponse(state.rec);
    }
    hostDone(state.id, kind, out, logs, response);
  }

  /** Ends a call with what it threw. Reading a thrown value may run its getters or Proxy traps, so nothing here may throw. */
  function failed(state, e) {
    let noExport = false;
    try {
      noExport = e !== null && typeof e === "object" && e.kind === "no-export";
    } catch {}
    finish(state, noExport ? "no-export" : "threw", errorInfo(e));
  }

  function run(factoryOrName, callId, argsText, metaText, file, httpResponse, maxLogBytes, maxResultBytes, maxCallDepth) {
    const state = {
      id: callId,
      closed: false,
      nextReq: 0,
      pending: new MapCtor(),
      starts: [],
      clients: new MapCtor(),
      timers: new MapCtor(),
      timerSeq: 0,
      logs: [],
      logBytes: 0,
      logsDropped: 0,
      depth: 0,
      maxLogBytes,
      maxResultBytes,
      maxCallDepth,
      metaText,
      meta: undefined,
      rec: undefined,
      context: ObjectCreate(CONTEXT_PROTO),
      globalThis: ObjectCreate(globalThis),
    };
    states.set(callId, state);
    current = state;
    try {
      const args = argsText ? codec.decode(argsText) : [];
      if (httpResponse) {
        const { response, rec } = makeResponse();
        state.rec = rec;
        args.push(response);
      }
      const entry = typeof factoryOrName === "string" ? functions.get(factoryOrName) : { factory: factoryOrName, file };
      if (!entry) {
        finish(state, "not-found", { name: "FunctionNotFound", message: `function not found: '${factoryOrName}'` });
        return;
      }
      const fn = instantiate(entry, state.context, state.globalThis);
      const result = fn(...args);
      if (result !== null && (typeof result === "object" || typeof result === "function") && typeof result.then === "function") {
        PromiseCtor.resolve(result).then(
          (v) => finish(state, "ok", v),
          (e) => failed(state, e),
        );
      } else {
        finish(state, "ok", result);
      }
    } catch (e) {
      failed(state, e);
    }
  }

  function settle(callId) {
    const state = states.get(callId);
    if (!state) return; // the call finished; its late answers go nowhere
    current = state;
    for (let i = 1; i + 2 < arguments.length; i += 3) answer(state, arguments[i], arguments[i + 1], arguments[i + 2]);
  }
  function answer(state, reqId, ok, payload) {
    const p = state.pending.get(reqId);
    if (!p) return;
    state.pending.delete(reqId);
    if (ok) p.resolve(codec.decode(payload));
    else {
      const e = JSONparse(payload);
      const err = new Error(e.message);
      if (e.name) err.name = e.name;
      if (e.code !== undefined) err.code = e.code;
      p.reject(err);
    }
  }

  function define(name, factory, file) {
    functions.set(name, { factory, file });
  }

  // ---- the realm's globals, then hardening -------------------------------------------------------
  Object.defineProperty(globalThis, "BSON", { value: BSONglobal, enumerable: false });
  Object.defineProperty(globalThis, "EJSON", { value: EJSONglobal, enumerable: false });
  for (const k of ["WebAssembly", "SharedArrayBuffer", "__restitch_host", "__restitch_bootstrap"]) {
    try {
      delete globalThis[k];
    } catch {}
  }
  // gc: there when the host runs with --expose-gc (V8 flags reach every isolate), full collections on
  // demand. V8 makes it non-configurable but writable: overwritten, and the global is frozen below.
  if (typeof globalThis.gc === "function") globalThis.gc = undefined;
  // RegExp's legacy statics (RegExp.$1, lastMatch, …) hold the realm's last match: one call's data for
  // the next call to read. Remove them.
  for (const k of ["$1", "$2", "$3", "$4", "$5", "$6", "$7", "$8", "$9", "input", "$_", "lastMatch", "$&", "lastParen", "$+", "leftContext", "$`", "rightContext", "$'"]) {
    try {
      delete RegExp[k];
    } catch {}
  }
  // isolated-vm's own helpers must not stay reachable from tenant code.
  for (const k of Object.getOwnPropertyNames(globalThis)) {
    if (k.startsWith("__restitch") || k === "_ivm") {
      try {
        delete globalThis[k];
      } catch {}
    }
  }

  // "Override mistake": with frozen prototypes, `obj.toString = f` would fail; turn the commonly
  // overridden data properties into accessors that define an own property instead.
  function tame(proto, names) {
    for (const name of names) {
      const d = Object.getOwnPropertyDescriptor(proto, name);
      if (!d || !("value" in d)) continue;
      const value = d.value;
      Object.defineProperty(proto, name, {
        get() {
          return value;
        },
        set(v) {
          if (this === proto) throw new TypeError(`Cannot assign to read only property '${String(name)}' of shared prototype`);
          Object.defineProperty(this, name, { value: v, writable: true, enumerable: true, configurable: true });
        },
        enumerable: d.enumerable,
        configurable: false,
      });
    }
  }
  tame(Object.prototype, ["toString", "valueOf", "constructor", "toLocaleString", "hasOwnProperty", "isPrototypeOf", "propertyIsEnumerable"]);
  tame(Error.prototype, ["name", "message", "toString", "constructor"]);
  tame(Function.prototype, ["toString", "constructor"]);
  tame(Array.prototype, ["toString", "constructor"]);

  const mutableStatics = new Set(["index"]); // bson's ObjectId counter
  // bson sets ObjectId.PROCESS_UNIQUE on the first generated id; once frozen it could never be set, and
  // `new BSON.ObjectId()` would throw in every call. Generate one now.
  new BSON.ObjectId();
  const seen = new Set();
  function harden(root) {
    const stack = [root];
    while (stack.length) {
      const o = stack.pop();
      if (o === null || (typeof o !== "object" && typeof o !== "function") || seen.has(o)) continue;
      // A typed array's elements cannot be frozen (ObjectId.PROCESS_UNIQUE is the only one reached).
      if (ArrayBuffer.isView(o)) continue;
      seen.add(o);
      for (const key of Reflect.ownKeys(o)) {
        const d = Object.getOwnPropertyDescriptor(o, key);
        if (!d) continue;
        if ("value" in d) stack.push(d.value);
        else {
          stack.push(d.get);
          stack.push(d.set);
        }
        if (typeof o === "function" && mutableStatics.has(key) && "value" in d) {
          Object.defineProperty(o, key, { configurable: false });
          continue;
        }
        if (d.configurable || ("value" in d && d.writable)) {
          Object.defineProperty(o, key, "value" in d ? { configurable: false, writable: false } : { configurable: false });
        }
      }
      Object.preventExtensions(o);
      stack.push(Object.getPrototypeOf(o));
    }
  }
  const hiddenIntrinsics = [
    Object.getPrototypeOf(async function () {}),
    Object.getPrototypeOf(function* () {}),
    Object.getPrototypeOf(async function* () {}),
    Object.getPrototypeOf([][Symbol.iterator]()),
    Object.getPrototypeOf(new MapCtor().entries()),
    Object.getPrototypeOf(new Set().entries()),
    Object.getPrototypeOf(""[Symbol.iterator]()),
    Object.getPrototypeOf("a".matchAll(/a/g)),
    Object.getPrototypeOf(Uint8Array),
    BSON,
    modules,
    // Shared by every call of this isolate and handed in as wrapper parameters, not globals: frozen
    // here, or one call could patch them to watch the calls after it.
    UTILS,
    CONSOLE,
    REQUIRE,
    CONTEXT_PROTO,
    setTimeoutFn,
    clearTimeoutFn,
    setImmediateFn,
  ];
  for (const o of hiddenIntrinsics) harden(o);
  harden(globalThis);

  return { run, settle, define };
}
