/**
 * The host half of context.services.get("mongodb-atlas"): the ServiceBinding the runtime calls when guest
 * code uses the client in guest-client.ts. Everything that arrives is untrusted: it is validated here,
 * turned into one DataOperation, and run as the caller fixed by the host when it built this binding.
 */
import type { ServiceBinding } from "@restitch/runtime";
import { DataServiceError } from "./errors.js";
import { checkCollectionName, checkDatabaseName, checkValue } from "./guard.js";
import type { Caller, DataOperation, DataService, Document, RulesEngine } from "./types.js";
import { checkOperation, describe, isPlainObject } from "./validate.js";

export const MONGODB_SERVICE_TYPE = "mongodb-atlas";

/** The methods a guest may invoke, and how many positional arguments each takes after the namespace. */
const METHODS = {
  find: 3, // filter, projection, options {sort, limit, skip}
  findOne: 3, // filter, projection, options {sort}
  count: 2, // filter, options {limit, skip}
  countDocuments: 2,
  distinct: 3, // field, filter, options
  aggregate: 2, // pipeline, options
  insertOne: 1,
  insertMany: 2, // documents, options {ordered}
  updateOne: 3, // filter, update, options {upsert}
  updateMany: 3,
  replaceOne: 3,
  deleteOne: 1,
  deleteMany: 1,
  findOneAndUpdate: 3, // filter, update, options {upsert, sort, projection, returnNewDocument}
  findOneAndReplace: 3,
  findOneAndDelete: 2, // filter, options {sort, projection}
  bulkWrite: 2, // operations, options {ordered}
} as const;
type Method = keyof typeof METHODS;

export function createServiceBinding(service: DataService, caller: Caller, options: { rules?: RulesEngine } = {}): ServiceBinding {
  // Captured now: nothing the guest sends later can change who the calls run as.
  const who: Caller = caller.system ? { system: true } : { system: false, user: caller.user };
  const rules = options.rules;
  return {
    type: MONGODB_SERVICE_TYPE,
    async invoke(method: string, args: unknown[]): Promise<unknown> {
      if (!Array.isArray(args)) throw new DataServiceError("InvalidParameter", "service arguments must be an array");
      if (method === "getCollectionNames") {
        checkDatabaseName(args[0]);
        return service.collectionNames(args[0]);
      }
      if (!Object.hasOwn(METHODS, method)) throw new DataServiceError("InvalidParameter", `unknown mongodb-atlas method ${JSON.stringify(String(method))}`);
      const op = toOperation(method as Method, args);
      checkOperation(op);
      if (who.system) return service.execute(op);
      if (!rules) throw new DataServiceError("NoMatchingRuleFound", `no rule exists for namespace '${op.database}.${op.collection}'`);
      return rules.execute(op, who, service);
    },
  };
}

