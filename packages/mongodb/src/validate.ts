/**
 * Structural checks shared by both backends, so a malformed operation fails with the same code and
 * message whichever backend serves it (the driver would otherwise reject some client-side, some
 * server-side, each in its own words).
 */
import { DataServiceError } from "./errors.js";
import type { DataOperation, Document } from "./types.js";

const PIPELINE_UPDATE_STAGES = new Set(["$addFields", "$set", "$project", "$unset", "$replaceRoot", "$replaceWith"]);

export function isPlainObject(v: unknown): v is Document {
  if (v === null || typeof v !== "object") return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function requireDocument(v: unknown, what: string): asserts v is Document {
  if (!isPlainObject(v)) throw new DataServiceError("InvalidParameter", `${what} must be a document (a plain object), got ${describe(v)}`);
}

export function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "object") {
    const t = (v as { _bsontype?: unknown })._bsontype;
    return typeof t === "string" ? `a BSON ${t}` : `an object of class ${v.constructor?.name ?? "unknown"}`;
  }
  return `${typeof v} ${JSON.stringify(v)}`;
}

function requireCount(v: unknown, what: string): void {
  if (v === undefined) return;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0)
    throw new DataServiceError("InvalidParameter", `${what} must be a non-negative integer, got ${describe(v)}`);
}

function requireSort(v: unknown, what: string): void {
  if (v === undefined) return;
  requireDocument(v, what);
  for (const [k, dir] of Object.entries(v)) {
    if (dir !== 1 && dir !== -1 && !isPlainObject(dir))
      throw new DataServiceError("BadQuery", `${what}.${k} must be 1 or -1, got ${describe(dir)}`);
  }
}

export function checkUpdate(update: unknown, what = "update"): void {
  if (Array.isArray(update)) {
    update.forEach((stage, i) => {
      requireDocument(stage, `${what}[${i}]`);
      const keys = Object.keys(stage);
      if (keys.length !== 1 || !PIPELINE_UPDATE_STAGES.has(keys[0]!))
        throw new DataServiceError(
          "BadQuery",
          `${what}[${i}] must be one of ${[...PIPELINE_UPDATE_STAGES].join(", ")} in an update pipeline, got ${keys.join(", ") || "an empty stage"}`,
        );
    });
    return;
  }
  requireDocument(update, what);
  const keys = Object.keys(update);
  if (keys.length === 0) throw new DataServiceError("InvalidParameter", `${what} must not be empty`);
  for (const k of keys) {
    if (!k.startsWith("$")) throw new DataServiceError("InvalidParameter", `${what} must contain only update operators ($set, $inc, …), found field '${k}'`);
    if (!isPlainObject(update[k])) throw new DataServiceError("BadQuery", `${what}.${k} must be a document, got ${describe(update[k])}`);
  }
}

export function checkReplacement(replacement: unknown, what = "replacement"): void {
  requireDocument(replacement, what);
  for (const k of Object.keys(replacement))
    if (k.startsWith("$")) throw new DataServiceError("InvalidParameter", `${what} must not contain update operators, found '${k}'`);
}

function checkInsert(doc: unknown, what: string): void {
  requireDocument(doc, what);
  for (const k of Object.keys(doc))
    if (k.startsWith("$")) throw new DataServiceError("InvalidParameter", `${what} has a top-level field '${k}' starting with '$'`);
}

const BULK_KINDS = ["insertOne", "updateOne", "updateMany", "deleteOne", "deleteMany", "replaceOne"] as const;
export type BulkKind = (typeof BULK_KINDS)[number];

/** Parses one bulkWrite entry ({updateOne: {filter, update, upsert}}, …) into a DataOperation. */
export function bulkEntry(entry: unknown, i: number, ns: { database: string; collection: string }): DataOperation {
  const what = `operations[${i}]`;
  requireDocument(entry, what);
  const keys = Object.keys(entry);
  const kind = keys[0] as BulkKind;
  if (keys.length !== 1 || !BULK_KINDS.includes(kind))
    throw new DataServiceError("InvalidParameter", `${what} must have exactly one of ${BULK_KINDS.join(", ")}, got ${keys.join(", ") || "nothing"}`);
  const body = entry[kind];
  requireDocument(body, `${what}.${kind}`);
  const upsert = body.upsert === true;
  const filter = (body.filter ?? {}) as Document;
  switch (kind) {
    case "insertOne":
      return { ...ns, kind, document: body.document as Document };
    case "updateOne":
    case "updateMany":
      return { ...ns, kind, filter, update: body.update as Document, upsert };
    case "replaceOne":
      return { ...ns, kind, filter, replacement: body.replacement as Document, upsert };
    case "deleteOne":
    case "deleteMany":
      return { ...ns, kind, filter };
  }
}

/** Throws DataServiceError for an operation no backend could run; both backends call this first. */
export function checkOperation(op: DataOperation): void {
  if (typeof op.database !== "string" || op.database === "") throw new DataServiceError("InvalidParameter", "database name must be a non-empty string");
  if (typeof op.collection !== "string" || op.collection === "")
    throw new DataServiceError("InvalidParameter", "collection name must be a non-empty string");
  if ("filter" in op) requireDocument(op.filter, "filter");
  if ("projection" in op && op.projection !== undefined) requireDocument(op.projection, "projection");
  if ("sort" in op) requireSort(op.sort, "sort");
  if ("limit" in op) requireCount(op.limit, "limit");
  if ("skip" in op) requireCount(op.skip, "skip");
  switch (op.kind) {
    case "insertOne":
      return checkInsert(op.document, "document");
    case "insertMany":
      if (!Array.isArray(op.documents)) throw new DataServiceError("InvalidParameter", `documents must be an array, got ${describe(op.documents)}`);
      return op.documents.forEach((d, i) => checkInsert(d, `documents[${i}]`));
    case "updateOne":
    case "updateMany":
    case "findOneAndUpdate":
      return checkUpdate(op.update);
    case "replaceOne":
    case "findOneAndReplace":
      return checkReplacement(op.replacement);
    case "aggregate":
      if (!Array.isArray(op.pipeline)) throw new DataServiceError("InvalidParameter", `pipeline must be an array, got ${describe(op.pipeline)}`);
      return op.pipeline.forEach((s, i) => {
        requireDocument(s, `pipeline[${i}]`);
        if (Object.keys(s).length !== 1) throw new DataServiceError("BadQuery", `pipeline[${i}] must have exactly one stage operator`);
      });
    case "distinct":
      if (typeof op.field !== "string" || op.field === "") throw new DataServiceError("InvalidParameter", "distinct field must be a non-empty string");
      return;
    case "bulkWrite":
      if (!Array.isArray(op.operations)) throw new DataServiceError("InvalidParameter", `operations must be an array, got ${describe(op.operations)}`);
      if (op.operations.length === 0) throw new DataServiceError("InvalidParameter", "operations must not be empty");
      return op.operations.forEach((e, i) => checkOperation(bulkEntry(e, i, op)));
    case "createIndex":
      requireDocument(op.keys, "keys");
      if (Object.keys(op.keys).length === 0) throw new DataServiceError("InvalidParameter", "keys must name at least one field");
      for (const [k, v] of Object.entries(op.keys))
        if (v !== 1 && v !== -1) throw new DataServiceError("InvalidParameter", `keys.${k} must be 1 or -1 (only ascending/descending indexes), got ${describe(v)}`);
      return;
    default:
      return;
  }
}
