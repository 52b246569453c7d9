/**
 * The host binding is an attack surface: these tests call binding.invoke directly with what a hostile
 * guest could send, on a real embedded store, and check that nothing unsafe reaches the data service.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ObjectId } from "bson";
import {
  createEmbeddedDataService,
  createServiceBinding,
  DataServiceError,
  type Caller,
  type DataOperation,
  type DataService,
  type RulesEngine,
} from "../src/index.js";

let service: DataService;
beforeAll(async () => {
  service = await createEmbeddedDataService({ name: "mongodb-atlas" });
  await service.db("app").collection("items").insertMany([{ _id: 1, v: "a" }, { _id: 2, v: "b" }]);
});
afterAll(() => service.close());

const system = () => createServiceBinding(service, { system: true });

async function refused(p: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  expect(e).toBeInstanceOf(DataServiceError);
  expect((e as DataServiceError).code).toBe(code);
  if (message) expect((e as Error).message).toMatch(message);
}

describe("service binding: dispatch and identity", () => {
  it("system callers reach the data service directly", async () => {
    const b = system();
    expect(b.type).toBe("mongodb-atlas");
    expect(await b.invoke("findOne", ["app", "items", { _id: 1 }])).toEqual({ _id: 1, v: "a" });
    expect(await b.invoke("getCollectionNames", ["app"])).toEqual(["items"]);
  });

  it("C127 a non-system caller without a rules engine gets NoMatchingRuleFound naming the namespace", async () => {
    const b = createServiceBinding(service, { system: false, user: { id: "u1" } });
    await refused(b.invoke("find", ["app", "items", {}]), "NoMatchingRuleFound", /^no rule exists for namespace 'app\.items'$/);
    await refused(b.invoke("insertOne", ["app", "items", { x: 1 }]), "NoMatchingRuleFound");
    expect(await service.db("app").collection("items").count({ x: 1 })).toBe(0);
  });

  it("non-system callers go through the rules engine with the host-chosen user, whatever the guest sends", async () => {
    const seen: { op: DataOperation; caller: Caller }[] = [];
    // A pass-through engine that records what it was given (the real one lives in src/rules/).
    const rules: RulesEngine = {
      execute: async (op, caller, svc) => (seen.push({ op, caller }), svc.execute(op)),
    };
    const b = createServiceBinding(service, { system: false, user: { id: "u1", type: "normal" } }, { rules });
    // The guest tries to claim system identity through every channel it has: extra options, extra args.
    expect(await b.invoke("findOne", ["app", "items", { _id: 2 }, null, { system: true, runAsSystem: true }])).toEqual({ _id: 2, v: "b" });
    await refused(b.invoke("findOne", ["app", "items", { _id: 2 }, null, {}, { system: true }]), "InvalidParameter", /at most 3 arguments/);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.caller).toEqual({ system: false, user: { id: "u1", type: "normal" } });
    expect(seen[0]!.op).toEqual({ database: "app", collection: "items", kind: "findOne", filter: { _id: 2 } });
  });

  it("builds normalized operations with App Services defaults", async () => {
    const ops: DataOperation[] = [];
    const rules: RulesEngine = { execute: async (op) => (ops.push(op), null) };
    const b = createServiceBinding(service, { system: false, user: {} }, { rules });
    await b.invoke("find", ["app", "items", undefined, { v: 1 }, { sort: { v: -1 }, limit: -2, skip: 1 }]);
    await b.invoke("insertMany", ["app", "items", [{ a: 1 }]]);
    await b.invoke("findOneAndUpdate", ["app", "items", { a: 1 }, { $set: { a: 2 } }]);
    await b.invoke("countDocuments", ["app", "items"]);
    await b.invoke("updateMany", ["app", "items", { a: 1 }, [{ $set: { b: 1 } }], { upsert: true }]);
    expect(ops).toEqual([
      { database: "app", collection: "items", kind: "find", filter: {}, projection: { v: 1 }, sort: { v: -1 }, limit: 2, skip: 1 },
      { database: "app", collection: "items", kind: "insertMany", documents: [{ a: 1 }], ordered: true },
      { database: "app", collection: "items", kind: "findOneAndUpdate", filter: { a: 1 }, update: { $set: { a: 2 } }, upsert: false, returnNewDocument: false },
      { database: "app", collection: "items", kind: "count", filter: {} },
      { database: "app", collection: "items", kind: "updateMany", filter: { a: 1 }, update: [{ $set: { b: 1 } }], upsert: true },
    ]);
  });
});

describe("service binding: validation of everything the guest sends", () => {
  it("only the documented methods exist (createIndex is host-only)", async () => {
    for (const m of ["createIndex", "drop", "dropDatabase", "runCommand", "__proto__", "constructor", "toString", "execute"])
      await refused(system().invoke(m, ["app", "items", { a: 1 }]), "InvalidParameter", /unknown mongodb-atlas method/);
  });

  it("namespaces: non-empty strings without NUL or $, never admin/local/config or system.* collections", async () => {
    const b = system();
    const bad: [unknown, unknown, string][] = [
      ["", "items", "InvalidParameter"],
      [42, "items", "InvalidParameter"],
      [{ $ne: null }, "items", "InvalidParameter"],
      ["app\0x", "items", "InvalidParameter"],
      ["a$b", "items", "InvalidParameter"],
      ["a.b", "items", "InvalidParameter"],
      ["admin", "items", "Forbidden"],
      ["LOCAL", "items", "Forbidden"],
      ["config", "items", "Forbidden"],
      ["app", "", "InvalidParameter"],
      ["app", "a$b", "InvalidParameter"],
      ["app", "x\0", "InvalidParameter"],
      ["app", "system.users", "Forbidden"],
      ["app", ["items"], "InvalidParameter"],
    ];
    for (const [db, coll, code] of bad) await refused(b.invoke("find", [db, coll, {}]), code);
    await refused(b.invoke("getCollectionNames", ["admin"]), "Forbidden");
  });

  it("filters, updates and options must be plain documents of the right types", async () => {
    const b = system();
    await refused(b.invoke("find", ["app", "items", "a string"]), "InvalidParameter", /filter must be a document/);
    await refused(b.invoke("find", ["app", "items", [1, 2]]), "InvalidParameter", /filter must be a document/);
    await refused(b.invoke("find", ["app", "items", new ObjectId()]), "InvalidParameter", /BSON ObjectId/);
    await refused(b.invoke("find", ["app", "items", new Date()]), "InvalidParameter");
    await refused(b.invoke("updateOne", ["app", "items", { _id: 1 }]), "InvalidParameter", /update is required/);
    await refused(b.invoke("updateOne", ["app", "items", { _id: 1 }, { $set: { v: 1 } }, { upsert: "yes" }]), "InvalidParameter", /options.upsert must be a boolean/);
    await refused(b.invoke("find", ["app", "items", {}, null, { limit: "10" }]), "InvalidParameter", /options.limit/);
    await refused(b.invoke("find", ["app", "items", {}, null, { limit: 1.5 }]), "InvalidParameter");
    await refused(b.invoke("find", ["app", "items", {}, null, { skip: -1 }]), "InvalidParameter", /options.skip/);
    await refused(b.invoke("find", ["app", "items", {}, null, { sort: "v" }]), "InvalidParameter", /options.sort/);
    await refused(b.invoke("insertMany", ["app", "items", { not: "an array" }]), "InvalidParameter", /documents must be an array/);
    await refused(b.invoke("distinct", ["app", "items", { $where: 1 }]), "InvalidParameter", /field must be a non-empty string/);
    await refused(b.invoke("find", "not an array" as never), "InvalidParameter");
    await refused(b.invoke("insertOne", ["app", "items", { f: Object.assign(Object.create({ evil: 1 }), { a: 1 }) }]), "InvalidParameter", /plain document/);
  });

  it("deeply nested input is refused before any recursion can overflow", async () => {
    let deep: Record<string, unknown> = { leaf: 1 };
    for (let i = 0; i < 10_000; i++) deep = { n: deep };
    await refused(system().invoke("find", ["app", "items", deep]), "InvalidParameter", /nested deeper than 100/);
    await refused(system().invoke("insertOne", ["app", "items", deep]), "InvalidParameter", /nested deeper/);
  });

  it("server-side JavaScript is refused anywhere, even for system callers ($where, $function, $accumulator, BSON Code)", async () => {
    const b = system();
    await refused(b.invoke("find", ["app", "items", { $where: "sleep(100000)" }]), "Forbidden", /\$where/);
    await refused(b.invoke("find", ["app", "items", { $and: [{ v: "a" }, { $where: "true" }] }]), "Forbidden", /\$where/);
    await refused(b.invoke("find", ["app", "items", { $expr: { $function: { body: "return 1", args: [], lang: "js" } } }]), "Forbidden", /\$function/);
    await refused(
      b.invoke("aggregate", ["app", "items", [{ $group: { _id: null, x: { $accumulator: { init: "function(){}", accumulate: "", accumulateArgs: [], merge: "", lang: "js" } } } }]]),
      "Forbidden",
      /\$accumulator/,
    );
    await refused(b.invoke("updateOne", ["app", "items", { _id: 1 }, [{ $set: { v: { $function: { body: "x", args: [], lang: "js" } } } }]]), "Forbidden");
    await refused(b.invoke("insertOne", ["app", "items", { code: new Code("function () { return 1 }") }]), "Forbidden", /BSON Code/);
    await refused(b.invoke("find", ["app", "items", { $where: new Code("true") }]), "Forbidden");
  });

  it("admin and cross-database stages are refused, also nested in $facet and $lookup pipelines", async () => {
    const b = system();
    const agg = (pipeline: unknown[]) => b.invoke("aggregate", ["app", "items", pipeline]);
    for (const stage of ["$currentOp", "$collStats", "$indexStats", "$listSessions", "$listLocalSessions", "$planCacheStats", "$changeStream"])
      await refused(agg([{ [stage]: {} }]), "Forbidden", new RegExp(`\\${stage}`));
    await refused(agg([{ $out: { db: "other", coll: "x" } }]), "Forbidden", /database 'app'/);
    await refused(agg([{ $out: "system.js" }]), "Forbidden");
    await refused(agg([{ $merge: { into: { db: "admin", coll: "x" } } }]), "Forbidden");
    await refused(agg([{ $merge: "system.users" }]), "Forbidden");
    await refused(agg([{ $lookup: { from: { db: "other", coll: "x" }, as: "y", pipeline: [] } }]), "Forbidden");
    await refused(agg([{ $unionWith: { coll: "system.views" } }]), "Forbidden");
    await refused(agg([{ $facet: { a: [{ $indexStats: {} }] } }]), "Forbidden");
    await refused(agg([{ $lookup: { from: "items", as: "y", pipeline: [{ $currentOp: {} }] } }]), "Forbidden");
    // Same-database stages stay available to system callers.
    expect(await agg([{ $match: { _id: 1 } }, { $lookup: { from: "items", localField: "_id", foreignField: "_id", as: "self" } }, { $project: { n: { $size: "$self" } } }])).toEqual([{ _id: 1, n: 1 }]);
  });
});