/** Validates guest arguments and builds the DataOperation (defaults as App Services documents them). */
export function toOperation(method: Method, args: unknown[]): DataOperation {
  const [database, collection, ...rest] = args;
  checkDatabaseName(database);
  checkCollectionName(collection);
  if (rest.length > METHODS[method]) throw new DataServiceError("InvalidParameter", `${method} takes at most ${METHODS[method]} arguments, got ${rest.length}`);
  const ns = { database, collection };
  const doc = (v: unknown, what: string, opts: { optional?: boolean; pipeline?: boolean } = {}): Document => {
    if (v === undefined || v === null) {
      if (opts.optional) return {};
      throw new DataServiceError("InvalidParameter", `${method}: ${what} is required`);
    }
    if (!isPlainObject(v)) throw new DataServiceError("InvalidParameter", `${method}: ${what} must be a document, got ${describe(v)}`);
    checkValue(v, `${method}: ${what}`, { database });
    return v;
  };
  const list = (v: unknown, what: string, pipeline = false): Document[] => {
    if (!Array.isArray(v)) throw new DataServiceError("InvalidParameter", `${method}: ${what} must be an array, got ${describe(v)}`);
    checkValue(v, `${method}: ${what}`, { database, pipeline });
    return v as Document[];
  };
  const update = (v: unknown): Document | Document[] => (Array.isArray(v) ? list(v, "update", true) : doc(v, "update"));
  const o = doc(rest[METHODS[method] - 1], "options", { optional: true });
  const bool = (k: string, dflt: boolean): boolean => {
    if (o[k] === undefined || o[k] === null) return dflt;
    if (typeof o[k] !== "boolean") throw new DataServiceError("InvalidParameter", `${method}: options.${k} must be a boolean, got ${describe(o[k])}`);
    return o[k];
  };
  const optDoc = (k: string): { [key: string]: Document } => (o[k] === undefined || o[k] === null ? {} : { [k]: doc(o[k], `options.${k}`) });
  const optCount = (k: "limit" | "skip"): { limit?: number; skip?: number } => {
    const n = toCount(o[k], `${method}: options.${k}`, k === "limit");
    return n === undefined ? {} : { [k]: n };
  };
  const projection = (v: unknown) => (v === undefined || v === null ? {} : { projection: doc(v, "projection") });

  switch (method) {
    case "find":
      return { ...ns, kind: "find", filter: doc(rest[0], "filter", { optional: true }), ...projection(rest[1]), ...optDoc("sort"), ...optCount("limit"), ...optCount("skip") };
    case "findOne":
      return { ...ns, kind: "findOne", filter: doc(rest[0], "filter", { optional: true }), ...projection(rest[1]), ...optDoc("sort") };
    case "count":
    case "countDocuments":
      return { ...ns, kind: "count", filter: doc(rest[0], "filter", { optional: true }), ...optCount("limit"), ...optCount("skip") };
    case "distinct":
      if (typeof rest[0] !== "string" || rest[0] === "") throw new DataServiceError("InvalidParameter", `distinct: field must be a non-empty string, got ${describe(rest[0])}`);
      return { ...ns, kind: "distinct", field: rest[0], filter: doc(rest[1], "filter", { optional: true }) };
    case "aggregate":
      return { ...ns, kind: "aggregate", pipeline: list(rest[0], "pipeline", true) };
    case "insertOne":
      return { ...ns, kind: "insertOne", document: doc(rest[0], "document") };
    case "insertMany":
      return { ...ns, kind: "insertMany", documents: list(rest[0], "documents"), ordered: bool("ordered", true) };
    case "updateOne":
    case "updateMany":
      return { ...ns, kind: method, filter: doc(rest[0], "filter"), update: update(rest[1]), upsert: bool("upsert", false) };
    case "replaceOne":
      return { ...ns, kind: "replaceOne", filter: doc(rest[0], "filter"), replacement: doc(rest[1], "replacement"), upsert: bool("upsert", false) };
    case "deleteOne":
    case "deleteMany":
      return { ...ns, kind: method, filter: doc(rest[0], "filter") };
    case "findOneAndUpdate":
      return {
        ...ns, kind: "findOneAndUpdate", filter: doc(rest[0], "filter"), update: update(rest[1]),
        upsert: bool("upsert", false), returnNewDocument: bool("returnNewDocument", false), ...optDoc("sort"), ...optDoc("projection"),
      };
    case "findOneAndReplace":
      return {
        ...ns, kind: "findOneAndReplace", filter: doc(rest[0], "filter"), replacement: doc(rest[1], "replacement"),
        upsert: bool("upsert", false), returnNewDocument: bool("returnNewDocument", false), ...optDoc("sort"), ...optDoc("projection"),
      };
    case "findOneAndDelete":
      return { ...ns, kind: "findOneAndDelete", filter: doc(rest[0], "filter"), ...optDoc("sort"), ...optDoc("projection") };
    case "bulkWrite":
      return { ...ns, kind: "bulkWrite", operations: list(rest[0], "operations"), ordered: bool("ordered", true) };
  }
}

/** limit/skip from the guest: a number (or Int32/Long/Double); a negative limit means its absolute value, as in the shell. */
function toCount(v: unknown, what: string, negativeOk: boolean): number | undefined {
  if (v === undefined || v === null) return undefined;
  const tag = (v as { _bsontype?: unknown } | null)?._bsontype;
  const n =
    typeof v === "number" ? v
    : tag === "Long" ? (v as { toNumber(): number }).toNumber()
    : tag === "Int32" || tag === "Double" ? (v as { valueOf(): number }).valueOf()
    : NaN;
  if (!Number.isSafeInteger(n) || (n < 0 && !negativeOk)) throw new DataServiceError("InvalidParameter", `${what} must be ${negativeOk ? "an" : "a non-negative"} integer, got ${describe(v)}`);
  return Math.abs(n);
}
