/**
 * The rules engine on every backend (embedded in memory and durable; the driver when MONGODB_URI is set):
 * each rule kind both allowing and denying, citing the checklist (spec §10, C127 and C131–C138).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ObjectId } from "bson";
import { DataServiceError, type DataOperation, type DataService, type Document } from "../src/index.js";
import { createRulesEngine, type RoleDef, type RuleSet, type RulesSource } from "../src/rules/index.js";
import { backends } from "./backends.js";

const alice = { id: new ObjectId().toHexString(), type: "normal", data: { email: "alice@example.com" }, custom_data: { team: "red", manages: ["carol@example.com"] }, identities: [] };
const bob = { id: new ObjectId().toHexString(), type: "normal", data: { email: "bob@example.com" }, custom_data: { team: "blue" }, identities: [] };
type User = typeof alice;

/** TST/functions_tester's role. */
const readAndWriteAll: RoleDef = {
  name: "readAndWriteAll",
  apply_when: {},
  document_filters: { write: true, read: true },
  read: true,
  write: true,
  insert: true,
  delete: true,
  search: true,
};
const owner: RoleDef = { name: "owner", apply_when: { owner_id: "%%user.id" }, read: true, write: true, insert: true, delete: true };

async function rejection(p: Promise<unknown>): Promise<DataServiceError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e, "expected the operation to be refused").toBeInstanceOf(DataServiceError);
  return e as DataServiceError;
}

const names = (docs: unknown) => (docs as Document[]).map((d) => d.name).sort();

