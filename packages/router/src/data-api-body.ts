/**
 * Data API v1 request bodies (spec §4): parsed as EJSON whatever the Content-Type (C120–C123), checked
 * field by field, and turned into the mongodb-atlas service call a function would make
 * (`invoke(method, [database, collection, ...args])`), so the data service's own validation, guard and
 * rules apply unchanged. Every refusal is a 400 naming the body field at fault.
 */
import { EJSON } from "bson";
import { HttpError } from "./errors.js";

export const DATA_API_ACTIONS = [
  "findOne",
  "find",
  "insertOne",
  "insertMany",
  "updateOne",
  "updateMany",
  "replaceOne",
  "deleteOne",
  "deleteMany",
  "aggregate",
] as const;
export type DataApiAction = (typeof DATA_API_ACTIONS)[number];

export function isDataApiAction(s: string): s is DataApiAction {
  return (DATA_API_ACTIONS as readonly string[]).includes(s);
}

/** find's `limit` when none is given (C111), and the most one request may ask for (spec §2.5). */
export const DEFAULT_FIND_LIMIT = 1000;
export const MAX_FIND_LIMIT = 50_000;

/** One service call: `args` start with database and collection, as the guest client sends them. */
export interface DataApiCall {
  dataSource: string;
  method: DataApiAction;
  args: unknown[];
}

const bad = (message: string) => new HttpError(400, "InvalidParameter", message);
const missing = (field: string) => new HttpError(400, "MissingParameter", `the request body must include '${field}'`);

/** Canonical and relaxed EJSON type wrappers. `$regex` is left alone: in a filter it is the query operator. */
const EJSON_WRAPPERS = new Set([
  "$oid", "$date", "$numberInt", "$numberLong", "$numberDouble", "$numberDecimal", "$binary", "$uuid",
  "$regularExpression", "$timestamp", "$minKey", "$maxKey", "$symbol",
]);
const MAX_DEPTH = 200;

/** JSON text -> values with BSON types; plain JSON numbers stay JS numbers, as a function's would. */
export function parseEjsonBody(body: Uint8Array | undefined): Record<string, unknown> {
  if (!body) throw bad("the request body is empty; send a JSON (or EJSON) document with dataSource, database and collection");
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(body);
  } catch {
    throw bad("the request body is not valid UTF-8");
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw bad(`the request body is not valid JSON: ${(e as Error).message}`);
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) throw bad("the request body must be a JSON object");
  return fromEjson(json, "body", 0) as Record<string, unknown>;
}

function fromEjson(v: unknown, path: string, depth: number): unknown {
  if (v === null || typeof v !== "object") return v;
  if (depth > MAX_DEPTH) throw bad(`${path}: nested deeper than ${MAX_DEPTH} levels`);
  if (Array.isArray(v)) return v.map((x, i) => fromEjson(x, `${path}[${i}]`, depth + 1));
  const keys = Object.keys(v);
  if (keys.length > 0 && EJSON_WRAPPERS.has(keys[0]!) && keys.every((k) => k.startsWith("$"))) {
    let out: unknown;
    try {
      out = EJSON.deserialize(v as object, { relaxed: false });
    } catch (e) {
      throw bad(`${path}: invalid extended JSON ${keys[0]}: ${(e as Error).message}`);
    }
    if (out instanceof Date && Number.isNaN(out.getTime())) throw bad(`${path}: invalid extended JSON $date`);
    if (out === v || (out !== null && typeof out === "object" && !("_bsontype" in out) && !(out instanceof Date))) {
      throw bad(`${path}: invalid extended JSON ${keys[0]}`);
    }
    return out;
  }
  const out: Record<string, unknown> = {};
  for (const k of keys) {
    const x = fromEjson((v as Record<string, unknown>)[k], `${path}.${k}`, depth + 1);
    // A "__proto__" field is data, not the prototype.
    if (k === "__proto__") Object.defineProperty(out, k, { value: x, enumerable: true, writable: true, configurable: true });
    else out[k] = x;
  }
  return out;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v) && !("_bsontype" in v) && !(v instanceof Date);

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  const tag = (v as { _bsontype?: unknown })?._bsontype;
  return typeof tag === "string" ? `a ${tag}` : `a ${typeof v}`;
}

