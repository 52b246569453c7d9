/**
 * The guest half of context.services.get("mongodb-atlas"): JavaScript source evaluated once per isolate
 * by the runtime (RuntimeOptions.serviceClients["mongodb-atlas"]). It only shapes calls into
 * `invoke(method, [database, collection, ...args])`; every check happens on the host (binding.ts), so
 * nothing here is trusted. The API follows App Services (spec §2.3).
 */
function mongodbClient(invoke: (method: string, args: unknown[]) => Promise<any>, _BSON: unknown) {
  "use strict";
  const name = (v: unknown, what: string): string => {
    if (typeof v !== "string" || v === "") throw new TypeError(`${what} must be a non-empty string`);
    return v;
  };

  /** A cursor: modifiers (sort/limit/skip) before the first read; next() resolves undefined when exhausted. */
  function cursor(run: (mods: Record<string, unknown>) => Promise<any[]>, modifiers: string[]) {
    const mods: Record<string, unknown> = {};
    let buffer: any[] | undefined;
    let pending: Promise<any[]> | undefined;
    const load = () => (pending ??= run(mods).then((docs) => (buffer = docs)));
    const self: Record<string, unknown> = {
      async next() {
        await load();
        return buffer!.length ? buffer!.shift() : undefined;
      },
      async hasNext() {
        await load();
        return buffer!.length > 0;
      },
      async toArray() {
        await load();
        return buffer!.splice(0, buffer!.length);
      },
      async forEach(fn: (doc: unknown) => unknown) {
        for (const doc of await (self.toArray as () => Promise<unknown[]>)()) await fn(doc);
      },
      [Symbol.asyncIterator]() {
        return { next: async () => { const value = await (self.next as () => Promise<unknown>)(); return value === undefined ? { done: true, value } : { done: false, value }; } };
      },
    };
    for (const m of modifiers) {
      self[m] = (v: unknown) => {
        if (pending) throw new Error(`cursor.${m}() must be called before the first read`);
        mods[m] = v;
        return self;
      };
    }
    return self;
  }

  function collection(db: string, coll: string) {
    const call = (method: string, ...args: unknown[]) => invoke(method, [db, coll, ...args]);
    return {
      find(query?: unknown, projection?: unknown, options?: Record<string, unknown>) {
        return cursor((m) => call("find", query, projection, { ...(options || {}), ...m }), ["sort", "limit", "skip"]);
      },
      findOne: (query?: unknown, projection?: unknown, options?: unknown) => call("findOne", query, projection, options),
      findOneAndUpdate: (query: unknown, update: unknown, options?: unknown) => call("findOneAndUpdate", query, update, options),
      findOneAndReplace: (query: unknown, replacement: unknown, options?: unknown) => call("findOneAndReplace", query, replacement, options),
      findOneAndDelete: (query: unknown, options?: unknown) => call("findOneAndDelete", query, options),
      insertOne: (doc: unknown) => call("insertOne", doc),
      insertMany: (docs: unknown, options?: unknown) => call("insertMany", docs, options),
      updateOne: (query: unknown, update: unknown, options?: unknown) => call("updateOne", query, update, options),
      updateMany: (query: unknown, update: unknown, options?: unknown) => call("updateMany", query, update, options),
      replaceOne: (query: unknown, replacement: unknown, options?: unknown) => call("replaceOne", query, replacement, options),
      deleteOne: (query: unknown) => call("deleteOne", query),
      deleteMany: (query: unknown) => call("deleteMany", query),
      aggregate(pipeline: unknown, options?: unknown) {
        // skip()/limit() on an aggregation cursor append the matching stages.
        return cursor((m) => {
          const extra = [];
          if (m.skip !== undefined) extra.push({ $skip: m.skip });
          if (m.limit !== undefined) extra.push({ $limit: m.limit });
          return call("aggregate", Array.isArray(pipeline) && extra.length ? [...pipeline, ...extra] : pipeline, options);
        }, ["skip", "limit"]);
      },
      count: (query?: unknown, options?: unknown) => call("count", query, options),
      countDocuments: (query?: unknown, options?: unknown) => call("countDocuments", query, options),
      distinct: (field: unknown, query?: unknown, options?: unknown) => call("distinct", field, query, options),
      bulkWrite: (operations: unknown, options?: unknown) => call("bulkWrite", operations, options),
    };
  }

  return {
    db(database: unknown) {
      const db = name(database, "database name");
      return {
        name: db,
        collection: (coll: unknown) => collection(db, name(coll, "collection name")),
        getCollectionNames: () => invoke("getCollectionNames", [db]),
      };
    },
  };
}

/** For RuntimeOptions.serviceClients["mongodb-atlas"]: `(function (invoke, BSON) { … })` as source. */
export const mongodbGuestClient: string = `(${mongodbClient.toString()})`;
