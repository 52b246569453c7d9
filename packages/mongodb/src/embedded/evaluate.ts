/**
 * The embedded backend's pure evaluation: filtering, shaping, updates and pipelines over documents, with
 * no storage. The service runs these on its own thread for cheap operations, and the evaluator's
 * processes (evaluator-worker.ts) run the same functions for anything that can evaluate arbitrary
 * aggregation expressions, so both give the same results.
 */
import { Aggregator, find as mingoFind, updateOne as mingoUpdateOne } from "mingo";
import { deserialize, serialize } from "bson";
import { DataServiceError } from "../errors.js";
import type { Document } from "../types.js";
import { isPlainObject } from "../validate.js";
import { compileQuery, prepareQueryOptions } from "./query.js";
import { keyBytes, normalizeForQuery, upsertSeed, withId } from "./values.js";

/** BSON's document size limit, for stored documents and for each result document. */
export const MAX_DOCUMENT_BYTES = 16 * 1024 * 1024;

/** mingo's options for one database; `collection` gives another collection's documents ($lookup, $unionWith). */
export function mingoOptions(collection: (name: string) => Document[]) {
  return {
    scriptEnabled: false, // server-side JavaScript never runs on the host ($where, $function, $accumulator)
    collectionResolver: collection,
  };
}

/** Query options prepared once per database (see query.ts): `collection` as for mingoOptions. */
export function prepareFilterOptions(collection: (name: string) => Document[]) {
  return prepareQueryOptions(mingoOptions(collection));
}

export type PreparedFilterOptions = ReturnType<typeof prepareFilterOptions>;

/** A compiled filter: `test(doc)` says whether doc matches. */
export function compileFilter(filter: Document, options: PreparedFilterOptions) {
  return compileQuery(normalizeForQuery(filter) as Document, options);
}

export interface Shaping {
  projection?: Document;
  sort?: Document;
  skip?: number;
  limit?: number;
}

/** Sort, skip, limit and projection through a mingo cursor (projection needs the filter for `$`). */
export function shape(docs: Document[], filter: Document, o: Shaping): Document[] {
  let cursor = mingoFind(docs, normalizeForQuery(filter) as Document, o.projection ? (normalizeForQuery(o.projection) as Document) : undefined, {
    scriptEnabled: false,
  });
  if (o.sort && Object.keys(o.sort).length) cursor = cursor.sort(o.sort as Record<string, 1 | -1>);
  if (o.skip) cursor = cursor.skip(o.skip);
  if (o.limit) cursor = cursor.limit(o.limit);
  return cursor.all() as Document[];
}

/** A find over documents: the filter, then (when asked for) sort, skip, limit and projection. */
export function findIn(docs: Iterable<Document>, filter: Document, o: Shaping, options: PreparedFilterOptions): Document[] {
  const noShaping = !o.sort && !o.projection && !o.skip;
  const limit = noShaping ? o.limit || undefined : undefined;
  const query = compileFilter(filter, options);
  const matched: Document[] = [];
  for (const doc of docs) {
    if (!query.test(doc)) continue;
    matched.push(doc);
    if (limit !== undefined && matched.length >= limit) break;
  }
  return noShaping ? matched : shape(matched, filter, o);
}

/** Runs pipeline stages over docs (a trailing $out is the caller's: it writes). */
export function runPipeline(stages: Document[], docs: Document[], collection: (name: string) => Document[]): Document[] {
  return new Aggregator(stages, mingoOptions(collection)).run(docs) as Document[];
}

