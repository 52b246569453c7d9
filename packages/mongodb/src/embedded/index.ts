/**
 * The embedded backend: MongoDB query/update/aggregation semantics from mingo over documents stored as
 * BSON in SQLite (store.ts). In memory without dataDir; a durable file under dataDir with it.
 */
import { Aggregator, find as mingoFind, updateOne as mingoUpdateOne } from "mingo";
import { ObjectId } from "bson";
import { DataServiceError } from "../errors.js";
import { hostDatabase } from "../host.js";
import type { DataOperation, DataService, Document, OperationOf, UpdateResult } from "../types.js";
import { bulkEntry, checkOperation, isPlainObject } from "../validate.js";
import { compileQuery, prepareQueryOptions } from "./query.js";
import { checkRegexes } from "./regex.js";
import { Store, type Row } from "./store.js";
import { keyBytes, normalizeForQuery, upsertSeed, valuesAtPath, withId } from "./values.js";

export interface EmbeddedOptions {
  /** The data source name (context.services.get(name)). */
  name: string;
  /** Directory for the durable SQLite file `<dataDir>/<name>.sqlite`; omitted: in memory, gone on close. */
  dataDir?: string;
  /**
   * "full" (default): each commit is fsynced, so acknowledged writes survive power loss as well as kill -9.
   * "normal": WAL without an fsync per commit; acknowledged writes survive a killed process, not a power cut.
   */
  synchronous?: "full" | "normal";
  /** Unique indexes to ensure at startup, e.g. `[{database: "app", collection: "users", keys: {email: 1}}]`. */
  uniqueIndexes?: { database: string; collection: string; keys: Record<string, 1 | -1>; name?: string }[];
}

export async function createEmbeddedDataService(options: EmbeddedOptions): Promise<DataService> {
  if (typeof options?.name !== "string" || options.name === "") throw new DataServiceError("InvalidParameter", "options.name must be a non-empty string");
  const service = new EmbeddedDataService(options.name, new Store(options.name, options.dataDir, options.synchronous ?? "full"));
  for (const ix of options.uniqueIndexes ?? [])
    await service.execute({ database: ix.database, collection: ix.collection, kind: "createIndex", keys: ix.keys, unique: true, ...(ix.name ? { name: ix.name } : {}) });
  return service;
}

type Q<K extends DataOperation["kind"]> = OperationOf<K>;

class EmbeddedDataService implements DataService {
  readonly backend = "embedded" as const;
  /** Query options per database, prepared once (compileQuery). */
  private readonly queryOptions = new Map<string, ReturnType<typeof prepareQueryOptions>>();
  constructor(
    readonly name: string,
    private readonly store: Store,
  ) {}

  db(name: string) {
    return hostDatabase(this, name);
  }

  async collectionNames(database: string): Promise<string[]> {
    return this.store.collectionNames(database);
  }

  async close(): Promise<void> {
    this.store.close();
  }

  execute(op: DataOperation): Promise<any> {
    try {
      checkOperation(op);
      checkRegexes(op);
      return Promise.resolve(this.run(op));
    } catch (e) {
      return Promise.reject(asDataServiceError(e));
    }
  }

  private run(op: DataOperation): unknown {
    switch (op.kind) {
      case "find":
        return this.find(op);
      case "findOne": {
        const [doc] = this.find({ ...op, kind: "find", limit: 1 });
        return doc ?? null;
      }
      case "count":
        return this.find({ ...op, kind: "find" }).length;
      case "distinct":
        return this.distinct(op);
      case "aggregate":
        return this.aggregate(op);
      case "insertOne": {
        const doc = withId(op.document);
        this.store.write(() => this.store.insert(op.database, op.collection, doc));
        return { insertedId: doc._id };
      }
      case "insertMany":
        return this.insertMany(op);
      case "updateOne":
      case "updateMany":
      case "replaceOne":
        return this.store.write(() => this.update(op));
      case "deleteOne":
      case "deleteMany":
        return this.store.write(() => {
          const rows = this.match(op.database, op.collection, op.filter, op.kind === "deleteOne" ? 1 : undefined);
          for (const r of rows) this.store.remove(r.seq);
          return { deletedCount: rows.length };
        });
      case "findOneAndUpdate":
      case "findOneAndReplace":
      case "findOneAndDelete":
        return this.store.write(() => this.findOneAnd(op));
      case "bulkWrite":
        return this.bulkWrite(op);
      case "createIndex": {
        const name = op.name ?? Object.entries(op.keys).map(([k, v]) => `${k}_${v}`).join("_");
        return this.store.write(() =>
          this.store.createIndex(op.database, op.collection, { name, keys: op.keys as Record<string, 1 | -1>, unique: op.unique }),
        );
      }
    }
  }

