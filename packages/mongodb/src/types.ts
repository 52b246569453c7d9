/**
 * The public contract of @restitch/mongodb: one normalized operation type and one backend interface.
 * The rules engine, the auth package and the Data API code against these types only.
 */

/** A MongoDB document: plain object whose values may be BSON types (ObjectId, Decimal128, Binary, Date, …). */
export type Document = Record<string, unknown>;

/** Every operation a data source can run, normalized (defaults filled in) so both backends see one shape. */
export type DataOperation = { database: string; collection: string } & (
  | { kind: "find"; filter: Document; projection?: Document; sort?: Document; limit?: number; skip?: number }
  | { kind: "findOne"; filter: Document; projection?: Document; sort?: Document }
  | { kind: "count"; filter: Document; limit?: number; skip?: number }
  | { kind: "distinct"; field: string; filter: Document }
  | { kind: "aggregate"; pipeline: Document[] }
  | { kind: "insertOne"; document: Document }
  | { kind: "insertMany"; documents: Document[]; ordered: boolean }
  | { kind: "updateOne" | "updateMany"; filter: Document; update: Document | Document[]; upsert: boolean }
  | { kind: "replaceOne"; filter: Document; replacement: Document; upsert: boolean }
  | { kind: "deleteOne" | "deleteMany"; filter: Document }
  | {
      kind: "findOneAndUpdate";
      filter: Document;
      update: Document | Document[];
      upsert: boolean;
      sort?: Document;
      projection?: Document;
      returnNewDocument: boolean;
    }
  | {
      kind: "findOneAndReplace";
      filter: Document;
      replacement: Document;
      upsert: boolean;
      sort?: Document;
      projection?: Document;
      returnNewDocument: boolean;
    }
  | { kind: "findOneAndDelete"; filter: Document; sort?: Document; projection?: Document }
  | { kind: "bulkWrite"; operations: Document[]; ordered: boolean }
  // Host-only (auth uses it for unique user indexes); the guest binding never builds this kind.
  | { kind: "createIndex"; keys: Document; unique: boolean; name?: string }
);

export type DataOperationKind = DataOperation["kind"];

/** Narrow a DataOperation to one kind, e.g. `OperationOf<"find">`. */
export type OperationOf<K extends DataOperationKind> = DataOperation extends infer O
  ? O extends { kind: infer KK }
    ? K extends KK
      ? O & { kind: K }
      : never
    : never
  : never;

export interface UpdateResult {
  matchedCount: number;
  modifiedCount: number;
  /** Present only when an upsert inserted a document. */
  upsertedId?: unknown;
}

/** Results in App Services shapes (spec §2.3), per operation kind. */
export interface ResultOf {
  find: Document[];
  findOne: Document | null;
  count: number;
  distinct: unknown[];
  aggregate: Document[];
  insertOne: { insertedId: unknown };
  insertMany: { insertedIds: unknown[] };
  updateOne: UpdateResult;
  updateMany: UpdateResult;
  replaceOne: UpdateResult;
  deleteOne: { deletedCount: number };
  deleteMany: { deletedCount: number };
  findOneAndUpdate: Document | null;
  findOneAndReplace: Document | null;
  findOneAndDelete: Document | null;
  bulkWrite: null;
  /** The index name. */
  createIndex: string;
}

/** Host-side convenience over DataService.execute (used by auth, the Data API, tests). */
export interface HostCollection {
  find(filter?: Document, options?: { projection?: Document; sort?: Document; limit?: number; skip?: number }): Promise<Document[]>;
  findOne(filter?: Document, options?: { projection?: Document; sort?: Document }): Promise<Document | null>;
  count(filter?: Document, options?: { limit?: number; skip?: number }): Promise<number>;
  distinct(field: string, filter?: Document): Promise<unknown[]>;
  aggregate(pipeline: Document[]): Promise<Document[]>;
  insertOne(document: Document): Promise<{ insertedId: unknown }>;
  insertMany(documents: Document[], options?: { ordered?: boolean }): Promise<{ insertedIds: unknown[] }>;
  updateOne(filter: Document, update: Document | Document[], options?: { upsert?: boolean }): Promise<UpdateResult>;
  updateMany(filter: Document, update: Document | Document[], options?: { upsert?: boolean }): Promise<UpdateResult>;
  replaceOne(filter: Document, replacement: Document, options?: { upsert?: boolean }): Promise<UpdateResult>;
  deleteOne(filter: Document): Promise<{ deletedCount: number }>;
  deleteMany(filter: Document): Promise<{ deletedCount: number }>;
  findOneAndUpdate(
    filter: Document,
    update: Document | Document[],
    options?: { upsert?: boolean; sort?: Document; projection?: Document; returnNewDocument?: boolean },
  ): Promise<Document | null>;
  findOneAndReplace(
    filter: Document,
    replacement: Document,
    options?: { upsert?: boolean; sort?: Document; projection?: Document; returnNewDocument?: boolean },
  ): Promise<Document | null>;
  findOneAndDelete(filter: Document, options?: { sort?: Document; projection?: Document }): Promise<Document | null>;
  bulkWrite(operations: Document[], options?: { ordered?: boolean }): Promise<null>;
  /** Returns the index name. Idempotent for the same keys and options. */
  createIndex(keys: Document, options?: { unique?: boolean; name?: string }): Promise<string>;
}

export interface HostDatabase {
  collection(name: string): HostCollection;
  getCollectionNames(): Promise<string[]>;
}

export interface DataService {
  /** The data source name functions use in context.services.get(name), e.g. "mongodb-atlas". */
  readonly name: string;
  /** Which backend serves this data source. */
  readonly backend: "embedded" | "driver";
  /** Runs one operation with no rules applied (callers apply rules first). Rejects with DataServiceError. */
  execute<K extends DataOperationKind>(op: OperationOf<K>): Promise<ResultOf[K]>;
  execute(op: DataOperation): Promise<unknown>;
  collectionNames(database: string): Promise<string[]>;
  close(): Promise<void>;
  db(name: string): HostDatabase;
}

/** Who a service call runs as. Decided by the host per call; nothing the guest sends can change it. */
export type Caller = { system: true } | { system: false; user: Record<string, unknown> /* context.user shape */ };

/** Applies roles/filters for a non-system caller, then runs the operation on `service` (see src/rules/). */
export interface RulesEngine {
  execute(op: DataOperation, caller: Caller & { system: false }, service: DataService): Promise<unknown>;
}