/** The updated copy of doc, or undefined when the update changes nothing. */
export function applyUpdate(doc: Document, filter: Document, update: Document | Document[]): Document | undefined {
  const modifier = Array.isArray(update) ? update : withoutSetOnInsert(update);
  if (!Array.isArray(modifier) && Object.keys(modifier).length === 0) return undefined;
  const copy = structuredCloneDoc(doc);
  const box = [copy];
  const r = mingoUpdateOne(box, normalizeForQuery(filter) as Document, normalizeForQuery(modifier) as Document, { cloneMode: "deep" }, { scriptEnabled: false });
  if (r.modifiedCount === 0) return undefined;
  const next = box[0]!;
  if (!sameKey(next._id, doc._id)) throw immutableId();
  return withId(next);
}

/** The document an upsert inserts: the filter's equalities with the update (and $setOnInsert) applied. */
export function upsertDocument(filter: Document, update: Document | Document[]): Document {
  const seed = upsertSeed(normalizeForQuery(filter) as Document);
  const modifier = Array.isArray(update) ? update : setOnInsertAsSet(update);
  const box = [seed];
  if (!Array.isArray(modifier) && Object.keys(modifier).length === 0) return withId(seed);
  mingoUpdateOne(box, {}, normalizeForQuery(modifier) as Document, { cloneMode: "deep" }, { scriptEnabled: false });
  const doc = box[0]!;
  if (seed._id !== undefined && !sameKey(doc._id, seed._id)) throw immutableId();
  return withId(doc);
}

export function replaced(doc: Document, replacement: Document): Document | undefined {
  if (replacement._id !== undefined && !sameKey(replacement._id, doc._id)) throw immutableId();
  const next = { ...replacement, _id: doc._id };
  return Buffer.from(keyBytes(withId(next))).equals(Buffer.from(keyBytes(doc))) ? undefined : withId(next);
}

export function upsertReplacement(filter: Document, replacement: Document): Document {
  const seedId = upsertSeed(normalizeForQuery(filter) as Document)._id;
  if (seedId !== undefined && replacement._id !== undefined && !sameKey(seedId, replacement._id)) throw immutableId();
  return withId({ ...replacement, ...(replacement._id === undefined && seedId !== undefined ? { _id: seedId } : {}) });
}

function withoutSetOnInsert(update: Document): Document {
  const { $setOnInsert: _ignored, ...rest } = update;
  return rest;
}

function setOnInsertAsSet(update: Document): Document {
  const { $setOnInsert, ...rest } = update;
  if (!isPlainObject($setOnInsert)) return rest;
  return { ...rest, $set: { ...(isPlainObject(rest.$set) ? rest.$set : {}), ...$setOnInsert } };
}

function structuredCloneDoc(doc: Document): Document {
  // BSON values are immutable in practice; a deep copy of containers is enough and keeps their classes.
  const copy = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(copy) : isPlainObject(v) ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, copy(x)])) : v;
  return copy(doc) as Document;
}

export function sameKey(a: unknown, b: unknown): boolean {
  return Buffer.from(keyBytes(a)).equals(Buffer.from(keyBytes(b)));
}

function immutableId(): DataServiceError {
  return new DataServiceError("InvalidOperation", "Performing an update on the path '_id' would modify the immutable field '_id'");
}

/** mingo reports bad queries as MingoError; everything not already ours becomes a DataServiceError. */
export function asDataServiceError(e: unknown): DataServiceError {
  if (e instanceof DataServiceError) return e;
  const err = e as Error;
  if (err?.constructor?.name === "MingoError") {
    if (/immutable field '_id'/.test(err.message)) return immutableId();
    return new DataServiceError("BadQuery", err.message, { cause: e });
  }
  return new DataServiceError("Internal", `embedded data service failed: ${err?.message ?? String(e)}`, { cause: e });
}

// ---- What must run off the event loop -------------------------------------------------------------

/** Whether a filter holds `$expr` anywhere: the one query operator that evaluates aggregation expressions. */
export function hasExpr(filter: unknown, depth = 0): boolean {
  if (depth > 120 || filter === null || typeof filter !== "object") return false;
  if (Array.isArray(filter)) return filter.some((x) => hasExpr(x, depth + 1));
  if (!isPlainObject(filter)) return false;
  for (const k in filter) if (k === "$expr" || hasExpr(filter[k], depth + 1)) return true;
  return false;
}

