/**
 * Real App Services functions running in real isolates (@restitch/runtime) against each backend, through
 * mongodbGuestClient and createServiceBinding: the conformance items of spec §2.3 (C83–C93).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Binary, ObjectId } from "bson";
import { createRuntime, type AppRuntime, type HostBridge, type Runtime } from "@restitch/runtime";
import { createServiceBinding, mongodbGuestClient, type Caller, type DataService } from "../src/index.js";
import { backends } from "./backends.js";

const functions: Record<string, string> = {
  // Seed 000 (S000): an endpoint that stores the request body with a date.
  seed000: `exports = async function ({ query, headers, body }, response) {
    const bodyJson = JSON.parse(body.text());
    const { insertedId } = await context.services.get("mongodb-atlas").db("DB").collection("requests")
      .insertOne({ date: new Date(), requestBody: bodyJson });
    return { insertedId };
  };`,
  // Seed 001 (S001): MyCustomEndpoint, verbatim apart from the names of db and collection.
  seed001: `exports = async function MyCustomEndpoint(request, response) { try { if (request.body === undefined) { throw new Error(\`Request body was not defined.\`); } const body = JSON.parse(request.body.text()); const { insertedId } = await context.services .get("mongodb-atlas") .db("DB") .collection("myCollection") .insertOne({ date: new Date(), requestBody: body }); response.setStatusCode(201); response.setBody( JSON.stringify({ insertedId, message: "Successfully saved the request body", }) ); } catch (error) { response.setStatusCode(400); response.setBody(error.message); } };`,
  insertOne: `exports = async (doc) => {
    const r = await context.services.get("mongodb-atlas").db("DB").collection("c83").insertOne(doc);
    return { r, isOid: r.insertedId instanceof BSON.ObjectId, keys: Object.keys(r) };
  };`,
  insertMany: `exports = async () => context.services.get("mongodb-atlas").db("DB").collection("c84").insertMany([{ _id: "b" }, { _id: "a" }, { n: 3 }]);`,
  findOneNull: `exports = async () => context.services.get("mongodb-atlas").db("DB").collection("c85").findOne({ nomatch: 1 });`,
  sorted: `exports = async () => {
    const c = context.services.get("mongodb-atlas").db("DB").collection("c86");
    await c.insertMany([{ a: 1 }, { a: 3 }, { a: 2 }, { a: 5 }]);
    const cursor = c.find({}, { _id: 0 }).sort({ a: -1 }).limit(2);
    const top = await cursor.toArray();
    let late;
    try { cursor.limit(5); late = "accepted"; } catch (e) { late = e.message; }
    return { top, late };
  };`,
  exhaust: `exports = async () => {
    const c = context.services.get("mongodb-atlas").db("DB").collection("c87");
    await c.insertMany([{ i: 1 }, { i: 2 }]);
    const cursor = c.find({}, { _id: 0, i: 1 }).sort({ i: 1 });
    return [await cursor.next(), await cursor.next(), await cursor.next(), await cursor.next()];
  };`,
  upsert: `exports = async () => context.services.get("mongodb-atlas").db("DB").collection("c88")
    .updateOne({ name: "new" }, { $set: { v: 1 } }, { upsert: true });`,
  findOneAndUpdate: `exports = async () => {
    const c = context.services.get("mongodb-atlas").db("DB").collection("c89");
    await c.insertOne({ _id: 1, v: 1 });
    const before = await c.findOneAndUpdate({ _id: 1 }, { $inc: { v: 1 } });
    const after = await c.findOneAndUpdate({ _id: 1 }, { $inc: { v: 1 } }, { returnNewDocument: true });
    return { before, after };
  };`,
  deleteMany: `exports = async () => {
    const c = context.services.get("mongodb-atlas").db("DB").collection("c90");
    await c.insertMany([{ t: 1 }, { t: 1 }, { t: 2 }]);
    return c.deleteMany({ t: 1 });
  };`,
  countDistinct: `exports = async () => {
    const c = context.services.get("mongodb-atlas").db("DB").collection("c91");
    await c.insertMany([{ s: "x" }, { s: "y" }, { s: "x" }]);
    const n = await c.count({ s: "x" });
    const d = await c.distinct("s", {});
    return { n, type: typeof n, d: d.sort(), isArray: Array.isArray(d) };
  };`,
  aggregate: `exports = async () => {
    const c = context.services.get("mongodb-atlas").db("DB").collection("c92");
    await c.insertMany([{ s: "complete" }, { s: "complete" }, { s: "open" }]);
    return c.aggregate([{ $group: { _id: "$s", count: { $sum: 1 } } }, { $sort: { _id: 1 } }]).toArray();
  };`,
  ejsonOid: `exports = async (request) => {
    const doc = EJSON.parse(request.body.text());
    const c = context.services.get("mongodb-atlas").db("DB").collection("c93");
    await c.insertOne(doc);
    const found = await c.findOne({ _id: doc._id });
    return { isOid: doc._id instanceof BSON.ObjectId, hex: found._id.toHexString(), same: found._id.equals(doc._id) };
  };`,
  whereAttack: `exports = async () => {
    try { await context.services.get("mongodb-atlas").db("DB").collection("x").find({ $where: "true" }).toArray(); return "ran"; }
    catch (e) { return { name: e.name, code: e.code, message: e.message }; }
  };`,
  adminAttack: `exports = async () => {
    try { await context.services.get("mongodb-atlas").db("admin").collection("system.users").findOne({}); return "ran"; }
    catch (e) { return { code: e.code, message: e.message }; }
  };`,
  noRules: `exports = async () => {
    try { await context.services.get("mongodb-atlas").db("DB").collection("secret").find({}).toArray(); return "ran"; }
    catch (e) { return { code: e.code, message: e.message }; }
  };`,
  collectionNames: `exports = async () => context.services.get("mongodb-atlas").db("DB").getCollectionNames();`,
};

// What the router hands an endpoint function: the body is a BSON.Binary (whose text() decodes UTF-8).
const request = (text: string) => ({ query: {}, headers: {}, body: new Binary(Buffer.from(text, "utf8")) });

describe.each(backends)("functions in isolates against $label", (backend) => {
  let runtime: Runtime;
  let app: AppRuntime;
  let service: DataService;
  let database: string;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    ({ service, database, cleanup } = await backend.open());
    runtime = createRuntime({ serviceClients: { "mongodb-atlas": mongodbGuestClient } });
    // The functions name database "DB"; each backend run gets its own real database name.
    const src = Object.fromEntries(Object.entries(functions).map(([k, v]) => [k, { source: v.replaceAll('db("DB")', `db(${JSON.stringify(database)})`), file: `functions/${k}.js` }]));
    app = runtime.app({ id: "mongodb-test", functions: src });
  });
  afterAll(async () => {
    await runtime?.close();
    await cleanup?.();
  });

  const bridge = (caller: Caller = { system: true }): HostBridge => ({
    services: { "mongodb-atlas": createServiceBinding(service, caller) },
    runningAsSystem: caller.system,
  });
  async function call(name: string, args: unknown[] = [], caller?: Caller, httpResponse = false) {
    const r = await app.call({ functionName: name, args, bridge: bridge(caller), httpResponse });
    if (!r.ok) throw new Error(`${name} failed: ${JSON.stringify(r.error)}`);
    return r;
  }

  it("C83 seed 000: insertOne from an endpoint stores {date, requestBody} and returns the insertedId", async () => {
    const r = await call("seed000", [request('{"hello":"world"}')], undefined, true);
    const { insertedId } = r.value as { insertedId: ObjectId };
    expect(insertedId).toBeInstanceOf(ObjectId);
    const stored = await service.db(database).collection("requests").findOne({ _id: insertedId });
    expect(stored!.requestBody).toEqual({ hello: "world" });
    expect(stored!.date).toBeInstanceOf(Date);
  });

  it("C83 seed 001: MyCustomEndpoint answers 201 with the insertedId as JSON", async () => {
    const r = await call("seed001", [request('{"n":1}')], undefined, true);
    expect(r.response!.statusCode).toBe(201);
    const body = JSON.parse(Buffer.from(r.response!.body!).toString("utf8"));
    expect(body.message).toBe("Successfully saved the request body");
    expect(body.insertedId).toMatch(/^[0-9a-f]{24}$/);
    expect(await service.db(database).collection("myCollection").findOne({ _id: new ObjectId(body.insertedId as string) })).toMatchObject({ requestBody: { n: 1 } });
  });

  it("C83 insertOne → {insertedId}, a BSON.ObjectId inside and outside the isolate", async () => {
    const r = await call("insertOne", [{ x: 1 }]);
    const v = r.value as { r: { insertedId: ObjectId }; isOid: boolean; keys: string[] };
    expect(v.keys).toEqual(["insertedId"]);
    expect(v.isOid).toBe(true);
    expect(v.r.insertedId).toBeInstanceOf(ObjectId);
  });

  it("C84 insertMany → {insertedIds} in input order", async () => {
    const v = (await call("insertMany")).value as { insertedIds: unknown[] };
    expect(v.insertedIds.slice(0, 2)).toEqual(["b", "a"]);
    expect(v.insertedIds[2]).toBeInstanceOf(ObjectId);
  });

  it("C85 findOne({nomatch:1}) → null", async () => {
    expect((await call("findOneNull")).value).toBeNull();
  });

  it("C86 find(q).sort({a:-1}).limit(2).toArray() is sorted and limited; modifiers after the first read throw", async () => {
    const v = (await call("sorted")).value as { top: unknown[]; late: string };
    expect(v.top).toEqual([{ a: 5 }, { a: 3 }]);
    expect(v.late).toMatch(/before the first read/);
  });

  it("C87 cursor.next() resolves undefined when exhausted", async () => {
    // undefined inside an array crosses back as null (EJSON has no undefined).
    const v = (await call("exhaust")).value as unknown[];
    expect(v.slice(0, 2)).toEqual([{ i: 1 }, { i: 2 }]);
    expect(v[2] ?? undefined).toBeUndefined();
    expect(v[3] ?? undefined).toBeUndefined();
  });

  it("C88 updateOne upsert with no match → upsertedId present, counts 0", async () => {
    const v = (await call("upsert")).value as { matchedCount: number; modifiedCount: number; upsertedId: unknown };
    expect(v.matchedCount).toBe(0);
    expect(v.modifiedCount).toBe(0);
    expect(v.upsertedId).toBeInstanceOf(ObjectId);
  });

  it("C89 findOneAndUpdate returns the pre-image by default, the post-image with returnNewDocument", async () => {
    expect((await call("findOneAndUpdate")).value).toEqual({ before: { _id: 1, v: 1 }, after: { _id: 1, v: 3 } });
  });

  it("C90 deleteMany → {deletedCount}", async () => {
    expect((await call("deleteMany")).value).toEqual({ deletedCount: 2 });
  });

  it("C91 count → number; distinct → array", async () => {
    expect((await call("countDistinct")).value).toEqual({ n: 2, type: "number", d: ["x", "y"], isArray: true });
  });

  it("C92 aggregate(p).toArray() returns the pipeline output", async () => {
    expect((await call("aggregate")).value).toEqual([
      { _id: "complete", count: 2 },
      { _id: "open", count: 1 },
    ]);
  });

  it("C93 EJSON.parse of {$oid} gives an ObjectId that is stored and matched as one", async () => {
    const v = (await call("ejsonOid", [request('{"_id":{"$oid":"64224f3cd79f54ad342dd9b2"},"n":1}')])).value;
    expect(v).toEqual({ isOid: true, hex: "64224f3cd79f54ad342dd9b2", same: true });
    expect(await service.db(database).collection("c93").findOne({ _id: new ObjectId("64224f3cd79f54ad342dd9b2") })).toEqual({ _id: new ObjectId("64224f3cd79f54ad342dd9b2"), n: 1 });
  });

  it("db.getCollectionNames() lists the collections", async () => {
    expect((await call("collectionNames")).value).toEqual(expect.arrayContaining(["c83", "c84"]));
  });

  it("guest attacks come back as rejected promises with codes: $where, admin namespaces", async () => {
    expect((await call("whereAttack")).value).toMatchObject({ code: "Forbidden", message: expect.stringMatching(/\$where/) });
    expect((await call("adminAttack")).value).toMatchObject({ code: "Forbidden" });
  });

  it("C127 a user call without rules is refused with NoMatchingRuleFound", async () => {
    const v = (await call("noRules", [], { system: false, user: { id: "u1" } })).value;
    expect(v).toEqual({ code: "NoMatchingRuleFound", message: `no rule exists for namespace '${database}.secret'` });
  });
});
