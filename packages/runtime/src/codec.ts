/**
 * The boundary codec: how values cross between the host and an isolate.
 *
 * Only strings cross the boundary (no host object or Reference ever reaches tenant code, and the host
 * never runs a getter or toJSON of a guest object). A value is written as JSON in which BSON types are
 * tagged the way canonical Extended JSON tags them, except that plain JS numbers stay plain JSON numbers:
 * a plain number arrives as a plain number, an explicit BSON.Int32/Double/Long arrives as the same wrapper.
 *
 * `makeCodec` is self-contained on purpose: the guest gets its source text (Function.prototype.toString)
 * so the host and the isolate run the very same code against their own BSON library.
 */
export interface Codec {
  /**
   * Encode any value; throws TypeError for cycles (or nesting deeper than 1,000), and a RangeError with
   * `stringChars` for a string longer than `maxStringChars` (its text alone would be over a limit the
   * caller checks afterwards; escaping megabytes is one uninterruptible builtin call, 60-90 ms for 17 MB).
   */
  encode(value: unknown, maxStringChars?: number): string;
  decode(text: string): unknown;
}

/** Base64 <-> bytes; the host passes Buffer-based ones, the guest its own (a bare realm has no fast atob). */
export interface ByteHelpers {
  base64ToBytes(b64: string): Uint8Array;
  bytesToBase64(bytes: Uint8Array): string;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function makeCodec(BSON: any, bytes: ByteHelpers): Codec {
  const NUM_TAG = "$__num"; // NaN, ±Infinity and -0 as plain numbers (JSON has no spelling for them)
  const UNDEF_TAG = "$__undefined";

  function tagNumber(n: number): unknown {
    if (Number.isFinite(n)) return Object.is(n, -0) ? { [NUM_TAG]: "-0" } : n;
    return { [NUM_TAG]: String(n) };
  }

  /** The tagged form of a bigint, a Date, a regex, bytes or a BSON value (write() decides which go here). */
  function tagged(original: object | bigint): unknown {
    if (typeof original === "bigint") {
      // Long.fromString would wrap a wider value silently into a wrong number.
      if (original > 0x7fffffffffffffffn || original < -0x8000000000000000n) throw new TypeError(`BigInt ${original} is outside the 64-bit range of a BSON Long`);
      return { $numberLong: original.toString() };
    }
    if (original instanceof Date) {
      const t = original.getTime();
      return { $date: Number.isNaN(t) ? { [NUM_TAG]: "NaN" } : t };
    }
    if (original instanceof RegExp) return { $regex: original.source, $options: original.flags };
    if (original instanceof Uint8Array) {
      return { $binary: { base64: bytes.bytesToBase64(original), subType: "00" } };
    }
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const v = original as any;
    switch (v._bsontype) {
      case "ObjectId":
        return { $oid: v.toHexString() };
      case "Binary":
        return { $binary: { base64: bytes.bytesToBase64(v.buffer.subarray(0, v.position)), subType: v.sub_type.toString(16).padStart(2, "0") } };
      case "Decimal128":
        return { $numberDecimal: v.toString() };
      case "Timestamp":
        return { $timestamp: { t: v.high >>> 0, i: v.low >>> 0 } };
      case "Long":
        return { $numberLong: v.toString() };
      case "Int32":
        return { $numberInt: String(v.value) };
      case "Double":
        return { $numberDouble: Object.is(v.value, -0) ? "-0.0" : String(v.value) };
      case "BSONRegExp":
        return { $regularExpression: { pattern: v.pattern, options: v.options } };
      case "MinKey":
        return { $minKey: 1 };
      case "MaxKey":
        return { $maxKey: 1 };
      case "BSONSymbol":
        return { $symbol: v.value };
      case "Code":
        return { $code: v.code };
      default:
        throw new TypeError(`cannot encode BSON type ${String(v._bsontype)}`);
    }
  }

  const MAX_DEPTH = 1_000;
  const stringify = JSON.stringify;
  /** encode()'s maxStringChars, for the encoding in progress. */
  let maxChars = Infinity;

  /**
   * Writes JSON text directly (a JSON.stringify replacer costs a JS call per value). Same rules as
   * JSON: own enumerable keys, toJSON honoured, undefined/functions/symbols dropped in objects and null
   * in arrays; BSON values, Dates, regexes and bytes tagged; cycles and extreme nesting refused.
   */
  function write(v: unknown, key: string, depth: number): string | undefined {
    switch (typeof v) {
      case "string":
        if (v.length > maxChars) throw Object.assign(new RangeError(`a string of ${v.length} characters`), { stringChars: v.length });
        return stringify(v);
      case "number":
        return Number.isFinite(v) && !Object.is(v, -0) ? String(v) : stringify(tagNumber(v));
      case "boolean":
        return v ? "true" : "false";
      case "bigint":
        return stringify(tagged(v));
      case "object":
        break;
      default:
        return undefined; // undefined, function, symbol
    }
    if (v === null) return "null";
    if (depth > MAX_DEPTH) throw new TypeError("value is nested too deeply (or is cyclic)");
    if (Array.isArray(v)) {
      let out = "[";
      for (let i = 0; i < v.length; i++) {
        if (i > 0) out += ",";
        out += write(v[i], String(i), depth + 1) ?? "null";
      }
      return out + "]";
    }
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const o = v as any;
    // A DBRef (as the driver returns {$ref, $id} fields) holds a BSON value of its own: written here.
    if (o._bsontype === "DBRef") {
      return `{"$ref":${stringify(String(o.collection))},"$id":${write(o.oid, "$id", depth + 1) ?? "null"}${o.db ? `,"$db":${stringify(String(o.db))}` : ""}}`;
    }
    if (o._bsontype !== undefined || o instanceof Date || o instanceof RegExp || o instanceof Uint8Array) return stringify(tagged(o));
    if (typeof o.toJSON === "function") return write(o.toJSON(key), key, depth + 1);
    let out = "{";
    let first = true;
    for (const k of Object.keys(o)) {
      const item = write(o[k], k, depth + 1);
      if (item === undefined) continue;
      out += (first ? "" : ",") + stringify(k) + ":" + item;
      first = false;
    }
    return out + "}";
  }

  function hexToSubtype(s: string): number {
    return parseInt(s, 16);
  }

  function reviveTagged(obj: Record<string, unknown>, firstKey: string): unknown {
    const v = obj[firstKey];
    switch (firstKey) {
      case NUM_TAG:
        return v === "-0" ? -0 : Number(v);
      case UNDEF_TAG:
        return undefined;
      case "$oid":
        return new BSON.ObjectId(v);
      case "$date":
        return new Date(typeof v === "number" ? v : NaN);
      case "$binary": {
        const b = v as { base64: string; subType: string };
        return new BSON.Binary(bytes.base64ToBytes(b.base64), hexToSubtype(b.subType));
      }
      case "$numberDecimal":
        return BSON.Decimal128.fromString(v);
      case "$timestamp": {
        const ts = v as { t: number; i: number };
        return new BSON.Timestamp({ t: ts.t, i: ts.i });
      }
      case "$numberLong":
        return BSON.Long.fromString(v);
      case "$numberInt":
        return new BSON.Int32(Number(v));
      case "$numberDouble":
        return new BSON.Double(Number(v === "-0.0" ? -0 : v));
      case "$regularExpression": {
        const r = v as { pattern: string; options: string };
        return new BSON.BSONRegExp(r.pattern, r.options);
      }
      case "$regex":
        return new RegExp(v as string, obj.$options as string);
      case "$minKey":
        return new BSON.MinKey();
      case "$maxKey":
        return new BSON.MaxKey();
      case "$symbol":
        return new BSON.BSONSymbol(v);
      case "$code":
        return new BSON.Code(v);
      case "$ref":
        return "$id" in obj ? new BSON.DBRef(v, obj.$id, obj.$db) : obj;
      default:
        return obj;
    }
  }

  function reviver(_key: string, value: unknown): unknown {
    if (value === null || typeof value !== "object" || Array.isArray(value)) return value;
    for (const k in value) {
      // Only objects whose first key is a tag are tagged values; the check is one char compare.
      if (k.charCodeAt(0) !== 36) return value;
      // A plain object that merely looks tagged ({ $oid: "zz" } written by tenant code) stays a plain
      // object: a throw here would reach the host from a value the tenant chose.
      try {
        return reviveTagged(value as Record<string, unknown>, k);
      } catch {
        return value;
      }
    }
    return value;
  }

  return {
    encode(value: unknown, maxStringChars = Infinity): string {
      const outer = maxChars; // a toJSON may encode something else meanwhile (a host call's arguments)
      maxChars = maxStringChars;
      try {
        return write(value, "", 0) ?? stringify({ [UNDEF_TAG]: 1 });
      } finally {
        maxChars = outer;
      }
    },
    decode(text: string): unknown {
      // Fast path: nothing tagged, nothing to revive.
      return text.includes('"$') ? JSON.parse(text, reviver) : JSON.parse(text);
    },
  };
}

/** The host's byte helpers (Node's Buffer). */
export const hostBytes: ByteHelpers = {
  base64ToBytes: (b64) => Buffer.from(b64, "base64"),
  bytesToBase64: (b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("base64"),
};
