/** The host convenience API (db(name).collection(name).findOne(…)) built on DataService.execute. */
import type { DataService, Document, HostCollection, HostDatabase } from "./types.js";

export function hostDatabase(service: Pick<DataService, "execute" | "collectionNames">, database: string): HostDatabase {
  return {
    collection: (collection) => hostCollection(service, database, collection),
    getCollectionNames: () => service.collectionNames(database),
  };
}

function hostCollection(service: Pick<DataService, "execute">, database: string, collection: string): HostCollection {
  const ns = { database, collection };
  const run = service.execute.bind(service);
  return {
    find: (filter = {}, o = {}) => run({ ...ns, kind: "find", filter, ...o }),
    findOne: (filter = {}, o = {}) => run({ ...ns, kind: "findOne", filter, ...o }),
    count: (filter = {}, o = {}) => run({ ...ns, kind: "count", filter, ...o }),
    distinct: (field, filter = {}) => run({ ...ns, kind: "distinct", field, filter }),
    aggregate: (pipeline) => run({ ...ns, kind: "aggregate", pipeline }),
    insertOne: (document) => run({ ...ns, kind: "insertOne", document }),
    insertMany: (documents, o = {}) => run({ ...ns, kind: "insertMany", documents, ordered: o.ordered ?? true }),
    updateOne: (filter, update, o = {}) => run({ ...ns, kind: "updateOne", filter, update, upsert: o.upsert ?? false }),
    updateMany: (filter, update, o = {}) => run({ ...ns, kind: "updateMany", filter, update, upsert: o.upsert ?? false }),
    replaceOne: (filter, replacement, o = {}) =>
      run({ ...ns, kind: "replaceOne", filter, replacement, upsert: o.upsert ?? false }),
    deleteOne: (filter) => run({ ...ns, kind: "deleteOne", filter }),
    deleteMany: (filter) => run({ ...ns, kind: "deleteMany", filter }),
    findOneAndUpdate: (filter, update, o = {}) =>
      run({ ...ns, kind: "findOneAndUpdate", filter, update, ...o, upsert: o.upsert ?? false, returnNewDocument: o.returnNewDocument ?? false }),
    findOneAndReplace: (filter, replacement, o = {}) =>
      run({ ...ns, kind: "findOneAndReplace", filter, replacement, ...o, upsert: o.upsert ?? false, returnNewDocument: o.returnNewDocument ?? false }),
    findOneAndDelete: (filter, o = {}) => run({ ...ns, kind: "findOneAndDelete", filter, ...o }),
    bulkWrite: (operations, o = {}) => run({ ...ns, kind: "bulkWrite", operations, ordered: o.ordered ?? true }),
    createIndex: (keys: Document, o = {}) => run({ ...ns, kind: "createIndex", keys, unique: o.unique ?? false, ...(o.name ? { name: o.name } : {}) }),
  };
}
