/**
 * Host-side safety checks on everything a guest sends, for every caller (system included): names must be
 * real, non-system namespaces; documents must be plain and bounded; no server-side JavaScript; no admin or
 * cross-database stages. (Per-user restrictions such as system-only query operators live in rules/guard.ts.)
 */
import { DataServiceError } from "./errors.js";
import { describe, isPlainObject } from "./validate.js";

const SYSTEM_DATABASES = new Set(["admin", "local", "config"]);
/** Characters MongoDB refuses in database names (plus "." which separates namespaces). */
const BAD_DB_CHARS = /[\0$/\\. "*<>:|?]/;
/** BSON's own nesting limit; also bounds recursion here. */
export const MAX_DEPTH = 100;

/** Server-side JavaScript, anywhere in a filter, update or pipeline. */
const JAVASCRIPT_OPERATORS = new Set(["$where", "$function", "$accumulator"]);
/** Admin, diagnostic and change-stream stages: never from a function, whoever runs it. */
const ADMIN_STAGES = new Set([
  "$currentOp", "$collStats", "$indexStats", "$listSessions", "$listLocalSessions", "$planCacheStats",
  "$listSearchIndexes", "$changeStream", "$changeStreamSplitLargeEvent", "$shardedDataDistribution",
  "$listSampledQueries", "$queryStats", "$querySettings", "$listClusterCatalog",
]);

export function checkDatabaseName(name: unknown, what = "database name"): asserts name is string {
  if (typeof name !== "string" || name === "") throw new DataServiceError("InvalidParameter", `${what} must be a non-empty string, got ${describe(name)}`);
  if (name.length > 64) throw new DataServiceError("InvalidParameter", `${what} '${name.slice(0, 64)}…' is longer than 64 characters`);
  if (BAD_DB_CHARS.test(name)) throw new DataServiceError("InvalidParameter", `${what} ${JSON.stringify(name)} contains a character MongoDB does not allow (one of /\\. "$*<>:|? or NUL)`);
  if (SYSTEM_DATABASES.has(name.toLowerCase())) throw new DataServiceError("Forbidden", `${what} '${name}' is a system database`);
}

export function checkCollectionName(name: unknown, what = "collection name"): asserts name is string {
  if (typeof name !== "string" || name === "") throw new DataServiceError("InvalidParameter", `${what} must be a non-empty string, got ${describe(name)}`);
  if (name.length > 255) throw new DataServiceError("InvalidParameter", `${what} is longer than 255 characters`);
  if (name.includes("\0") || name.includes("$")) throw new DataServiceError("InvalidParameter", `${what} ${JSON.stringify(name)} must not contain '$' or NUL`);
  if (name.startsWith("system.")) throw new DataServiceError("Forbidden", `${what} '${name}' is a system collection`);
}

/**
 * Walks a value from the guest: bounded depth, plain objects/arrays/BSON values only, no server-side
 * JavaScript operators or BSON Code, and (when `pipeline` is set) no admin stages and no stage that
 * reads or writes another database than `database`.
 */
export function checkValue(value: unknown, what: string, opts: { database: string; pipeline?: boolean } = { database: "" }): void {
  const walk = (v: unknown, path: string, depth: number): void => {
    if (depth > MAX_DEPTH) throw new DataServiceError("InvalidParameter", `${what} is nested deeper than ${MAX_DEPTH} levels`);
    if (v === null || typeof v !== "object") {
      if (typeof v === "function" || typeof v === "symbol") throw new DataServiceError("InvalidParameter", `${path} is a ${typeof v}, which cannot be stored`);
      return;
    }
    if (Array.isArray(v)) return v.forEach((x, i) => walk(x, `${path}[${i}]`, depth + 1));
    const tag = (v as { _bsontype?: unknown })._bsontype;
    if (tag === "Code") throw new DataServiceError("Forbidden", `${path}: server-side JavaScript (BSON Code) is not allowed`);
    if (typeof tag === "string" || v instanceof Date || v instanceof RegExp || ArrayBuffer.isView(v)) return;
    if (!isPlainObject(v)) throw new DataServiceError("InvalidParameter", `${path} must be a plain document or a BSON value, got ${describe(v)}`);
    for (const [k, x] of Object.entries(v)) {
      if (JAVASCRIPT_OPERATORS.has(k)) throw new DataServiceError("Forbidden", `${path}: server-side JavaScript (${k}) is not allowed`);
      if (opts.pipeline) checkStage(k, x, `${path}.${k}`, opts.database);
      walk(x, `${path}.${k}`, depth + 1);
    }
  };
  walk(value, what, 0);
}

/** Stage-level checks, applied to every key inside a pipeline (so nested $facet/$lookup pipelines too). */
function checkStage(key: string, arg: unknown, path: string, database: string): void {
  if (ADMIN_STAGES.has(key)) throw new DataServiceError("Forbidden", `${path}: the ${key} stage is not allowed`);
  const target = (t: unknown, field: string): void => {
    if (typeof t === "string") return checkCollectionName(t, `${path}${field}`);
    if (isPlainObject(t) && ("db" in t || "coll" in t)) {
      if (t.db !== undefined && t.db !== database)
        throw new DataServiceError("Forbidden", `${path}${field}: a pipeline may only use collections of database '${database}', not ${JSON.stringify(t.db)}`);
      if (t.coll !== undefined) checkCollectionName(t.coll, `${path}${field}.coll`);
    }
  };
  switch (key) {
    case "$out":
      return target(arg, "");
    case "$merge":
      return target(isPlainObject(arg) ? arg.into : arg, isPlainObject(arg) ? ".into" : "");
    case "$lookup":
    case "$graphLookup":
      return isPlainObject(arg) ? target(arg.from, ".from") : undefined;
    case "$unionWith":
      return target(isPlainObject(arg) ? arg.coll : arg, isPlainObject(arg) ? ".coll" : "");
  }
}
