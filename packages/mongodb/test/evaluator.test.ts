/**
 * The embedded store's evaluator (src/embedded/evaluator.ts): what evaluates aggregation expressions runs
 * in evaluator processes under a deadline and a heap limit, so a bomb fails with MaxTimeMSExpired or
 * ExceededMemoryLimit while the same service keeps answering; results are exactly what mingo gives on
 * the calling thread, BSON types included; the cheap paths never touch it.
 */
import { Aggregator, find as mingoFind } from "mingo";
import { Binary, Decimal128, deserialize, Long, ObjectId, serialize } from "bson";
import { afterEach, describe, expect, it } from "vitest";
import { createEmbeddedDataService, DataServiceError, type DataService, type EmbeddedOptions } from "../src/index.js";

const open: DataService[] = [];
async function service(options: Partial<EmbeddedOptions> = {}): Promise<DataService> {
  const s = await createEmbeddedDataService({ name: "evaluator-test", ...options });
  open.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

/** The error a promise rejects with. */
async function failure(p: Promise<unknown>): Promise<DataServiceError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(DataServiceError);
    return e as DataServiceError;
  }
  throw new Error("expected the operation to fail");
}

const RANGE_BOMB = [{ $project: { x: { $range: [0, 3e7] } } }];

const DOCS = [
  {
    _id: new ObjectId("5e58667d902d38559c802b13"),
    name: "ada",
    at: new Date("2024-02-03T04:05:06.789Z"),
    price: Decimal128.fromString("12.50"),
    big: Long.fromString("9007199254740993"),
    bin: new Binary(Buffer.from([1, 2, 3]), 4),
    tags: ["a", "b"],
    nested: { x: 1, list: [{ k: "p", v: 2 }] },
    nothing: null,
    n: 3,
  },
  { _id: 2, name: "bob", at: new Date(0), tags: ["c"], nested: { x: 2, list: [] }, n: 10.5 },
  { _id: "three", name: "cy", tags: [], n: -1 },
];

