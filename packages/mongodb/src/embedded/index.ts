/**
 * The embedded backend: MongoDB query/update/aggregation semantics from mingo over documents stored as
 * BSON in SQLite (store.ts). In memory without dataDir; a durable file under dataDir with it.
 * Cheap operations (key lookups, plain filters, classic updates) run on the calling thread; anything that
 * evaluates aggregation expressions runs in the evaluator's processes under a deadline and a heap limit.
 */
import { ObjectId, serialize } from "bson";
import { DataServiceError } from "../errors.js";
import { hostDatabase } from "../host.js";
import type { DataOperation, DataService, Document, OperationOf, UpdateResult } from "../types.js";
import { bulkEntry, checkOperation, isPlainObject } from "../validate.js";
import {
  applyUpdate,
  asDataServiceError,
  compileFilter,
  hasExpr,
  packBodies,
  pipelineCollections,
  prepareFilterOptions,
  projectionEvaluates,
  replaced,
  shape,
  unpackDocuments,
  upsertDocument,
  upsertReplacement,
  type PreparedFilterOptions,
} from "./evaluate.js";
import { Evaluator, type EvaluatorLimits, type EvaluatorResult, type TaskError } from "./evaluator.js";
import { checkRegexes } from "./regex.js";
import { decoded, Store, type RawRow, type Row } from "./store.js";
import { keyBytes, normalizeForQuery, valuesAtPath, withId } from "./values.js";

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
  /**
   * Deadline of one operation that evaluates aggregation expressions (aggregate, `$expr` filters,
   * expression projections, pipeline updates), in ms; past it the operation fails with MaxTimeMSExpired.
   * Default 5000.
   */
  operationTimeMs?: number;
  /** Heap of each evaluator process, in MB; an operation that needs more fails with ExceededMemoryLimit. Default 256. */
  operationMemoryMb?: number;
  /** Evaluator processes of this data source; more such operations at once wait for one. Default 2. */
  evaluatorProcesses?: number;
}

export const EVALUATOR_DEFAULTS: EvaluatorLimits = { timeMs: 5_000, memoryMb: 256, processes: 2 };

export async function createEmbeddedDataService(options: EmbeddedOptions): Promise<DataService> {
  if (typeof options?.name !== "string" || options.name === "") throw new DataServiceError("InvalidParameter", "options.name must be a non-empty string");
  const limits: EvaluatorLimits = {
    timeMs: positiveInteger(options.operationTimeMs, "operationTimeMs", EVALUATOR_DEFAULTS.timeMs),
    memoryMb: positiveInteger(options.operationMemoryMb, "operationMemoryMb", EVALUATOR_DEFAULTS.memoryMb),
    processes: positiveInteger(options.evaluatorProcesses, "evaluatorProcesses", EVALUATOR_DEFAULTS.processes),
  };
  const service = new EmbeddedDataService(options.name, new Store(options.name, options.dataDir, options.synchronous ?? "full"), new Evaluator(limits));
  for (const ix of options.uniqueIndexes ?? [])
    await service.execute({ database: ix.database, collection: ix.collection, kind: "createIndex", keys: ix.keys, unique: true, ...(ix.name ? { name: ix.name } : {}) });
  return service;
}

function positiveInteger(v: unknown, name: string, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1) throw new DataServiceError("InvalidParameter", `options.${name} must be a positive integer, got ${JSON.stringify(v)}`);
  return v;
}

type Q<K extends DataOperation["kind"]> = OperationOf<K>;
type Write = Q<"updateOne"> | Q<"updateMany"> | Q<"replaceOne"> | Q<"deleteOne"> | Q<"deleteMany"> | Q<"findOneAndUpdate"> | Q<"findOneAndReplace"> | Q<"findOneAndDelete">;

/**
 * What the evaluator decided for a write, applied by the same synchronous code as a local write: per
 * candidate row (by seq) its bytes when evaluated, whether it matched, and its pipeline-updated copy.
 */
