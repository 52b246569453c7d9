// @ts-nocheck -- guest code: the require() modules, written for a bare V8 realm
/**
 * The built-in modules `require()` offers inside functions (spec §2.1 names the Node built-ins App
 * Services allowed; these are the pure ones, implemented inside the isolate — never a host module).
 * Self-contained: serialized with Function.prototype.toString.
 */
export function guestModules(BSON: any): Record<string, unknown> {
  "use strict";
  function isDeepEqual(a, b, strict) {
    if (strict ? Object.is(a, b) : a == b) return true;
    if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return false;
    if (strict && Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
    if (a instanceof Date && b instanceof Date) return a.getTime() === b.getTime();
    if (a instanceof RegExp && b instanceof RegExp) return String(a) === String(b);
    if (a._bsontype && a._bsontype === b._bsontype && typeof a.equals === "function") return a.equals(b);
    if (Array.isArray(a) !== Array.isArray(b)) return false;
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    if (ka.length !== kb.length) return false;
    for (const k of ka) if (!Object.prototype.hasOwnProperty.call(b, k) || !isDeepEqual(a[k], b[k], strict)) return false;
    return true;
  }
  function inspect(v) {
    if (typeof v === "string") return `'${v}'`;
    try {
      const s = BSON.EJSON.stringify(v, { relaxed: true });
      return s === undefined ? String(v) : s;
    } catch {
      return String(v);
    }
  }

  class AssertionError extends Error {
    constructor(options) {
      super(options.message);
      this.name = "AssertionError";
      this.code = "ERR_ASSERTION";
      this.actual = options.actual;
      this.expected = options.expected;
      this.operator = options.operator;
    }
  }
  function fail(actual, expected, message, operator, defaultMsg) {
    if (message instanceof Error) throw message;
    throw new AssertionError({ message: message !== undefined ? String(message) : defaultMsg, actual, expected, operator });
  }
  function assert(value, message) {
    if (!value) fail(value, true, message, "==", `The expression evaluated to a falsy value: ${inspect(value)}`);
  }
  Object.assign(assert, {
    AssertionError,
    ok: assert,
    fail: (message) => fail(undefined, undefined, message ?? "Failed", "fail", "Failed"),
    equal: (a, b, m) => a == b || fail(a, b, m, "==", `${inspect(a)} == ${inspect(b)}`),
    notEqual: (a, b, m) => a != b || fail(a, b, m, "!=", `${inspect(a)} != ${inspect(b)}`),
    strictEqual: (a, b, m) => Object.is(a, b) || fail(a, b, m, "strictEqual", `Expected values to be strictly equal: ${inspect(a)} !== ${inspect(b)}`),
    notStrictEqual: (a, b, m) => !Object.is(a, b) || fail(a, b, m, "notStrictEqual", `Expected "actual" to be strictly unequal to: ${inspect(b)}`),
    deepEqual: (a, b, m) => isDeepEqual(a, b, false) || fail(a, b, m, "deepEqual", `Expected values to be loosely deep-equal: ${inspect(a)} and ${inspect(b)}`),
    deepStrictEqual: (a, b, m) => isDeepEqual(a, b, true) || fail(a, b, m, "deepStrictEqual", `Expected values to be strictly deep-equal: ${inspect(a)} and ${inspect(b)}`),
    notDeepStrictEqual: (a, b, m) => !isDeepEqual(a, b, true) || fail(a, b, m, "notDeepStrictEqual", "Expected values not to be strictly deep-equal"),
    throws(fn, expected, message) {
      try {
        fn();
      } catch (e) {
        if (typeof expected === "function" && expected.prototype !== undefined && !(e instanceof expected)) throw e;
        if (expected instanceof RegExp && !expected.test(String(e && e.message))) fail(e, expected, message, "throws", `The error message does not match ${expected}`);
        return;
      }
      fail(undefined, expected, typeof expected === "string" ? expected : message, "throws", "Missing expected exception.");
    },
    doesNotThrow(fn, message) {
      try {
        fn();
      } catch (e) {
        fail(e, undefined, message, "doesNotThrow", `Got unwanted exception: ${e && e.message}`);
      }
    },
    async rejects(p, expected, message) {
      try {
        await (typeof p === "function" ? p() : p);
      } catch (e) {
        if (typeof expected === "function" && expected.prototype !== undefined && !(e instanceof expected)) throw e;
        return;
      }
      fail(undefined, expected, message, "rejects", "Missing expected rejection.");
    },
    match: (s, re, m) => re.test(s) || fail(s, re, m, "match", `The input did not match the regular expression ${re}`),
  });
  assert.strict = assert;

  function format(f, ...args) {
    if (typeof f !== "string") return [f, ...args].map((a) => (typeof a === "string" ? a : inspect(a))).join(" ");
    let i = 0;
    let out = f.replace(/%[sdifjoO%]/g, (m) => {
      if (m === "%%") return "%";
      if (i >= args.length) return m;
      const a = args[i++];
      switch (m) {
        case "%s":
          return typeof a === "string" ? a : String(a);
        case "%d":
        case "%i":
          return String(m === "%i" ? parseInt(a, 10) : Number(a));
        case "%f":
          return String(parseFloat(a));
        default:
          return inspect(a);
      }
    });
    for (; i < args.length; i++) out += " " + (typeof args[i] === "string" ? args[i] : inspect(args[i]));
    return out;
  }
  const util = {
    format,
    inspect,
    isDeepStrictEqual: (a, b) => isDeepEqual(a, b, true),
    promisify: (fn) => (...args) => new Promise((resolve, reject) => fn(...args, (err, v) => (err ? reject(err) : resolve(v)))),
    types: { isDate: (v) => v instanceof Date, isRegExp: (v) => v instanceof RegExp, isPromise: (v) => v instanceof Promise },
  };

  const enc = (s) => encodeURIComponent(s).replace(/%20/g, "+");
  const dec = (s) => {
    try {
      return decodeURIComponent(s.replace(/\+/g, " "));
    } catch {
      return s;
    }
  };
  const querystring = {
    parse(str, sep = "&", eq = "=") {
      const out = Object.create(null);
      if (typeof str !== "string" || str === "") return out;
      for (const part of str.split(sep)) {
        if (!part) continue;
        const i = part.indexOf(eq);
        const k = dec(i < 0 ? part : part.slice(0, i));
        const v = i < 0 ? "" : dec(part.slice(i + eq.length));
        if (k in out) out[k] = [].concat(out[k], v);
        else out[k] = v;
      }
      return out;
    },
    stringify(obj, sep = "&", eq = "=") {
      if (!obj || typeof obj !== "object") return "";
      const parts = [];
      for (const k of Object.keys(obj)) {
        const v = obj[k];
        for (const item of Array.isArray(v) ? v : [v]) parts.push(enc(k) + eq + enc(item === undefined || item === null ? "" : String(item)));
      }
      return parts.join(sep);
    },
    escape: encodeURIComponent,
    unescape: dec,
  };
  querystring.decode = querystring.parse;
  querystring.encode = querystring.stringify;

  // url.parse / url.format (the legacy Node API App Services code uses) and a small URL/URLSearchParams.
  const URL_RE = /^(?:([a-zA-Z][a-zA-Z0-9+.-]*:))?(?:\/\/(?:([^@/?#]*)@)?([^/?#:]*|\[[^\]]*\])(?::(\d*))?)?([^?#]*)(\?[^#]*)?(#.*)?$/;
  function parse(str, parseQuery) {
    const m = URL_RE.exec(String(str).trim());
    if (!m) throw new TypeError(`Invalid URL: ${str}`);
    const [, protocol = null, auth = null, hostname = null, port = null, pathname = "", search = null, hash = null] = m;
    const slashes = String(str).includes("//");
    const host = hostname === null ? null : hostname.toLowerCase() + (port ? ":" + port : "");
    const path = (pathname || (host ? "/" : "")) + (search || "");
    const query = search ? search.slice(1) : parseQuery ? "" : null;
    return {
      protocol: protocol && protocol.toLowerCase(),
      slashes: slashes || null,
      auth: auth ? dec(auth) : null,
      host,
      port: port || null,
      hostname: hostname && hostname.toLowerCase(),
      hash,
      search,
      query: parseQuery ? querystring.parse(query || "") : query,
      pathname: pathname || (host ? "/" : null),
      path: path || null,
      href: String(str),
    };
  }
  function formatUrl(u) {
    if (typeof u === "string") return u;
    const protocol = u.protocol ? (u.protocol.endsWith(":") ? u.protocol : u.protocol + ":") : "";
    const auth = u.auth ? encodeURIComponent(u.auth).replace(/%3A/i, ":") + "@" : "";
    const host = u.host || (u.hostname ? u.hostname + (u.port ? ":" + u.port : "") : "");
    let search = u.search || "";
    if (!search && u.query && typeof u.query === "object") {
      const q = querystring.stringify(u.query);
      search = q ? "?" + q : "";
    }
    const hash = u.hash ? (u.hash.startsWith("#") ? u.hash : "#" + u.hash) : "";
    return protocol + (host || u.slashes ? "//" : "") + auth + host + (u.pathname || "") + search + hash;
  }
  class URLSearchParams {
    constructor(init = "") {
      this._list = [];
      if (typeof init === "string") {
        for (const part of init.replace(/^\?/, "").split("&")) {
          if (!part) continue;
          const i = part.indexOf("=");
          this._list.push([dec(i < 0 ? part : part.slice(0, i)), i < 0 ? "" : dec(part.slice(i + 1))]);
        }
      } else if (init && typeof init === "object") {
        for (const [k, v] of Array.isArray(init) ? init : Object.entries(init)) this._list.push([String(k), String(v)]);
      }
    }
    get(k) {
      const e = this._list.find(([n]) => n === k);
      return e ? e[1] : null;
    }
    getAll(k) {
      return this._list.filter(([n]) => n === k).map(([, v]) => v);
    }
    has(k) {
      return this._list.some(([n]) => n === k);
    }
    set(k, v) {
      this.delete(k);
      this._list.push([String(k), String(v)]);
    }
    append(k, v) {
      this._list.push([String(k), String(v)]);
    }
    delete(k) {
      this._list = this._list.filter(([n]) => n !== k);
    }
    entries() {
      return this._list.map((e) => [e[0], e[1]])[Symbol.iterator]();
    }
    [Symbol.iterator]() {
      return this.entries();
    }
    forEach(fn) {
      for (const [k, v] of this._list) fn(v, k, this);
    }
    toString() {
      return this._list.map(([k, v]) => enc(k) + "=" + enc(v)).join("&");
    }
  }
  class URL {
    constructor(input, base) {
      let s = String(input);
      if (base !== undefined && !/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(s)) {
        const b = new URL(base);
        s = s.startsWith("/") ? `${b.protocol}//${b.host}${s}` : `${b.protocol}//${b.host}${b.pathname.replace(/[^/]*$/, "")}${s}`;
      }
      const p = parse(s);
      if (!p.protocol) throw new TypeError(`Invalid URL: ${input}`);
      this.protocol = p.protocol;
      this.username = p.auth ? p.auth.split(":")[0] : "";
      this.password = p.auth && p.auth.includes(":") ? p.auth.slice(p.auth.indexOf(":") + 1) : "";
      this.hostname = p.hostname || "";
      this.port = p.port || "";
      this.pathname = p.pathname || "/";
      this.searchParams = new URLSearchParams(p.search || "");
      this.hash = p.hash || "";
    }
    get host() {
      return this.hostname + (this.port ? ":" + this.port : "");
    }
    get origin() {
      return `${this.protocol}//${this.host}`;
    }
    get search() {
      const s = this.searchParams.toString();
      return s ? "?" + s : "";
    }
    get href() {
      const auth = this.username ? this.username + (this.password ? ":" + this.password : "") + "@" : "";
      return `${this.protocol}//${auth}${this.host}${this.pathname}${this.search}${this.hash}`;
    }
    toString() {
      return this.href;
    }
    toJSON() {
      return this.href;
    }
  }
  const url = { parse, format: formatUrl, resolve: (from, to) => new URL(to, from).href, URL, URLSearchParams };

  class EventEmitter {
    constructor() {
      this._events = new Map();
    }
    on(name, fn) {
      if (!this._events.has(name)) this._events.set(name, []);
      this._events.get(name).push(fn);
      return this;
    }
    once(name, fn) {
      const wrapper = (...a) => {
        this.off(name, wrapper);
        fn.apply(this, a);
      };
      return this.on(name, wrapper);
    }
    off(name, fn) {
      const l = this._events.get(name);
      if (l) this._events.set(name, l.filter((f) => f !== fn));
      return this;
    }
    emit(name, ...args) {
      const l = this._events.get(name);
      if (!l || l.length === 0) {
        if (name === "error") throw args[0] instanceof Error ? args[0] : new Error(String(args[0]));
        return false;
      }
      for (const f of [...l]) f.apply(this, args);
      return true;
    }
    listenerCount(name) {
      return (this._events.get(name) || []).length;
    }
    removeAllListeners(name) {
      if (name === undefined) this._events.clear();
      else this._events.delete(name);
      return this;
    }
  }
  EventEmitter.prototype.addListener = EventEmitter.prototype.on;
  EventEmitter.prototype.removeListener = EventEmitter.prototype.off;
  EventEmitter.EventEmitter = EventEmitter;

  return { assert, util, querystring, url, events: EventEmitter };
}