describe("the evaluator's deadline and memory bound", () => {
  it("a $range bomb fails with MaxTimeMSExpired near the deadline; the service answers meanwhile and afterwards", async () => {
    const s = await service({ operationTimeMs: 1_000, operationMemoryMb: 2048 });
    const things = s.db("app").collection("things");
    await things.insertMany([{ _id: 1, n: 1 }, { _id: 2, n: 2 }]);
    // Both processes started (a process's start does not count against the deadline).
    await Promise.all([things.aggregate([]), things.aggregate([]), things.aggregate([])]);
    await new Promise((r) => setTimeout(r, 500));

    const started = performance.now();
    let bombEnded = 0;
    const bomb = failure(things.aggregate(RANGE_BOMB)).finally(() => (bombEnded = performance.now()));
    // While it runs: a key lookup, a plain find and another aggregate (in the second process) complete.
    await new Promise((r) => setTimeout(r, 50));
    const meanwhile = await Promise.all([
      things.findOne({ _id: 2 }),
      things.find({ n: { $gt: 0 } }),
      things.aggregate([{ $group: { _id: null, total: { $sum: "$n" } } }]),
    ]);
    expect(bombEnded).toBe(0);
    expect(meanwhile).toEqual([{ _id: 2, n: 2 }, [{ _id: 1, n: 1 }, { _id: 2, n: 2 }], [{ _id: null, total: 3 }]]);

    const error = await bomb;
    expect(error.code).toBe("MaxTimeMSExpired");
    expect(error.message).toBe("operation exceeded time limit: aggregate on app.things ran longer than 1000 ms (the embedded store's operationTimeMs)");
    const ms = bombEnded - started;
    expect(ms).toBeGreaterThanOrEqual(990);
    expect(ms).toBeLessThan(1_000 + 2_000); // the process is killed, not waited for (the bomb alone runs ~11 s)

    // Afterwards the service works, in a new process.
    expect(await things.aggregate([{ $match: { _id: 1 } }, { $project: { n: 1, twice: { $multiply: ["$n", 2] } } }])).toEqual([{ _id: 1, n: 1, twice: 2 }]);
  });

  it("a bomb that outgrows its process's heap fails with ExceededMemoryLimit", async () => {
    const s = await service({ operationTimeMs: 30_000, operationMemoryMb: 64 });
    const things = s.db("app").collection("things");
    await things.insertOne({ _id: 1 });
    const error = await failure(things.aggregate(RANGE_BOMB));
    expect(error.code).toBe("ExceededMemoryLimit");
    expect(error.message).toBe("operation exceeded memory limit: aggregate on app.things needed more than 64 MB (the embedded store's operationMemoryMb)");
    expect(await things.aggregate([{ $count: "n" }])).toEqual([{ n: 1 }]);
  });

  it("results larger than the memory bound are refused, not sent back", async () => {
    const s = await service({ operationMemoryMb: 64 });
    const things = s.db("app").collection("things");
    // 40 documents of 2 MB: small as JS strings shared by reference, 80 MB once each is encoded.
    await things.insertOne({ _id: 1, s: "x".repeat(2 * 1024 * 1024) });
    const error = await failure(things.aggregate([{ $project: { s: 1, i: { $range: [0, 40] } } }, { $unwind: "$i" }]));
    expect(error.code).toBe("ExceededMemoryLimit");
    expect(error.message).toMatch(/^operation exceeded memory limit: the operation's results exceed 64 MB/);
  });

  it("$expr in filters, expression projections and pipeline updates are bounded too", async () => {
    const s = await service({ operationTimeMs: 300, operationMemoryMb: 2048 });
    const things = s.db("app").collection("things");
    await things.insertOne({ _id: 1, n: 1 });
    const slow = { $gt: [{ $size: { $range: [0, 3e7] } }, 0] };
    const reduce = { $reduce: { input: { $range: [0, 1e6] }, initialValue: "", in: { $concat: ["$$value", "xxxxxxxx"] } } };
    for (const op of [
      things.find({ $expr: slow }),
      things.count({ $expr: slow }),
      things.distinct("n", { $expr: slow }),
      things.find({}, { projection: { r: reduce } }),
      things.updateMany({ $expr: slow }, { $set: { hit: true } }),
      things.updateOne({ _id: 1 }, [{ $set: { r: reduce } }]),
      things.deleteMany({ $expr: slow }),
      things.findOneAndUpdate({ _id: 1 }, { $set: { m: 1 } }, { projection: { r: reduce } }),
    ]) {
      const error = await failure(op);
      expect(["MaxTimeMSExpired", "ExceededMemoryLimit"]).toContain(error.code);
    }
    expect(await things.findOne({ _id: 1 })).toEqual({ _id: 1, n: 1, m: 1 });
  });

  it("findOne by _id, plain filters and classic updates never use the evaluator: they work when its processes cannot start", async () => {
    // A 1 MB heap is too small for the evaluator's process to load mingo at all.
    const s = await service({ operationMemoryMb: 1 });
    const things = s.db("app").collection("things");
    await things.insertMany([{ _id: 1, n: 1, tags: ["a"] }, { _id: 2, n: 2 }]);
    expect(await things.findOne({ _id: 1 })).toEqual({ _id: 1, n: 1, tags: ["a"] });
    expect(await things.find({ n: { $gte: 1 } }, { sort: { n: -1 }, projection: { n: 1 } })).toEqual([{ _id: 2, n: 2 }, { _id: 1, n: 1 }]);
    expect(await things.count({ tags: "a" })).toBe(1);
    expect(await things.distinct("n", {})).toEqual([1, 2]);
    expect(await things.updateOne({ n: 2 }, { $inc: { n: 1 } })).toEqual({ matchedCount: 1, modifiedCount: 1 });
    expect(await things.findOneAndUpdate({ n: 3 }, { $set: { k: true } }, { returnNewDocument: true, projection: { k: 1 } })).toEqual({ _id: 2, k: true });
    expect(await things.deleteMany({ n: 1 })).toEqual({ deletedCount: 1 });
    const error = await failure(things.aggregate([]));
    expect(error.code).toBe("ExceededMemoryLimit");
  });

  it("refuses limits that are not positive integers, naming the option", async () => {
    await expect(createEmbeddedDataService({ name: "x", operationTimeMs: 0 })).rejects.toThrow("options.operationTimeMs must be a positive integer, got 0");
    await expect(createEmbeddedDataService({ name: "x", operationMemoryMb: 1.5 })).rejects.toThrow("options.operationMemoryMb must be a positive integer, got 1.5");
    await expect(createEmbeddedDataService({ name: "x", evaluatorProcesses: "2" as unknown as number })).rejects.toThrow('options.evaluatorProcesses must be a positive integer, got "2"');
  });
});

describe("results through the evaluator are mingo's, BSON types included", () => {
  const PIPELINES: Record<string, unknown>[][] = [
    [],
    [{ $match: { name: { $in: ["ada", "bob"] } } }, { $project: { name: 1, at: 1, price: 1, big: 1, bin: 1 } }],
    [{ $match: { $expr: { $gt: ["$n", 0] } } }, { $addFields: { year: { $year: "$at" }, nTags: { $size: "$tags" } } }],
    [{ $unwind: "$tags" }, { $group: { _id: "$tags", names: { $push: "$name" }, total: { $sum: "$n" } } }, { $sort: { _id: 1 } }],
    [{ $sort: { n: -1 } }, { $skip: 1 }, { $limit: 1 }],
    [{ $project: { r: { $range: [0, 5] }, label: { $concat: ["$name", "!"] }, first: { $arrayElemAt: ["$tags", 0] } } }],
    [{ $facet: { count: [{ $count: "n" }], names: [{ $project: { name: 1 } }] } }],
    [{ $match: { nested: { $exists: true } } }, { $replaceRoot: { newRoot: "$nested" } }],
  ];

  it.each(PIPELINES.map((p) => [JSON.stringify(p), p] as const))("aggregate %s", async (_name, pipeline) => {
    const s = await service();
    const things = s.db("app").collection("things");
    await things.insertMany(DOCS);
    const stored = await things.find({});
    const reference = new Aggregator(pipeline, { scriptEnabled: false }).run(stored);
    // As BSON carries it: a field mingo left undefined is absent, as in MongoDB's own results.
    expect(await things.aggregate(pipeline)).toStrictEqual(deserialize(serialize({ r: reference })).r);
  });

  it("a returned document keeps its classes (ObjectId, Date, Decimal128, Long, Binary)", async () => {
    const s = await service();
    const things = s.db("app").collection("things");
    await things.insertMany(DOCS);
    const [ada] = await things.aggregate([{ $match: { name: "ada" } }]);
    expect(ada!._id).toBeInstanceOf(ObjectId);
    expect(ada!.at).toBeInstanceOf(Date);
    expect(ada!.price).toBeInstanceOf(Decimal128);
    expect(ada!.big).toBeInstanceOf(Long);
    expect(ada!.bin).toBeInstanceOf(Binary);
    expect(ada).toStrictEqual(await things.findOne({ _id: DOCS[0]!._id }));
  });

  it("$expr finds and expression projections equal mingo's find", async () => {
    const s = await service();
    const things = s.db("app").collection("things");
    await things.insertMany(DOCS);
    const stored = await things.find({});
    const filter = { $expr: { $gte: [{ $size: "$tags" }, 1] } };
    const projection = { name: 1, up: { $toUpper: "$name" }, at: 1 };
    expect(await things.find(filter, { projection, sort: { name: -1 } })).toStrictEqual(mingoFind(stored, filter, projection).sort({ name: -1 }).all());
    expect(await things.count(filter)).toBe(2);
    expect(await things.distinct("tags", filter)).toEqual(["a", "b", "c"]);
    expect(await things.findOne({ _id: 2, $expr: { $eq: ["$name", "bob"] } })).toStrictEqual(stored[1]);
  });

  it("$lookup and $unionWith read the other collection; $out writes on the calling thread", async () => {
    const s = await service();
    const db = s.db("app");
    await db.collection("things").insertMany(DOCS);
    await db.collection("owners").insertMany([{ _id: "o1", name: "ada", city: "Paris" }]);
    expect(await db.collection("things").aggregate([{ $match: { name: "ada" } }, { $lookup: { from: "owners", localField: "name", foreignField: "name", as: "owner" } }, { $project: { owner: 1 } }])).toStrictEqual([
      { _id: DOCS[0]!._id, owner: [{ _id: "o1", name: "ada", city: "Paris" }] },
    ]);
    expect(await db.collection("owners").aggregate([{ $project: { name: 1 } }, { $unionWith: { coll: "things", pipeline: [{ $match: { _id: 2 } }, { $project: { name: 1 } }] } }])).toEqual([
      { _id: "o1", name: "ada" },
      { _id: 2, name: "bob" },
    ]);
    expect(await db.collection("things").aggregate([{ $match: { n: { $gt: 0 } } }, { $project: { name: 1 } }, { $out: "positive" }])).toEqual([]);
    expect(await db.collection("positive").find({}, { sort: { name: 1 } })).toEqual([{ _id: DOCS[0]!._id, name: "ada" }, { _id: 2, name: "bob" }]);
  });
});

describe("writes evaluated on the evaluator", () => {
  it("$expr updates and deletes, pipeline updates and pipeline upserts", async () => {
    const s = await service();
    const things = s.db("app").collection("things");
    await things.insertMany([{ _id: 1, a: 1, b: 2 }, { _id: 2, a: 5, b: 1 }, { _id: 3, a: 0, b: 0 }]);
    expect(await things.updateMany({ $expr: { $gt: ["$a", "$b"] } }, { $set: { bigger: "a" } })).toEqual({ matchedCount: 1, modifiedCount: 1 });
    expect(await things.updateOne({ _id: 1 }, [{ $set: { sum: { $add: ["$a", "$b"] } } }])).toEqual({ matchedCount: 1, modifiedCount: 1 });
    expect(await things.updateOne({ _id: 9, k: "new" }, [{ $set: { made: { $concat: ["$k", "!"] } } }], { upsert: true })).toEqual({ matchedCount: 0, modifiedCount: 0, upsertedId: 9 });
    expect(await things.findOneAndUpdate({ $expr: { $eq: ["$a", 0] } }, [{ $set: { a: { $add: ["$a", 100] } } }], { returnNewDocument: true })).toEqual({ _id: 3, a: 100, b: 0 });
    expect(await things.deleteOne({ $expr: { $eq: ["$a", 5] } })).toEqual({ deletedCount: 1 });
    expect(await things.find({}, { sort: { _id: 1 } })).toEqual([
      { _id: 1, a: 1, b: 2, sum: 3 },
      { _id: 3, a: 100, b: 0 },
      { _id: 9, k: "new", made: "new!" },
    ]);
    const error = await failure(things.updateOne({ _id: 1 }, [{ $set: { _id: 7 } }]));
    expect(error.code).toBe("InvalidOperation");
  });

  it("a document changed while the evaluator decided is evaluated again, not overwritten with a stale decision", async () => {
    const s = await service();
    const things = s.db("app").collection("things");
    await things.insertOne({ _id: 1, n: 1 });
    await things.aggregate([]); // a started process, so the update below is surely still out when the next write runs
    // The $expr update reads its candidates now and waits for the evaluator; the key update runs at once.
    const update = things.updateMany({ $expr: { $gt: ["$n", 0] } }, { $inc: { n: 10 } });
    const meanwhile = things.updateOne({ _id: 1 }, { $set: { n: -5 } });
    expect(await meanwhile).toEqual({ matchedCount: 1, modifiedCount: 1 });
    expect(await update).toEqual({ matchedCount: 0, modifiedCount: 0 });
    expect(await things.findOne({ _id: 1 })).toEqual({ _id: 1, n: -5 });
  });

  it("bulkWrite runs evaluated entries in order", async () => {
    const s = await service();
    const things = s.db("app").collection("things");
    await things.bulkWrite([
      { insertOne: { document: { _id: 1, n: 1 } } },
      { updateOne: { filter: { $expr: { $eq: ["$n", 1] } }, update: [{ $set: { n: { $add: ["$n", 1] } } }] } },
      { deleteMany: { filter: { $expr: { $gt: ["$n", 5] } } } },
    ]);
    expect(await things.find({})).toEqual([{ _id: 1, n: 2 }]);
  });
});
