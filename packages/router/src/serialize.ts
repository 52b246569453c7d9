/**
 * Response serialization: any function result (BSON types intact) -> JSON text or canonical EJSON text,
 * mapped as Atlas did (spec §4.1). Both modes walk the value once into a JSON-able tree, then call
 * JSON.stringify once.
 */
import { Binary, BSONRegExp, EJSON } from "bson";

export type ResponseFormat = "JSON" | "EJSON";

/** Nesting deeper than this is refused (a cycle, or a value no client could use). */
const MAX_DEPTH = 1000;

/** Thrown for values that cannot be written (cycles / absurd depth). */
export class SerializationError extends Error {
  override readonly name = "SerializationError";
}

export function serialize(value: unknown, format: ResponseFormat): string {
  return format === "EJSON" ? toEjsonText(value) : toJsonText(value);
}

/** JSON mode: BSON types become the closest JSON value; types with no JSON equivalent lose detail. */
export function toJsonText(value: unknown): string {
  return JSON.stringify(walk(value, jsonLeaf, 0)) ?? "null";
}

/** Canonical EJSON (`{"$numberInt":"1"}`, `{"$date":{"$numberLong":"…"}}`), as Atlas emits in EJSON mode. */
export function toEjsonText(value: unknown): string {
  return JSON.stringify(walk(value, ejsonLeaf, 0)) ?? "null";
}

type Leaf = (value: object | number | bigint, bsontype: string | undefined) => unknown;

/** Walks arrays and plain objects; everything else goes to `leaf`. Undefined members are left out. */
function walk(value: unknown, leaf: Leaf, depth: number): unknown {
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
    case "bigint":
      return leaf(value, undefined);
    case "object":
      break;
    default:
      return null; // functions and symbols: JSON.stringify drops them too
  }
  if (depth > MAX_DEPTH) throw new SerializationError(`result nests deeper than ${MAX_DEPTH} levels (a cycle?)`);
  if (Array.isArray(value)) {
    const out = new Array<unknown>(value.length);
    for (let i = 0; i < value.length; i++) out[i] = walk(value[i], leaf, depth + 1);
    return out;
  }
  const bsontype = (value as { _bsontype?: unknown })._bsontype;
  if (typeof bsontype === "string" || value instanceof Date || value instanceof RegExp || value instanceof Uint8Array) {
    return leaf(value, typeof bsontype === "string" ? bsontype : undefined);
  }
  const entries: Iterable<[unknown, unknown]> = value instanceof Map ? value : Object.entries(value);
  // Without a prototype, a "__proto__" key is kept as data instead of re-pointing `out`'s prototype.
  const out: Record<string, unknown> = Object.create(null);
  for (const [k, v] of entries) {
    if (v === undefined || typeof v === "function" || typeof v === "symbol") continue;
    out[String(k)] = walk(v, leaf, depth + 1);
  }
  return out;
}

const rawJson = (JSON as unknown as { rawJSON(text: string): unknown }).rawJSON;

/** Go-style rendering of the Atlas backend: capitalised wrappers for Binary/Regex/Timestamp, {} for Min/MaxKey. */
function jsonLeaf(v: object | number | bigint, bsontype: string | undefined): unknown {
  if (typeof v === "number") return Number.isFinite(v) ? v : null;
  if (typeof v === "bigint") return rawJson(v.toString());
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v.toISOString();
  if (v instanceof RegExp) return { Pattern: v.source, Options: v.flags };
  if (v instanceof Uint8Array) return { Subtype: 0, Data: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64") };
  const b = v as Record<string, any>;
  switch (bsontype) {
    case "ObjectId":
      return b.toHexString();
    case "Int32":
    case "Double":
      return Number.isFinite(b.value) ? b.value : null;
    case "Long":
      return rawJson(b.toString()); // exact digits, even beyond 2^53
    case "Decimal128":
      return b.toString();
    case "Binary":
      return { Subtype: b.sub_type, Data: (v as Binary).toString("base64") };
    case "BSONRegExp":
      return { Pattern: b.pattern, Options: b.options };
    case "Timestamp":
      return { T: b.t, I: b.i };
    case "MinKey":
    case "MaxKey":
      return {};
    case "BSONSymbol":
      return b.value;
    case "Code":
      return b.code;
    case "DBRef":
      return { $ref: b.collection, $id: walk(b.oid, jsonLeaf, 1), ...(b.db ? { $db: b.db } : {}) };
    default:
      return typeof b.toJSON === "function" ? b.toJSON() : {};
  }
}

/** Canonical EJSON per value, delegated to the bson package so the wire form matches EJSON.stringify. */
function ejsonLeaf(v: object | number | bigint, _bsontype: string | undefined): unknown {
  if (v instanceof Uint8Array) v = new Binary(v);
  else if (v instanceof RegExp) v = new BSONRegExp(v.source, v.flags.replace(/[^imxlsu]/g, ""));
  return EJSON.serialize(v, { relaxed: false });
}
