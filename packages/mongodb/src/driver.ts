/**
 * The driver backend: the official `mongodb` driver against a real server, one pooled MongoClient per
 * data source. The driver loads its own (CommonJS) copy of `bson`, so results are re-decoded with the
 * top-level ESM `bson` this package and the runtime use: `instanceof ObjectId` then holds on both
 * backends alike. Reads ask the driver for raw BSON, which makes that re-decoding the only decoding.
 */
import { MongoClient, MongoServerError, MongoInvalidArgumentError, MongoError, type Db } from "mongodb";
import { deserialize, serialize } from "bson";
import { DataServiceError } from "./errors.js";
import { hostDatabase } from "./host.js";
import type { DataOperation, DataService, Document } from "./types.js";
import { checkOperation } from "./validate.js";
import { withId } from "./embedded/values.js";

export interface DriverOptions {
  /** The data source name (context.services.get(name)). */
  name: string;
  /** A MongoDB connection string, e.g. mongodb://127.0.0.1:27017/ or mongodb+srv://… */
  uri: string;
  /** Connection pool size (default: the driver's, 100). */
  maxPoolSize?: number;
}

export async function createDriverDataService(options: DriverOptions): Promise<DataService> {
  if (typeof options?.name !== "string" || options.name === "") throw new DataServiceError("InvalidParameter", "options.name must be a non-empty string");
  if (typeof options.uri !== "string" || !/^mongodb(\+srv)?:\/\//.test(options.uri))
    throw new DataServiceError("InvalidParameter", "options.uri must be a mongodb:// or mongodb+srv:// connection string");
  const client = new MongoClient(options.uri, {
    serverSelectionTimeoutMS: 10_000,
    ...(options.maxPoolSize ? { maxPoolSize: options.maxPoolSize } : {}),
  });
  try {
    await client.connect();
  } catch (e) {
    await client.close().catch(() => {});
    throw new DataServiceError("Internal", `cannot connect to MongoDB at ${redact(options.uri)}: ${(e as Error).message}`, { cause: e });
  }
  return new DriverDataService(options.name, client);
}

class DriverDataService implements DataService {
  readonly backend = "driver" as const;
  constructor(
    readonly name: string,
    private readonly client: MongoClient,
  ) {}

  db(name: string) {
    return hostDatabase(this, name);
  }

  async collectionNames(database: string): Promise<string[]> {
    try {
      const infos = await this.client.db(database).listCollections({}, { nameOnly: true }).toArray();
      return infos.map((i) => i.name).filter((n) => !n.startsWith("system.")).sort();
    } catch (e) {
      throw mapDriverError(e);
    }
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  async execute(op: DataOperation): Promise<any> {
    checkOperation(op);
    try {
      return await this.run(this.client.db(op.database), op);
    } catch (e) {
      throw mapDriverError(e);
    }
  }

  private async run(db: Db, op: DataOperation): Promise<unknown> {
    const c = db.collection(op.collection);
    switch (op.kind) {
      case "find": {
        const raw = await c
          .find(op.filter, { raw: true, ...pick(op, "projection", "sort", "limit", "skip") })
          .toArray();
        return raw.map((b) => deserialize(b as unknown as Uint8Array));
      }
      case "findOne": {
        const raw = await c.findOne(op.filter, { raw: true, ...pick(op, "projection", "sort") });
        return raw ? deserialize(raw as unknown as Uint8Array) : null;
      }
      case "count":
        return c.countDocuments(op.filter, pick(op, "limit", "skip"));
      case "distinct":
        return fromDriver(await c.distinct(op.field, op.filter));
      case "aggregate": {
        const raw = await c.aggregate(op.pipeline, { raw: true }).toArray();
        return raw.map((b) => deserialize(b as unknown as Uint8Array));
      }
      case "insertOne": {
        const doc = withId(op.document);
        await c.insertOne(doc);
        return { insertedId: doc._id };
      }
      case "insertMany": {
        const docs = op.documents.map(withId);
        await c.insertMany(docs, { ordered: op.ordered });
        return { insertedIds: docs.map((d) => d._id) };
      }
      case "updateOne":
      case "updateMany":
      case "replaceOne": {
        const r =
          op.kind === "replaceOne"
            ? await c.replaceOne(op.filter, op.replacement, { upsert: op.upsert })
            : op.kind === "updateOne"
              ? await c.updateOne(op.filter, op.update, { upsert: op.upsert })
              : await c.updateMany(op.filter, op.update, { upsert: op.upsert });
        if (r.upsertedId != null) return { matchedCount: 0, modifiedCount: 0, upsertedId: fromDriver(r.upsertedId) };
        return { matchedCount: r.matchedCount, modifiedCount: r.modifiedCount };
      }
      case "deleteOne":
        return { deletedCount: (await c.deleteOne(op.filter)).deletedCount };
      case "deleteMany":
        return { deletedCount: (await c.deleteMany(op.filter)).deletedCount };
      case "findOneAndUpdate":
      case "findOneAndReplace": {
        const o = { upsert: op.upsert, returnDocument: op.returnNewDocument ? ("after" as const) : ("before" as const), ...pick(op, "sort", "projection") };
        const doc =
          op.kind === "findOneAndUpdate"
            ? await c.findOneAndUpdate(op.filter, op.update, o)
            : await c.findOneAndReplace(op.filter, op.replacement, o);
        return doc ? fromDriver(doc) : null;
      }
      case "findOneAndDelete": {
        const doc = await c.findOneAndDelete(op.filter, pick(op, "sort", "projection"));
        return doc ? fromDriver(doc) : null;
      }
      case "bulkWrite":
        await c.bulkWrite(op.operations as never, { ordered: op.ordered });
        return null;
      case "createIndex":
        return c.createIndex(op.keys as never, { unique: op.unique, ...(op.name ? { name: op.name } : {}) });
    }
  }
}

/** Only the options that are set: the driver treats `limit: undefined` differently from absent on some paths. */
// Typed loosely on purpose: our Document-typed sort/projection are valid driver Sort/Projection values.
function pick<T extends object, K extends keyof T>(o: T, ...keys: K[]): Record<string, any> {
  const out: Record<string, unknown> = {};
  for (const k of keys) if (o[k] !== undefined) out[k as string] = o[k];
  return out;
}

/** Re-decode a driver (CommonJS bson) value with the ESM bson, so BSON classes are the same on both backends. */
function fromDriver<T>(v: T): T {
  return deserialize(serialize({ v } as Document)).v as T;
}

/** Server error codes (https://github.com/mongodb/mongo/blob/master/src/mongo/base/error_codes.yml) to ours. */
const SERVER_CODES: Record<number, DataServiceError["code"]> = {
  11000: "DuplicateKey",
  11001: "DuplicateKey",
  66: "InvalidOperation", // ImmutableField
  85: "InvalidOperation", // IndexOptionsConflict
  86: "InvalidOperation", // IndexKeySpecsConflict
  13: "Forbidden", // Unauthorized
  238: "Unsupported", // NotImplemented (FerretDB answers this for stages and options it lacks)
  50: "MaxTimeMSExpired",
  146: "ExceededMemoryLimit",
  292: "ExceededMemoryLimit", // QueryExceededMemoryLimitNoDiskUseAllowed
};

export function mapDriverError(e: unknown): DataServiceError {
  if (e instanceof DataServiceError) return e;
  if (e instanceof MongoServerError) {
    let code = typeof e.code === "number" ? SERVER_CODES[e.code] : undefined;
    // FerretDB (on SQLite) reports some unique-index violations as InternalError with SQLite's words.
    if (!code && /UNIQUE constraint failed/.test(e.message)) code = "DuplicateKey";
    // Anything else the server refused was about the operation as given: a bad filter, update or stage.
    return new DataServiceError(code ?? "BadQuery", e.message, { cause: e });
  }
  if (e instanceof MongoInvalidArgumentError) return new DataServiceError("InvalidParameter", e.message, { cause: e });
  if (e instanceof MongoError) return new DataServiceError("Internal", `MongoDB: ${e.message}`, { cause: e });
  return new DataServiceError("Internal", `driver data service failed: ${(e as Error)?.message ?? String(e)}`, { cause: e });
}

function redact(uri: string): string {
  return uri.replace(/\/\/[^@/]*@/, "//***@");
}