/** Reads one action's fields; unknown fields are refused so a typo (`filer`) never widens a write. */
function fields(body: Record<string, unknown>, action: DataApiAction, allowed: string[]) {
  const known = new Set(["dataSource", "database", "collection", ...allowed]);
  for (const k of Object.keys(body)) {
    if (!known.has(k)) throw bad(`${action} does not take a '${k}' field (it takes ${[...known].join(", ")})`);
  }
  const has = (k: string) => body[k] !== undefined && body[k] !== null;
  return {
    string(k: string): string {
      if (!has(k)) throw missing(k);
      if (typeof body[k] !== "string" || body[k] === "") throw bad(`'${k}' must be a non-empty string, got ${describe(body[k])}`);
      return body[k] as string;
    },
    doc(k: string, required: boolean): Record<string, unknown> | undefined {
      if (!has(k)) {
        if (required) throw missing(k);
        return undefined;
      }
      if (!isObject(body[k])) throw bad(`'${k}' must be a document, got ${describe(body[k])}`);
      return body[k] as Record<string, unknown>;
    },
    list(k: string): unknown[] {
      if (!has(k)) throw missing(k);
      if (!Array.isArray(body[k])) throw bad(`'${k}' must be an array, got ${describe(body[k])}`);
      return body[k] as unknown[];
    },
    bool(k: string): boolean {
      if (!has(k)) return false;
      if (typeof body[k] !== "boolean") throw bad(`'${k}' must be a boolean, got ${describe(body[k])}`);
      return body[k] as boolean;
    },
    count(k: string, max: number): number | undefined {
      if (!has(k)) return undefined;
      const v = body[k];
      const tag = (v as { _bsontype?: unknown })._bsontype;
      const n = typeof v === "number" ? v : tag === "Int32" || tag === "Double" || tag === "Long" ? Number((v as { valueOf(): unknown }).valueOf()) : NaN;
      if (!Number.isSafeInteger(n) || n < 0 || n > max) throw bad(`'${k}' must be an integer from 0 to ${max}, got ${describe(v)}`);
      return n;
    },
  };
}

/** Body -> the service call for `action`. Throws 400 HttpErrors naming the field at fault. */
export function dataApiCall(action: DataApiAction, body: Record<string, unknown>): DataApiCall {
  const allowed: Record<DataApiAction, string[]> = {
    findOne: ["filter", "projection", "sort"],
    find: ["filter", "projection", "sort", "limit", "skip"],
    insertOne: ["document"],
    insertMany: ["documents"],
    updateOne: ["filter", "update", "upsert"],
    updateMany: ["filter", "update", "upsert"],
    replaceOne: ["filter", "replacement", "upsert"],
    deleteOne: ["filter"],
    deleteMany: ["filter"],
    aggregate: ["pipeline"],
  };
  const f = fields(body, action, allowed[action]);
  const dataSource = f.string("dataSource");
  const ns = [f.string("database"), f.string("collection")];
  const call = (...args: unknown[]): DataApiCall => ({ dataSource, method: action, args: [...ns, ...args] });
  const sort = () => {
    const s = f.doc("sort", false);
    return s ? { sort: s } : {};
  };
  switch (action) {
    case "findOne":
      // The 2023 docs make filter optional (default {}); the OpenAPI text calls it required. Accept both.
      return call(f.doc("filter", false) ?? {}, f.doc("projection", false), sort());
    case "find": {
      const skip = f.count("skip", Number.MAX_SAFE_INTEGER);
      return call(f.doc("filter", false) ?? {}, f.doc("projection", false), {
        ...sort(),
        limit: f.count("limit", MAX_FIND_LIMIT) ?? DEFAULT_FIND_LIMIT,
        ...(skip === undefined ? {} : { skip }),
      });
    }
    case "insertOne":
      return call(f.doc("document", true));
    case "insertMany":
      return call(f.list("documents"));
    case "updateOne":
    case "updateMany": {
      // An update is an operator document or a pipeline (array), as in functions.
      const update = Array.isArray(body.update) ? f.list("update") : f.doc("update", true);
      return call(f.doc("filter", true), update, { upsert: f.bool("upsert") });
    }
    case "replaceOne":
      return call(f.doc("filter", true), f.doc("replacement", true), { upsert: f.bool("upsert") });
    case "deleteOne":
    case "deleteMany":
      return call(f.doc("filter", true));
    case "aggregate":
      return call(f.list("pipeline"));
  }
}

/** The service result in the Data API's response shape (spec §4 table). */
export function dataApiResult(action: DataApiAction, result: unknown): unknown {
  switch (action) {
    case "findOne":
      return { document: result ?? null };
    case "find":
    case "aggregate":
      return { documents: result };
    default:
      return result;
  }
}