interface Verdicts {
  /** Only the rows the evaluator looked at (it stops at a limit); any other row is a change. */
  rows: Map<number, { body: Uint8Array; matched: boolean; update?: Outcome<Document | undefined> }>;
  /** The pipeline upsert's document; absent when the evaluator saw matches. */
  upsert?: Outcome<Document>;
  pipelineUpdate: boolean;
}
type Outcome<T> = { value: T } | { error: TaskError };

/** Thrown inside a write transaction when a row differs from what the evaluator saw: evaluate again. */
const CHANGED = Symbol("changed meanwhile");

class EmbeddedDataService implements DataService {
  readonly backend = "embedded" as const;
  /** Query options per database, prepared once (compileQuery). */
  private readonly queryOptions = new Map<string, PreparedFilterOptions>();
  /** Set only while a write transaction applies evaluator results (synchronously: nothing interleaves). */
  private verdicts: Verdicts | undefined;
  constructor(
    readonly name: string,
    private readonly store: Store,
    private readonly evaluator: Evaluator,
  ) {}

  db(name: string) {
    return hostDatabase(this, name);
  }

  async collectionNames(database: string): Promise<string[]> {
    return this.store.collectionNames(database);
  }

  async close(): Promise<void> {
    await this.evaluator.close();
    this.store.close();
  }

  execute(op: DataOperation): Promise<any> {
    try {
      checkOperation(op);
      checkRegexes(op);
      const out = this.run(op);
      return out instanceof Promise ? out.catch((e: unknown) => Promise.reject(asDataServiceError(e))) : Promise.resolve(out);
    } catch (e) {
      return Promise.reject(asDataServiceError(e));
    }
  }