/**
 * Whether a find projection evaluates expressions (`{x: {$range: …}}`, `{y: "$a"}`, literals): anything
 * but inclusion/exclusion flags, `$slice` counts, `$elemMatch` queries without `$expr`, and `$meta`.
 */
export function projectionEvaluates(projection: Document | undefined): boolean {
  if (!projection) return false;
  for (const v of Object.values(projection)) {
    if (typeof v === "number" || typeof v === "boolean") continue;
    if (!isPlainObject(v)) return true;
    const keys = Object.keys(v);
    if (keys.length !== 1) return true;
    const [op] = keys;
    const arg = v[op!];
    if (op === "$slice" && (typeof arg === "number" || (Array.isArray(arg) && arg.every((n) => typeof n === "number")))) continue;
    if (op === "$elemMatch" && !hasExpr(arg)) continue;
    if (op === "$meta") continue;
    return true;
  }
  return false;
}

/** Collections a pipeline reads besides its source ($lookup, $graphLookup, $unionWith, nested ones too). */
export function pipelineCollections(pipeline: unknown, out = new Set<string>(), depth = 0): Set<string> {
  if (depth > 120 || pipeline === null || typeof pipeline !== "object") return out;
  if (Array.isArray(pipeline)) {
    for (const x of pipeline) pipelineCollections(x, out, depth + 1);
    return out;
  }
  if (!isPlainObject(pipeline)) return out;
  for (const [k, v] of Object.entries(pipeline)) {
    if ((k === "$lookup" || k === "$graphLookup") && isPlainObject(v) && typeof v.from === "string") out.add(v.from);
    if (k === "$unionWith") {
      if (typeof v === "string") out.add(v);
      else if (isPlainObject(v) && typeof v.coll === "string") out.add(v.coll);
    }
    pipelineCollections(v, out, depth + 1);
  }
  return out;
}

// ---- Documents as bytes between processes ---------------------------------------------------------

/** Concatenated BSON documents (each starts with its own length) in one buffer, to transfer in one piece. */
export function packBodies(bodies: readonly Uint8Array[]): Uint8Array {
  // Not Buffer.concat: a small result would be a slice of Node's shared pool, which must not be transferred.
  const out = new Uint8Array(bodies.reduce((n, b) => n + b.byteLength, 0));
  let at = 0;
  for (const b of bodies) (out.set(b, at), (at += b.byteLength));
  return out;
}

/** Documents as one buffer of BSON; a document over 16 MB or a total over maxBytes is refused. */
export function packDocuments(docs: readonly Document[], maxBytes = Infinity): Uint8Array {
  const parts: Uint8Array[] = [];
  let total = 0;
  for (const d of docs) {
    const bytes = serialize(d);
    if (bytes.length > MAX_DOCUMENT_BYTES)
      throw new DataServiceError("BadQuery", `a result document is ${bytes.length} bytes, over the 16 MB BSON limit (BSONObjectTooLarge)`);
    total += bytes.length;
    if (total > maxBytes) throw new ResultTooLarge(maxBytes);
    parts.push(bytes);
  }
  return packBodies(parts);
}

/** Thrown when an operation's results outgrow its memory bound. */
export class ResultTooLarge extends Error {
  constructor(readonly maxBytes: number) {
    super(`the operation's results exceed ${Math.round(maxBytes / (1024 * 1024))} MB`);
  }
}

/** The documents of a packed buffer, decoded as the store decodes them. */
export function unpackDocuments(buf: Uint8Array): Document[] {
  const out: Document[] = [];
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  for (let at = 0; at < buf.byteLength; ) {
    const size = view.getInt32(at, true);
    out.push(deserialize(buf.subarray(at, at + size)));
    at += size;
  }
  return out;
}