  /** Rows matching filter in natural order; an equality (or $in) on _id reads only those rows. */
  private match(db: string, coll: string, filter: Document, limit?: number): Row[] {
    const keys = Object.keys(filter);
    if (keys.length === 1 && keys[0] === "_id" && isExactKey(filter._id)) {
      // {_id: value}: the key lookup is the whole query (equal key bytes ⇔ equal _id values).
      const row = this.store.byId(db, coll, filter._id);
      return row ? [row] : [];
    }
    let options = this.queryOptions.get(db);
    if (!options) {
      if (this.queryOptions.size >= 256) this.queryOptions.clear(); // tenants choose database names: stay bounded
      this.queryOptions.set(db, (options = prepareQueryOptions(mingoOptions(this.store, db))));
    }
    const query = compileQuery(normalizeForQuery(filter) as Document, options);
    const out: Row[] = [];
    for (const row of this.candidates(db, coll, filter)) {
      if (!query.test(row.doc)) continue;
      out.push(row);
      if (limit !== undefined && out.length >= limit) break;
    }
    return out;
  }

  private candidates(db: string, coll: string, filter: Document): Iterable<Row> {
    const id = filter._id;
    const isOperator = isPlainObject(id) && Object.keys(id).some((k) => k.startsWith("$"));
    const ids = id === undefined || id instanceof RegExp || (id as { _bsontype?: string })?._bsontype === "BSONRegExp"
      ? undefined
      : !isOperator
        ? [id]
        : Object.keys(id as Document).length === 1 && "$eq" in (id as Document)
          ? [(id as Document).$eq]
          : Object.keys(id as Document).length === 1 && Array.isArray((id as Document).$in) &&
              !((id as Document).$in as unknown[]).some((v) => v instanceof RegExp || isPlainObject(v))
            ? ((id as Document).$in as unknown[])
            : undefined;
    if (!ids) return this.store.scan(db, coll);
    // Distinct keys, in natural order like a scan would give.
    const seen = new Set<string>();
    const rows: Row[] = [];
    for (const v of ids) {
      const k = Buffer.from(keyBytes(v)).toString("base64");
      if (seen.has(k)) continue;
      seen.add(k);
      const r = this.store.byId(db, coll, v);
      if (r) rows.push(r);
    }
    return rows.sort((a, b) => a.seq - b.seq);
  }

  private find(op: Q<"find">): Document[] {
    const noShaping = !op.sort && !op.projection && !op.skip;
    const rows = this.match(op.database, op.collection, op.filter, noShaping ? op.limit || undefined : undefined);
    if (noShaping) return rows.map((r) => r.doc);
    return this.shape(rows.map((r) => r.doc), op.filter, op);
  }

  /** Sort, skip, limit and projection through a mingo cursor (projection needs the filter for `$`). */
  private shape(docs: Document[], filter: Document, o: { projection?: Document; sort?: Document; skip?: number; limit?: number }): Document[] {
    let cursor = mingoFind(docs, normalizeForQuery(filter) as Document, o.projection ? (normalizeForQuery(o.projection) as Document) : undefined, {
      scriptEnabled: false,
    });
    if (o.sort && Object.keys(o.sort).length) cursor = cursor.sort(o.sort as Record<string, 1 | -1>);
    if (o.skip) cursor = cursor.skip(o.skip);
    if (o.limit) cursor = cursor.limit(o.limit);
    return cursor.all() as Document[];
  }