describe.each(backends)("rules engine: $label", (backend) => {
  let service: DataService;
  let database: string;
  let cleanup: () => Promise<void>;
  let n = 0;

  beforeAll(async () => {
    ({ service, database, cleanup } = await backend.open());
  });
  afterAll(async () => {
    await cleanup?.();
  });

  /** A fresh collection seeded (as system) with `docs`, and a caller bound to `rules` for it. */
  async function setup(docs: Document[], rules: RuleSet | undefined, options: { defaultRule?: RuleSet; callFunction?: (name: string, args: unknown[]) => Promise<unknown> } = {}) {
    const collection = `r${n++}`;
    if (docs.length) await service.execute({ database, collection, kind: "insertMany", documents: docs.map((d) => ({ ...d })), ordered: true });
    const source: RulesSource = { rules: new Map(rules ? [[`${database}.${collection}`, rules]] : []), ...(options.defaultRule ? { defaultRule: options.defaultRule } : {}) };
    const engine = createRulesEngine(source, { values: (name) => ({ admins: [alice.id] })[name], ...(options.callFunction ? { callFunction: options.callFunction } : {}) });
    const as = (user: User) => (op: Record<string, unknown>) =>
      engine.execute({ database, collection, ...op } as DataOperation, { system: false, user }, service);
    const all = () => service.execute({ database, collection, kind: "find", filter: {}, sort: { name: 1 } });
    return { as, all, collection };
  }

  const threeDocs = () => [
    { name: "a1", owner_id: alice.id, secret: "s-a1", team: "red", n: 1 },
    { name: "a2", owner_id: alice.id, secret: "s-a2", team: "blue", n: 2 },
    { name: "b1", owner_id: bob.id, secret: "s-b1", team: "blue", n: 3 },
  ];

  it("C127 a collection with no rules (and no default rule) refuses a non-system caller with NoMatchingRuleFound", async () => {
    const { as, collection } = await setup(threeDocs(), undefined);
    const e = await rejection(as(alice)({ kind: "find", filter: {} }));
    expect(e.code).toBe("NoMatchingRuleFound");
    expect(e.message).toBe(`no rule exists for namespace '${database}.${collection}'`);
  });

  it("C135 default_rule.json applies to a collection without rules.json", async () => {
    const { as } = await setup(threeDocs(), undefined, { defaultRule: { roles: [owner], filters: [] } });
    expect(names(await as(alice)({ kind: "find", filter: {} }))).toEqual(["a1", "a2"]);
    expect(names(await as(bob)({ kind: "find", filter: {} }))).toEqual(["b1"]);
  });

  it("C134 a collection's rules.json shadows default_rule.json entirely (no fallback when its roles do not apply)", async () => {
    const { as } = await setup(threeDocs(), { roles: [owner], filters: [] }, { defaultRule: { roles: [readAndWriteAll], filters: [] } });
    expect(names(await as(bob)({ kind: "find", filter: {} }))).toEqual(["b1"]);
    // Sanity: the default rule alone would show everything.
    const other = await setup(threeDocs(), undefined, { defaultRule: { roles: [readAndWriteAll], filters: [] } });
    expect(names(await other.as(bob)({ kind: "find", filter: {} }))).toEqual(["a1", "a2", "b1"]);
  });

  it("C132 a document whose role apply_when fails is hidden from find, findOne, count and distinct", async () => {
    const { as } = await setup(threeDocs(), { roles: [owner], filters: [] });
    const bobs = as(bob);
    expect(names(await bobs({ kind: "find", filter: {} }))).toEqual(["b1"]);
    expect(await bobs({ kind: "findOne", filter: { name: "a1" } })).toBeNull();
    expect((await bobs({ kind: "findOne", filter: { name: "b1" } }) as Document).secret).toBe("s-b1");
    expect(await bobs({ kind: "count", filter: {} })).toBe(1);
    expect(await as(alice)({ kind: "count", filter: {} })).toBe(2);
    expect(((await bobs({ kind: "distinct", field: "team", filter: {} })) as string[]).sort()).toEqual(["blue"]);
    expect(((await as(alice)({ kind: "distinct", field: "team", filter: {} })) as string[]).sort()).toEqual(["blue", "red"]);
  });

  it("C132 skip/limit/sort count only the documents the caller may see", async () => {
    const docs = Array.from({ length: 12 }, (_, i) => ({ name: `d${String(i).padStart(2, "0")}`, owner_id: i % 3 === 0 ? bob.id : alice.id, n: i }));
    const { as } = await setup(docs, { roles: [owner], filters: [] });
    const page = (await as(alice)({ kind: "find", filter: {}, sort: { n: -1 }, skip: 2, limit: 3 })) as Document[];
    expect(page.map((d) => d.n)).toEqual([8, 7, 5]);
    expect(await as(alice)({ kind: "count", filter: {}, skip: 2, limit: 3 })).toBe(3);
    expect(await as(bob)({ kind: "count", filter: {} })).toBe(4);
  });

  it("C133 the first role in array order whose apply_when holds decides, per document", async () => {
    const reader: RoleDef = { name: "reader", apply_when: {}, fields: { name: { read: true } } };
    // Owner first: alice reads her documents in full and only the names of the others.
    const first = await setup(threeDocs(), { roles: [owner, reader], filters: [] });
    const seen = (await first.as(alice)({ kind: "find", filter: {}, sort: { name: 1 } })) as Document[];
    expect(seen.map((d) => [d.name, d.secret])).toEqual([["a1", "s-a1"], ["a2", "s-a2"], ["b1", undefined]]);
    // Reader first: it applies to every document, so owner never gets a say.
    const second = await setup(threeDocs(), { roles: [reader, owner], filters: [] });
    const seen2 = (await second.as(alice)({ kind: "find", filter: {}, sort: { name: 1 } })) as Document[];
    expect(seen2.map((d) => [d.name, d.secret])).toEqual([["a1", undefined], ["a2", undefined], ["b1", undefined]]);
    expect(Object.keys(seen2[0]!).sort()).toEqual(["_id", "name"]);
  });

  it("C136 fields.secret.read:false with additional_fields read omits secret; fields.secret.read:true returns it", async () => {
    const hide: RoleDef = { name: "hide", apply_when: {}, fields: { secret: { read: false } }, additional_fields: { read: true } };
    const { as } = await setup(threeDocs(), { roles: [hide], filters: [] });
    const docs = (await as(alice)({ kind: "find", filter: {} })) as Document[];
    expect(docs).toHaveLength(3);
    for (const d of docs) {
      expect(d).not.toHaveProperty("secret");
      expect(d).toHaveProperty("name");
      expect(d).toHaveProperty("_id");
    }
    const show: RoleDef = { name: "show", apply_when: {}, fields: { secret: { read: true } } };
    const other = await setup(threeDocs(), { roles: [show], filters: [] });
    const shown = (await other.as(alice)({ kind: "find", filter: {}, sort: { name: 1 } })) as Document[];
    // additional_fields defaults to false: only the named field (and _id) comes back.
    expect(shown.map((d) => Object.keys(d).sort())).toEqual([["_id", "secret"], ["_id", "secret"], ["_id", "secret"]]);
  });

  it("C136 nested field permissions and field-level expressions (%%root, %%user)", async () => {
    const docs = [
      { name: "p1", owner_id: alice.id, profile: { email: "p1@x", phone: "111" } },
      { name: "p2", owner_id: bob.id, profile: { email: "p2@x", phone: "222" } },
    ];
    const role: RoleDef = {
      name: "people",
      apply_when: {},
      fields: { name: { read: true }, profile: { fields: { email: { read: true }, phone: { read: { "%%root.owner_id": "%%user.id" } } } } },
    };
    const { as } = await setup(docs, { roles: [role], filters: [] });
    const seen = (await as(alice)({ kind: "find", filter: {}, sort: { name: 1 } })) as Document[];
    expect(seen.map((d) => d.profile)).toEqual([{ email: "p1@x", phone: "111" }, { email: "p2@x" }]);
  });

  it("C137 a filter {apply_when: %%true, query: {owner_id: %%user.id}} restricts results; one whose apply_when fails does not", async () => {
    const mine = { name: "mine", apply_when: { "%%true": true }, query: { owner_id: "%%user.id" } };
    const { as } = await setup(threeDocs(), { roles: [readAndWriteAll], filters: [mine] });
    expect(names(await as(alice)({ kind: "find", filter: {} }))).toEqual(["a1", "a2"]);
    expect(names(await as(bob)({ kind: "find", filter: { team: "blue" } }))).toEqual(["b1"]);
    expect(await as(bob)({ kind: "count", filter: {} })).toBe(1);
    // Writes go through the filter too: bob's deleteMany({}) cannot reach alice's documents.
    expect(await as(bob)({ kind: "deleteMany", filter: {} })).toEqual({ deletedCount: 1 });
    const off = { ...mine, apply_when: { "%%user.type": "server" } };
    const other = await setup(threeDocs(), { roles: [readAndWriteAll], filters: [off] });
    expect(names(await other.as(bob)({ kind: "find", filter: {} }))).toEqual(["a1", "a2", "b1"]);
  });

  it("C138 a filter projection {_internal: 0} removes the field; mixing inclusive and exclusive filter projections fails", async () => {
    const docs = [{ name: "x", _internal: "hidden", keep: 1 }];
    const strip = { name: "strip", apply_when: {}, projection: { _internal: 0 } };
    const { as } = await setup(docs, { roles: [readAndWriteAll], filters: [strip] });
    const [doc] = (await as(alice)({ kind: "find", filter: {} })) as Document[];
    expect(doc).toMatchObject({ name: "x", keep: 1 });
    expect(doc).not.toHaveProperty("_internal");
    const agg = (await as(alice)({ kind: "aggregate", pipeline: [{ $project: { _internal: 1, name: 1 } }] })) as Document[];
    expect(agg[0]).not.toHaveProperty("_internal");
    expect(await as(alice)({ kind: "distinct", field: "_internal", filter: {} })).toEqual([]);
    // The caller's own projection still applies after the filter's.
    const [only] = (await as(alice)({ kind: "find", filter: {}, projection: { name: 1 } })) as Document[];
    expect(Object.keys(only!).sort()).toEqual(["_id", "name"]);
    const include = { name: "include", apply_when: {}, projection: { name: 1 } };
    const mixed = await setup(docs, { roles: [readAndWriteAll], filters: [strip, include] });
    const e = await rejection(mixed.as(alice)({ kind: "find", filter: {} }));
    expect(e.code).toBe("BadQuery");
    expect(e.message).toMatch(/filters 'include' and 'strip' mix inclusive and exclusive projections|filters 'strip' and 'include'/);
  });

  it("C131 insert:false blocks insertOne with 'insert not permitted' and writes nothing; insert:true allows it", async () => {
    const noInsert: RoleDef = { ...readAndWriteAll, name: "noInsert", insert: false };
    const { as, all } = await setup([], { roles: [noInsert], filters: [] });
    const e = await rejection(as(alice)({ kind: "insertOne", document: { name: "new" } }));
    expect(e.code).toBe("Forbidden");
    expect(e.message).toBe("insert not permitted");
    expect(await all()).toEqual([]);
    const ok = await setup([], { roles: [owner], filters: [] });
    const r = (await ok.as(alice)({ kind: "insertOne", document: { name: "new", owner_id: alice.id } })) as { insertedId: unknown };
    expect(r.insertedId).toBeInstanceOf(ObjectId);
    expect(names(await ok.all())).toEqual(["new"]);
    // The role is chosen for the new document: alice cannot insert a document owned by bob.
    expect((await rejection(ok.as(alice)({ kind: "insertOne", document: { name: "forged", owner_id: bob.id } }))).message).toBe("insert not permitted");
    // insertMany checks every document first: one denied, none written.
    await rejection(ok.as(alice)({ kind: "insertMany", documents: [{ name: "m1", owner_id: alice.id }, { name: "m2", owner_id: bob.id }], ordered: true }));
    expect(names(await ok.all())).toEqual(["new"]);
  });

  it("C131 insert also needs write permission on every field of the new document", async () => {
    const role: RoleDef = { name: "partial", apply_when: {}, insert: true, fields: { name: { write: true } } };
    const { as, all } = await setup([], { roles: [role], filters: [] });
    await as(alice)({ kind: "insertOne", document: { name: "ok" } });
    expect((await rejection(as(alice)({ kind: "insertOne", document: { name: "no", extra: 1 } }))).message).toBe("insert not permitted");
    expect(names(await all())).toEqual(["ok"]);
  });

  it("field-level write: permitted fields update, a forbidden field refuses the whole updateMany and writes nothing", async () => {
    const role: RoleDef = { name: "editor", apply_when: {}, fields: { name: { read: true }, n: { write: true }, secret: { read: false } } };
    const { as, all } = await setup(threeDocs(), { roles: [role], filters: [] });
    const r = await as(alice)({ kind: "updateMany", filter: {}, update: { $inc: { n: 10 } }, upsert: false });
    expect(r).toMatchObject({ matchedCount: 3, modifiedCount: 3 });
    expect((await all()).map((d) => d.n)).toEqual([11, 12, 13]);
    const e = await rejection(as(alice)({ kind: "updateMany", filter: {}, update: { $set: { secret: "x", n: 0 } }, upsert: false }));
    expect(e.code).toBe("Forbidden");
    expect(e.message).toBe("update not permitted");
    expect((await all()).map((d) => [d.n, d.secret])).toEqual([[11, "s-a1"], [12, "s-a2"], [13, "s-b1"]]);
  });

  it("update checks the post-image too: alice cannot hand her document to bob, but can edit it", async () => {
    const { as, all } = await setup(threeDocs(), { roles: [owner], filters: [] });
    const e = await rejection(as(alice)({ kind: "updateOne", filter: { name: "a1" }, update: { $set: { owner_id: bob.id } }, upsert: false }));
    expect(e.message).toBe("update not permitted");
    expect(await as(alice)({ kind: "updateOne", filter: { name: "a1" }, update: { $set: { team: "green" } }, upsert: false })).toMatchObject({ matchedCount: 1, modifiedCount: 1 });
    // bob's update of alice's document matches nothing: it is hidden from him.
    expect(await as(bob)({ kind: "updateOne", filter: { name: "a1" }, update: { $set: { team: "x" } }, upsert: false })).toMatchObject({ matchedCount: 0, modifiedCount: 0 });
    expect((await all()).map((d) => d.team)).toEqual(["green", "blue", "blue"]);
  });

  it("replaceOne is judged on the replacement; upsert inserts a new document (checked as an insert) rather than touching a hidden one", async () => {
    const { as, all } = await setup(threeDocs(), { roles: [owner], filters: [] });
    await as(alice)({ kind: "replaceOne", filter: { name: "a2" }, replacement: { name: "a2r", owner_id: alice.id }, upsert: false });
    await rejection(as(alice)({ kind: "replaceOne", filter: { name: "a1" }, replacement: { name: "stolen", owner_id: bob.id }, upsert: false }));
    const r = (await as(alice)({ kind: "updateOne", filter: { name: "b1" }, update: { $set: { owner_id: alice.id, note: "mine" } }, upsert: true })) as { upsertedId?: unknown };
    expect(r.upsertedId).toBeDefined();
    const docs = await all();
    expect(docs.map((d) => [d.name, d.owner_id === alice.id, d.note])).toEqual([
      ["a1", true, undefined],
      ["a2r", true, undefined],
      ["b1", false, undefined],
      ["b1", true, "mine"],
    ]);
    await rejection(as(bob)({ kind: "updateOne", filter: { name: "zz" }, update: { $set: { owner_id: alice.id } }, upsert: true }));
  });

  it("delete:false refuses deletes and writes nothing; delete:true removes only visible documents", async () => {
    const noDelete: RoleDef = { ...owner, name: "noDelete", delete: false };
    const { as, all } = await setup(threeDocs(), { roles: [noDelete], filters: [] });
    const e = await rejection(as(alice)({ kind: "deleteMany", filter: {} }));
    expect(e.message).toBe("delete not permitted");
    expect(await all()).toHaveLength(3);
    const ok = await setup(threeDocs(), { roles: [owner], filters: [] });
    expect(await ok.as(alice)({ kind: "deleteMany", filter: {} })).toEqual({ deletedCount: 2 });
    expect(names(await ok.all())).toEqual(["b1"]);
    expect(await ok.as(alice)({ kind: "deleteOne", filter: { name: "b1" } })).toEqual({ deletedCount: 0 });
  });

  it("document_filters: write:false refuses writes while reads pass; read:false (write not true) hides the document", async () => {
    const readOnly: RoleDef = { ...readAndWriteAll, name: "readOnly", document_filters: { read: true, write: false } };
    const { as, all } = await setup(threeDocs(), { roles: [readOnly], filters: [] });
    expect(await as(alice)({ kind: "count", filter: {} })).toBe(3);
    await rejection(as(alice)({ kind: "updateOne", filter: { name: "a1" }, update: { $set: { n: 0 } }, upsert: false }));
    await rejection(as(alice)({ kind: "deleteOne", filter: { name: "a1" } }));
    expect((await all()).map((d) => d.n)).toEqual([1, 2, 3]);
    const teamOnly: RoleDef = { ...readAndWriteAll, name: "team", document_filters: { read: { team: "%%user.custom_data.team" }, write: false } };
    const other = await setup(threeDocs(), { roles: [teamOnly], filters: [] });
    expect(names(await other.as(alice)({ kind: "find", filter: {} }))).toEqual(["a1"]);
    expect(names(await other.as(bob)({ kind: "find", filter: {} }))).toEqual(["a2", "b1"]);
  });

  it("document-level read:false hides documents; read:true with write unset reads but cannot write", async () => {
    const hidden: RoleDef = { name: "hidden", apply_when: {}, read: false, fields: { name: { read: true } } };
    const { as } = await setup(threeDocs(), { roles: [hidden], filters: [] });
    expect(await as(alice)({ kind: "find", filter: {} })).toEqual([]);
    const reader: RoleDef = { name: "reader", apply_when: {}, read: true };
    const other = await setup(threeDocs(), { roles: [reader], filters: [] });
    expect(await other.as(alice)({ kind: "count", filter: {} })).toBe(3);
    await rejection(other.as(alice)({ kind: "updateOne", filter: {}, update: { $set: { n: 9 } }, upsert: false }));
  });

  it("findOneAndUpdate / findOneAndDelete act on the first visible document and return only readable fields", async () => {
    const role: RoleDef = { name: "owned", apply_when: { owner_id: "%%user.id" }, insert: true, delete: true, fields: { name: { write: true }, n: { write: true }, owner_id: { read: true } } };
    const { as, all } = await setup(threeDocs(), { roles: [role], filters: [] });
    const doc = (await as(bob)({ kind: "findOneAndUpdate", filter: {}, update: { $inc: { n: 100 } }, upsert: false, sort: { n: 1 }, returnNewDocument: true })) as Document;
    expect(doc).toMatchObject({ name: "b1", n: 103 });
    expect(doc).not.toHaveProperty("secret");
    expect(await as(bob)({ kind: "findOneAndUpdate", filter: { name: "a1" }, update: { $inc: { n: 1 } }, upsert: false, returnNewDocument: true })).toBeNull();
    await rejection(as(bob)({ kind: "findOneAndUpdate", filter: {}, update: { $set: { secret: "x" } }, upsert: false, returnNewDocument: false }));
    // delete needs write on every field, and bob cannot write `secret` or `team`.
    expect((await rejection(as(bob)({ kind: "findOneAndDelete", filter: { name: "b1" } }))).message).toBe("delete not permitted");
    expect((await all()).map((d) => d.n)).toEqual([1, 2, 103]);
  });

  it("aggregate runs over permitted documents and fields only, and refuses stages that bypass the rules", async () => {
    const hideSecret: RoleDef = { name: "own", apply_when: { owner_id: "%%user.id" }, fields: { secret: { read: false } }, additional_fields: { read: true } };
    const { as } = await setup(threeDocs(), { roles: [hideSecret], filters: [] });
    const [sum] = (await as(alice)({ kind: "aggregate", pipeline: [{ $group: { _id: null, total: { $sum: "$n" }, secrets: { $push: "$secret" } } }] })) as Document[];
    expect(sum).toMatchObject({ total: 3 });
    // mingo pushes null for a missing field where MongoDB would skip it; either way no secret leaks.
    expect((sum!.secrets as unknown[]).filter((s) => s !== null)).toEqual([]);
    for (const stage of [{ $lookup: { from: "x", localField: "a", foreignField: "b", as: "c" } }, { $out: "copy" }, { $unionWith: "x" }]) {
      const e = await rejection(as(alice)({ kind: "aggregate", pipeline: [stage] }));
      expect(e.code).toBe("Forbidden");
      expect(e.message).toMatch(/only available to system users/);
    }
    // With one role reading everything the pipeline runs on the backend, behind the filters.
    const fast = await setup(threeDocs(), { roles: [readAndWriteAll], filters: [{ name: "mine", apply_when: {}, query: { owner_id: "%%user.id" } }] });
    const [fastSum] = (await fast.as(bob)({ kind: "aggregate", pipeline: [{ $group: { _id: null, total: { $sum: "$n" } } }] })) as Document[];
    expect(fastSum).toMatchObject({ total: 3 });
  });

  it("system-only query operators are refused for non-system callers", async () => {
    const { as } = await setup(threeDocs(), { roles: [readAndWriteAll], filters: [] });
    for (const filter of [{ $where: "true" }, { name: { $regex: "a" } }, { $expr: { $eq: ["$n", 1] } }, { loc: { $near: [0, 0] } }]) {
      const e = await rejection(as(alice)({ kind: "find", filter }));
      expect(e.code).toBe("Forbidden");
    }
    expect(names(await as(alice)({ kind: "find", filter: { n: { $mod: [2, 1] } } }))).toEqual(["a1", "b1"]);
  });

  it("one role that reads and writes everything (TST's readAndWriteAll) passes every operation straight to the backend", async () => {
    const { as, all } = await setup(threeDocs(), { roles: [readAndWriteAll], filters: [] });
    const page = (await as(alice)({ kind: "find", filter: {}, sort: { n: -1 }, limit: 2, projection: { name: 1 } })) as Document[];
    expect(page.map((d) => d.name)).toEqual(["b1", "a2"]);
    expect(await as(alice)({ kind: "updateMany", filter: { team: "blue" }, update: { $set: { team: "teal" } }, upsert: false })).toMatchObject({ matchedCount: 2 });
    expect(await as(alice)({ kind: "deleteOne", filter: { name: "a1" } })).toEqual({ deletedCount: 1 });
    expect((await all()).map((d) => d.team)).toEqual(["teal", "teal"]);
  });

  it("roles can call app functions through %function; a throwing function denies", async () => {
    const callFunction = async (name: string, args: unknown[]) => {
      if (name === "isAdmin") return (args[0] as string) === alice.id;
      throw new Error(`no function '${name}'`);
    };
    const admin: RoleDef = { ...readAndWriteAll, name: "admin", apply_when: { "%%true": { "%function": { name: "isAdmin", arguments: ["%%user.id"] } } } };
    const broken: RoleDef = { ...readAndWriteAll, name: "broken", apply_when: { "%%true": { "%function": { name: "missing" } } } };
    const { as } = await setup(threeDocs(), { roles: [broken, admin], filters: [] }, { callFunction });
    expect(await as(alice)({ kind: "count", filter: {} })).toBe(3);
    expect(await as(bob)({ kind: "count", filter: {} })).toBe(0);
  });

  it("bulkWrite applies entries in order through the rules; an ordered batch stops at the first denied entry", async () => {
    const { as, all } = await setup([], { roles: [owner], filters: [] });
    const ops = [{ insertOne: { document: { name: "k1", owner_id: alice.id } } }, { insertOne: { document: { name: "k2", owner_id: bob.id } } }, { insertOne: { document: { name: "k3", owner_id: alice.id } } }];
    expect((await rejection(as(alice)({ kind: "bulkWrite", operations: ops, ordered: true }))).message).toBe("insert not permitted");
    expect(names(await all())).toEqual(["k1"]);
  });

  it("a malformed rule fails with an error naming the namespace and the role; createIndex is system-only", async () => {
    const bad: RoleDef = { name: "bad", apply_when: { "%%user.id": { $regex: "x" } } };
    const { as, collection } = await setup(threeDocs(), { roles: [bad], filters: [] });
    const e = await rejection(as(alice)({ kind: "find", filter: {} }));
    expect(e.message).toContain(`rules for '${database}.${collection}': role 'bad' apply_when: '%%user.id': unknown operator '$regex'`);
    expect((await rejection(as(alice)({ kind: "createIndex", keys: { a: 1 }, unique: false }))).code).toBe("Forbidden");
  });
});