  /** A value, or a promise when the operation runs on the evaluator. */
  private run(op: DataOperation): unknown {
    switch (op.kind) {
      case "find":
        return this.find(op);
      case "findOne":
        return then(this.find({ ...op, kind: "find", limit: 1 }), ([doc]) => doc ?? null);
      case "count":
        return this.offloads(op.filter)
          ? this.evaluate("find", op, { filter: op.filter, ...defined({ limit: op.limit, skip: op.skip }), countOnly: true }).then((r) => r.count!)
          : (this.find({ ...op, kind: "find" }) as Document[]).length;
      case "distinct":
        return then(this.find({ database: op.database, collection: op.collection, kind: "find", filter: op.filter }), (docs) => distinctValues(docs, op.field));
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
        return this.write(op, () => this.update(op));
      case "deleteOne":
      case "deleteMany":
        return this.write(op, () => {
          const rows = this.match(op.database, op.collection, op.filter, matchLimit(op));
          for (const r of rows) this.store.remove(r.seq);
          return { deletedCount: rows.length };
        });
      case "findOneAndUpdate":
      case "findOneAndReplace":
      case "findOneAndDelete": {
        // An expression projection runs on the evaluator after the write, on the document it returns.
        if (!projectionEvaluates(op.projection)) return this.write(op, () => this.findOneAnd(op));
        const bare = { ...op, projection: undefined };
        return then(this.write(bare, () => this.findOneAnd(bare)), (doc) =>
          doc ? this.evaluate("find", op, { filter: {}, projection: op.projection! }, [{ seq: 0, body: serialize(doc) }]).then((r) => unpackDocuments(r.docs!)[0] ?? null) : null,
        );
      }
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

  /** Whether a filter (or projection) evaluates aggregation expressions, so it must run on the evaluator. */
  private offloads(filter: Document, projection?: Document): boolean {
    return hasExpr(filter) || projectionEvaluates(projection);
  }

  /**
   * Runs a task on the evaluator over the operation's candidate rows (or the given documents).
   * `collections` are other collections of the database the task reads ($lookup…).
   */
  private evaluate(
    task: "find" | "aggregate" | "match",
    op: DataOperation & { filter?: Document },
    params: Parameters<Evaluator["run"]>[1],
    source: readonly RawRow[] = [...this.candidates(op.database, op.collection, op.filter ?? {})],
    collections?: Iterable<string>,
  ): Promise<EvaluatorResult> {
    const bodies = source.map((r) => r.body);
    const others: Record<string, Uint8Array> = {};
    for (const c of collections ?? []) others[c] = packBodies([...this.store.rawScan(op.database, c)].map((r) => r.body));
    return this.evaluator.run(task, params, packBodies(bodies), `${op.kind} on ${op.database}.${op.collection}`, others);
  }

  /** Rows matching filter in natural order; an equality (or $in) on _id reads only those rows. */
  private match(db: string, coll: string, filter: Document, limit?: number): Row[] {
    const keys = Object.keys(filter);
    if (!this.verdicts && keys.length === 1 && keys[0] === "_id" && isExactKey(filter._id)) {
      // {_id: value}: the key lookup is the whole query (equal key bytes ⇔ equal _id values).
      const row = this.store.byId(db, coll, filter._id);
      return row ? [row] : [];
    }
    const verdicts = this.verdicts;
    const query = verdicts ? undefined : compileFilter(filter, this.filterOptions(db));
    const out: Row[] = [];
    for (const raw of this.candidates(db, coll, filter)) {
      let row: Row | undefined;
      if (verdicts) {
        const v = verdicts.rows.get(raw.seq);
        if (!v || !Buffer.from(v.body).equals(raw.body)) throw CHANGED;
        if (!v.matched) continue;
        row = decoded(raw);
      } else {
        row = decoded(raw);
        if (!query!.test(row.doc)) continue;
      }
      out.push(row);
      if (limit !== undefined && out.length >= limit) break;
    }
    return out;
  }

  private filterOptions(db: string): PreparedFilterOptions {
    let options = this.queryOptions.get(db);
    if (!options) {
      if (this.queryOptions.size >= 256) this.queryOptions.clear(); // tenants choose database names: stay bounded
      this.queryOptions.set(db, (options = prepareFilterOptions((coll) => [...this.store.scan(db, coll)].map((r) => r.doc))));
    }
    return options;
  }

  private candidates(db: string, coll: string, filter: Document): Iterable<RawRow> {
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
    if (!ids) return this.store.rawScan(db, coll);
    // Distinct keys, in natural order like a scan would give.
    const seen = new Set<string>();
    const rows: RawRow[] = [];
    for (const v of ids) {
      const k = Buffer.from(keyBytes(v)).toString("base64");
      if (seen.has(k)) continue;
      seen.add(k);
      const r = this.store.rawById(db, coll, v);
      if (r) rows.push(r);
    }
    return rows.sort((a, b) => a.seq - b.seq);
  }

  private find(op: Q<"find">): Document[] | Promise<Document[]> {
    if (this.offloads(op.filter, op.projection)) {
      const { filter, projection, sort, skip, limit } = op;
      return this.evaluate("find", op, { filter, ...defined({ projection, sort, skip, limit }) }).then((r) => unpackDocuments(r.docs!));
    }
    const noShaping = !op.sort && !op.projection && !op.skip;
    const rows = this.match(op.database, op.collection, op.filter, noShaping ? op.limit || undefined : undefined);
    if (noShaping) return rows.map((r) => r.doc);
    return shape(rows.map((r) => r.doc), op.filter, op);
  }

  /** Every pipeline runs on the evaluator: stages without expressions multiply documents too ($unwind, $lookup). */
  private async aggregate(op: Q<"aggregate">): Promise<Document[]> {
    const pipeline = normalizeForQuery(op.pipeline) as Document[];
    const last = pipeline[pipeline.length - 1];
    if (pipeline.some((s) => "$merge" in s))
      throw new DataServiceError("Unsupported", "the $merge stage is not supported by the embedded backend (use $out, or a MongoDB URI)");
    const outStage = last && "$out" in last ? last.$out : undefined;
    const stages = outStage === undefined ? pipeline : pipeline.slice(0, -1);
    if (pipeline.slice(0, -1).some((s) => "$out" in s)) throw new DataServiceError("BadQuery", "$out can only be the final stage of a pipeline");
    const target = outStage === undefined ? undefined : typeof outStage === "string" ? { db: op.database, coll: outStage } : (outStage as { db?: unknown; coll?: unknown });
    if (target && (typeof target.db !== "string" || typeof target.coll !== "string" || !target.db || !target.coll))
      throw new DataServiceError("BadQuery", "$out must name a collection (a string or {db, coll})");
    // A leading $match on _id reads only those rows; the stage itself still runs on the evaluator, which
    // decodes the documents (decoding them here too cost more than the pipeline: 1000 docs, 3.5 ms).
    const first = stages[0];
    const source = [...this.candidates(op.database, op.collection, first && isPlainObject(first.$match) ? first.$match : {})];
    const answer = await this.evaluate("aggregate", op, { stages }, source, pipelineCollections(stages));
    const result = unpackDocuments(answer.docs!);
    if (!target) return result;
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

  /**
   * A write in one transaction. One whose filter has `$expr` or whose update is a pipeline is first
   * evaluated on the evaluator over the candidate rows; the transaction then applies those verdicts
   * through the same code, and starts over if any row changed meanwhile (until the deadline).
   */
  private write<T>(op: Write, apply: () => T): T | Promise<T> {
    const update = "update" in op && Array.isArray(op.update) ? op.update : undefined;
    if (!hasExpr(op.filter) && !update) return this.store.write(apply);
    return (async () => {
      const started = performance.now();
      for (;;) {
        const rows = [...this.candidates(op.database, op.collection, op.filter)];
        const upsert = "upsert" in op && op.upsert;
        const answer = await this.evaluate("match", op, { filter: op.filter, ...defined({ limit: matchLimit(op), update }), upsert }, rows);
        this.verdicts = verdictsOf(rows, answer, update !== undefined);
        try {
          return this.store.write(apply);
        } catch (e) {
          if (e !== CHANGED) throw e;
        } finally {
          this.verdicts = undefined;
        }
        if (performance.now() - started > this.evaluator.limits.timeMs)
          throw new DataServiceError("MaxTimeMSExpired", `operation exceeded time limit: ${op.kind} on ${op.database}.${op.collection} kept meeting documents changed by other writes for ${this.evaluator.limits.timeMs} ms`);
      }
    })();
  }

  private update(op: Q<"updateOne"> | Q<"updateMany"> | Q<"replaceOne">): UpdateResult {
    const rows = this.match(op.database, op.collection, op.filter, matchLimit(op));
    let modified = 0;
    for (const row of rows) {
      const next = op.kind === "replaceOne" ? replaced(row.doc, op.replacement) : this.updated(row, op.filter, op.update);
      if (next) (this.store.replace(op.database, op.collection, row.seq, next), modified++);
    }
    if (rows.length === 0 && op.upsert) {
      const doc = op.kind === "replaceOne" ? upsertReplacement(op.filter, op.replacement) : this.upserted(op.filter, op.update);
      this.store.insert(op.database, op.collection, doc);
      return { matchedCount: 0, modifiedCount: 0, upsertedId: doc._id };
    }
    return { matchedCount: rows.length, modifiedCount: modified };
  }

  private findOneAnd(op: Q<"findOneAndUpdate"> | Q<"findOneAndReplace"> | Q<"findOneAndDelete">): Document | null {
    let rows = this.match(op.database, op.collection, op.filter, matchLimit(op));
    if (op.sort && rows.length > 1) {
      const bySeq = new Map(rows.map((r) => [r.doc, r] as const));
      const [first] = shape(rows.map((r) => r.doc), {}, { sort: op.sort, limit: 1 });
      rows = first ? [bySeq.get(first)!] : [];
    }
    const row = rows[0];
    const project = (d: Document | null) => (d && op.projection ? shape([d], {}, { projection: op.projection })[0]! : d);
    if (op.kind === "findOneAndDelete") {
      if (row) this.store.remove(row.seq);
      return project(row?.doc ?? null);
    }
    if (!row) {
      if (!op.upsert) return null;
      const doc = op.kind === "findOneAndReplace" ? upsertReplacement(op.filter, op.replacement) : this.upserted(op.filter, op.update);
      this.store.insert(op.database, op.collection, doc);
      return op.returnNewDocument ? project(doc) : null;
    }
    const next = op.kind === "findOneAndReplace" ? replaced(row.doc, op.replacement) : this.updated(row, op.filter, op.update);
    if (next) this.store.replace(op.database, op.collection, row.seq, next);
    return project(op.returnNewDocument ? (next ?? row.doc) : row.doc);
  }

  /** A row's updated copy (undefined: unchanged): the evaluator's for a pipeline update, else computed here. */
  private updated(row: Row, filter: Document, update: Document | Document[]): Document | undefined {
    if (!this.verdicts?.pipelineUpdate) return applyUpdate(row.doc, filter, update);
    const outcome = this.verdicts.rows.get(row.seq)?.update;
    if (!outcome) throw CHANGED;
    return valueOf(outcome);
  }

  private upserted(filter: Document, update: Document | Document[]): Document {
    if (!this.verdicts?.pipelineUpdate) return upsertDocument(filter, update);
    if (!this.verdicts.upsert) throw CHANGED; // the evaluator saw a match that is gone now
    return valueOf(this.verdicts.upsert);
  }

  private async bulkWrite(op: Q<"bulkWrite">): Promise<null> {
    let firstError: unknown;
    for (const [i, entry] of op.operations.entries()) {
      try {
        await this.run(bulkEntry(entry, i, op));
      } catch (e) {
        firstError ??= e;
        if (op.ordered) break; // like MongoDB, earlier operations stay applied
      }
    }
    if (firstError) throw firstError;
    return null;
  }
}

/** How many matches a write looks for: one, or all (a sorted findOneAnd* sorts them all). */
function matchLimit(op: Write): number | undefined {
  if (op.kind === "updateMany" || op.kind === "deleteMany") return undefined;
  return "sort" in op && op.sort ? undefined : 1;
}

/** The object without its undefined fields (BSON would keep them as null). */
function defined<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function then<T, U>(v: T | Promise<T>, f: (v: T) => U | Promise<U>): U | Promise<U> {
  return v instanceof Promise ? v.then(f) : f(v);
}

function verdictsOf(rows: RawRow[], answer: EvaluatorResult, pipelineUpdate: boolean): Verdicts {
  const verdicts: Verdicts = { rows: new Map(), pipelineUpdate };
  const matched = new Set(answer.matched);
  const updated = answer.updates ? unpackDocuments(answer.updates.docs) : [];
  const outcomes = new Map((answer.matched ?? []).map((i, n) => [i, answer.updates?.outcomes[n]] as const));
  rows.slice(0, answer.evaluated).forEach((r, i) => {
    const o = outcomes.get(i);
    const update = o === undefined ? undefined : typeof o === "number" ? { value: o < 0 ? undefined : updated[o]! } : { error: o };
    verdicts.rows.set(r.seq, { body: r.body, matched: matched.has(i), ...(update ? { update } : {}) });
  });
  const upsert = answer.upsert;
  if (upsert) verdicts.upsert = upsert instanceof Uint8Array ? { value: unpackDocuments(upsert)[0]! } : { error: upsert };
  return verdicts;
}

function valueOf<T>(o: Outcome<T>): T {
  if ("error" in o) throw new DataServiceError(o.error.code, o.error.message);
  return o.value;
}

function distinctValues(docs: Document[], field: string): unknown[] {
  const seen = new Set<string>();
  const out: unknown[] = [];
  for (const doc of docs) {
    for (const v of valuesAtPath(doc, field).flatMap((x) => (Array.isArray(x) ? x : [x]))) {
      if (v === undefined) continue;
      const k = Buffer.from(keyBytes(v)).toString("base64");
      if (!seen.has(k)) (seen.add(k), out.push(v));
    }
  }
  return out;
}

/** A plain _id value (not an operator document, regex, or array) that a key lookup matches exactly. */
function isExactKey(v: unknown): boolean {
  if (v === null || typeof v !== "object") return v !== undefined;
  if (Array.isArray(v) || v instanceof RegExp || (v as { _bsontype?: string })._bsontype === "BSONRegExp") return false;
  return !(isPlainObject(v) && Object.keys(v).some((k) => k.startsWith("$")));
}

export { ObjectId };