  private distinct(op: Q<"distinct">): unknown[] {
    const seen = new Set<string>();
    const out: unknown[] = [];
    for (const r of this.match(op.database, op.collection, op.filter)) {
      for (const v of valuesAtPath(r.doc, op.field).flatMap((x) => (Array.isArray(x) ? x : [x]))) {
        if (v === undefined) continue;
        const k = Buffer.from(keyBytes(v)).toString("base64");
        if (!seen.has(k)) (seen.add(k), out.push(v));
      }
    }
    return out;
  }

  private aggregate(op: Q<"aggregate">): Document[] {
    const pipeline = normalizeForQuery(op.pipeline) as Document[];
    const last = pipeline[pipeline.length - 1];
    if (pipeline.some((s) => "$merge" in s))
      throw new DataServiceError("Unsupported", "the $merge stage is not supported by the embedded backend (use $out, or a MongoDB URI)");
    const outStage = last && "$out" in last ? last.$out : undefined;
    const stages = outStage === undefined ? pipeline : pipeline.slice(0, -1);
    if (pipeline.slice(0, -1).some((s) => "$out" in s)) throw new DataServiceError("BadQuery", "$out can only be the final stage of a pipeline");
    // A leading $match narrows the scan (and uses the _id fast path).
    const first = stages[0];
    const source = first && isPlainObject(first.$match) ? this.match(op.database, op.collection, first.$match) : [...this.store.scan(op.database, op.collection)];
    const result = new Aggregator(first && isPlainObject(first.$match) ? stages.slice(1) : stages, mingoOptions(this.store, op.database)).run(
      source.map((r) => (r as Row).doc),
    ) as Document[];
    if (outStage === undefined) return result;
    const target = typeof outStage === "string" ? { db: op.database, coll: outStage } : (outStage as { db?: unknown; coll?: unknown });
    if (typeof target.db !== "string" || typeof target.coll !== "string" || !target.db || !target.coll)
      throw new DataServiceError("BadQuery", "$out must name a collection (a string or {db, coll})");
    this.store.write(() => {
      this.store.clear(target.db as string, target.coll as string);
      for (const d of result) this.store.insert(target.db as string, target.coll as string, withId(d));
    });
    return [];
  }

  private insertMany(op: Q<"insertMany">): { insertedIds: unknown[] } {
    const docs = op.documents.map(withId);
    let firstError: unknown;
    this.store.write(() => {
      for (const doc of docs) {
        try {
          this.store.attempt(() => this.store.insert(op.database, op.collection, doc));
        } catch (e) {
          firstError ??= e;
          if (op.ordered) break; // MongoDB keeps the documents inserted before the failing one
        }
      }
    });
    if (firstError) throw firstError;
    return { insertedIds: docs.map((d) => d._id) };
  }

  private update(op: Q<"updateOne"> | Q<"updateMany"> | Q<"replaceOne">): UpdateResult {
    const rows = this.match(op.database, op.collection, op.filter, op.kind === "updateMany" ? undefined : 1);
    let modified = 0;
    for (const row of rows) {
      const next = op.kind === "replaceOne" ? replaced(row.doc, op.replacement) : this.applyUpdate(row.doc, op.filter, op.update);
      if (next) (this.store.replace(op.database, op.collection, row.seq, next), modified++);
    }
    if (rows.length === 0 && op.upsert) {
      const doc = op.kind === "replaceOne" ? upsertReplacement(op.filter, op.replacement) : this.upsertDocument(op.filter, op.update);
      this.store.insert(op.database, op.collection, doc);
      return { matchedCount: 0, modifiedCount: 0, upsertedId: doc._id };
    }
    return { matchedCount: rows.length, modifiedCount: modified };
  }

  private findOneAnd(op: Q<"findOneAndUpdate"> | Q<"findOneAndReplace"> | Q<"findOneAndDelete">): Document | null {
    let rows = this.match(op.database, op.collection, op.filter, op.sort ? undefined : 1);
    if (op.sort && rows.length > 1) {
      const bySeq = new Map(rows.map((r) => [r.doc, r] as const));
      const [first] = this.shape(rows.map((r) => r.doc), {}, { sort: op.sort, limit: 1 });
      rows = first ? [bySeq.get(first)!] : [];
    }
    const row = rows[0];
    const project = (d: Document | null) => (d && op.projection ? this.shape([d], {}, { projection: op.projection })[0]! : d);
    if (op.kind === "findOneAndDelete") {
      if (row) this.store.remove(row.seq);
      return project(row?.doc ?? null);
    }
    if (!row) {
      if (!op.upsert) return null;
      const doc = op.kind === "findOneAndReplace" ? upsertReplacement(op.filter, op.replacement) : this.upsertDocument(op.filter, op.update);
      this.store.insert(op.database, op.collection, doc);
      return op.returnNewDocument ? project(doc) : null;
    }
    const next = op.kind === "findOneAndReplace" ? replaced(row.doc, op.replacement) : this.applyUpdate(row.doc, op.filter, op.update);
    if (next) this.store.replace(op.database, op.collection, row.seq, next);
    return project(op.returnNewDocument ? (next ?? row.doc) : row.doc);
  }

  private bulkWrite(op: Q<"bulkWrite">): null {
    let firstError: unknown;
    for (const [i, entry] of op.operations.entries()) {
      try {
        this.run(bulkEntry(entry, i, op));
      } catch (e) {
        firstError ??= e;
        if (op.ordered) break; // like MongoDB, earlier operations stay applied
      }
    }
    if (firstError) throw firstError;
    return null;
  }

  /** The updated copy of doc, or undefined when the update changes nothing. */
  private applyUpdate(doc: Document, filter: Document, update: Document | Document[]): Document | undefined {
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

  private upsertDocument(filter: Document, update: Document | Document[]): Document {
    const seed = upsertSeed(normalizeForQuery(filter) as Document);
    const modifier = Array.isArray(update) ? update : setOnInsertAsSet(update);
    const box = [seed];
    if (!Array.isArray(modifier) && Object.keys(modifier).length === 0) return withId(seed);
    mingoUpdateOne(box, {}, normalizeForQuery(modifier) as Document, { cloneMode: "deep" }, { scriptEnabled: false });
    const doc = box[0]!;
    if (seed._id !== undefined && !sameKey(doc._id, seed._id)) throw immutableId();
    return withId(doc);
  }
}

/** A plain _id value (not an operator document, regex, or array) that a key lookup matches exactly. */
function isExactKey(v: unknown): boolean {
  if (v === null || typeof v !== "object") return v !== undefined;
  if (Array.isArray(v) || v instanceof RegExp || (v as { _bsontype?: string })._bsontype === "BSONRegExp") return false;
  return !(isPlainObject(v) && Object.keys(v).some((k) => k.startsWith("$")));
}

function mingoOptions(store: Store, db: string) {
  return {
    scriptEnabled: false, // server-side JavaScript never runs on the host ($where, $function, $accumulator)
    collectionResolver: (coll: string) => [...store.scan(db, coll)].map((r) => r.doc), // $lookup, $unionWith
  };
}

function replaced(doc: Document, replacement: Document): Document | undefined {
  if (replacement._id !== undefined && !sameKey(replacement._id, doc._id)) throw immutableId();
  const next = { ...replacement, _id: doc._id };
  return Buffer.from(keyBytes(withId(next))).equals(Buffer.from(keyBytes(doc))) ? undefined : withId(next);
}

function upsertReplacement(filter: Document, replacement: Document): Document {
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

function sameKey(a: unknown, b: unknown): boolean {
  return Buffer.from(keyBytes(a)).equals(Buffer.from(keyBytes(b)));
}

function immutableId(): DataServiceError {
  return new DataServiceError("InvalidOperation", "Performing an update on the path '_id' would modify the immutable field '_id'");
}

/** mingo reports bad queries as MingoError; everything not already ours becomes a DataServiceError. */
function asDataServiceError(e: unknown): DataServiceError {
  if (e instanceof DataServiceError) return e;
  const err = e as Error;
  if (err?.constructor?.name === "MingoError") {
    if (/immutable field '_id'/.test(err.message)) return immutableId();
    return new DataServiceError("BadQuery", err.message, { cause: e });
  }
  return new DataServiceError("Internal", `embedded data service failed: ${err?.message ?? String(e)}`, { cause: e });
}

export { ObjectId };
