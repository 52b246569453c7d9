import { Binary, Decimal128, Int32, Long, ObjectId, UUID } from "bson";
import { describe, expect, it } from "vitest";
import { evaluate, expand, ExpressionError, type ExpressionContext } from "../src/index.js";

const userId = new ObjectId().toHexString();
const base: ExpressionContext = {
  user: {
    id: userId,
    type: "normal",
    data: { email: "ada@example.com" },
    custom_data: { manages: ["bob@example.com", "cy@example.com"], level: 3 },
    identities: [{ id: "x", provider_type: "local-userpass", data: {} }],
  },
  request: { remoteIPAddress: "10.0.0.7", requestHeaders: { "X-Secret-Key": ["s3cret"] }, httpMethod: "POST" },
  values: (name) => ({ admin_ids: [userId, "other"], threshold: 10, nested: { a: { b: 2 } } })[name],
  environment: { tag: "production", values: { region: "eu" } },
};

describe("expressions: values, users, requests", () => {
  it("C101 {%%user.id: {$in: %%values.admin_ids}} is true only for listed ids", async () => {
    const expr = { "%%user.id": { $in: "%%values.admin_ids" } };
    expect(await evaluate(expr, base)).toBe(true);
    const stranger = { ...base, user: { ...base.user, id: new ObjectId().toHexString() } };
    expect(await evaluate(expr, stranger)).toBe(false);
  });

  it("C102 operators accept the % spelling as well as $", async () => {
    expect(await evaluate({ "%%user.data.email": { "%exists": true } }, base)).toBe(true);
    expect(await evaluate({ "%%user.data.phone": { "%exists": true } }, base)).toBe(false);
    expect(await evaluate({ "%%user.data.phone": { $exists: false } }, base)).toBe(true);
    expect(await evaluate({ "%%user.id": { "%in": "%%values.admin_ids" } }, base)).toBe(true);
    expect(await evaluate({ "%%user.id": { "%nin": "%%values.admin_ids" } }, base)).toBe(false);
    for (const [op, expected] of [["gt", true], ["gte", true], ["lt", false], ["lte", false], ["eq", false], ["ne", true]] as const) {
      expect(await evaluate({ "%%user.custom_data.level": { [`%${op}`]: 2 } }, base), `%${op}`).toBe(expected);
      expect(await evaluate({ "%%user.custom_data.level": { [`$${op}`]: 2 } }, base), `$${op}`).toBe(expected);
    }
  });

  it("C105 a multi-key expression is an AND; {} is true", async () => {
    expect(await evaluate({}, base)).toBe(true);
    expect(await evaluate(true, base)).toBe(true);
    expect(await evaluate(false, base)).toBe(false);
    expect(await evaluate({ "%%user.type": "normal", "%%environment.tag": "production" }, base)).toBe(true);
    expect(await evaluate({ "%%user.type": "normal", "%%environment.tag": "qa" }, base)).toBe(false);
  });

  it("C106 {%%request.remoteIPAddress: {$nin: [...]}} blocks listed IPs", async () => {
    const expr = { "%%request.remoteIPAddress": { $nin: ["10.0.0.7", "10.0.0.8"] } };
    expect(await evaluate(expr, base)).toBe(false);
    expect(await evaluate(expr, { ...base, request: { ...base.request, remoteIPAddress: "10.0.0.9" } })).toBe(true);
  });

  it("%%true / %%false, environment values, nested values", async () => {
    expect(await evaluate({ "%%true": true }, base)).toBe(true);
    expect(await evaluate({ "%%false": true }, base)).toBe(false);
    expect(await evaluate({ "%%environment.values.region": "eu" }, base)).toBe(true);
    expect(await evaluate({ "%%values.nested.a.b": 2 }, base)).toBe(true);
    expect(await evaluate({ "%%values.threshold": { $gt: "%%user.custom_data.level" } }, base)).toBe(true);
  });

  it("request headers match case-insensitively and by array membership", async () => {
    expect(await evaluate({ "%%request.requestHeaders.x-secret-key": "s3cret" }, base)).toBe(true);
    expect(await evaluate({ "%%request.requestHeaders.X-SECRET-KEY": "s3cret" }, base)).toBe(true);
    expect(await evaluate({ "%%request.headers.x-secret-key": "s3cret" }, base)).toBe(true);
    expect(await evaluate({ "%%request.requestHeaders.x-secret-key": "wrong" }, base)).toBe(false);
    expect(await evaluate({ "%%request.requestHeaders.x-missing": { $exists: false } }, base)).toBe(true);
  });

  it("field match is equality or array membership in either direction", async () => {
    // A scalar key against an array value (docs: {"email": "%%user.custom_data.manages"}).
    const ctx = { ...base, plainKeysRefer: "root" as const, root: { email: "bob@example.com", owners: ["a", userId] } };
    expect(await evaluate({ email: "%%user.custom_data.manages" }, ctx)).toBe(true);
    expect(await evaluate({ email: "%%user.data.email" }, ctx)).toBe(false);
    // An array key against a scalar (docs: {"%%root.owners": "%%user.id"}).
    expect(await evaluate({ "%%root.owners": "%%user.id" }, ctx)).toBe(true);
    expect(await evaluate({ owners: "nobody" }, ctx)).toBe(false);
  });

  it("a missing value never equals another missing value", async () => {
    const ctx = { ...base, plainKeysRefer: "root" as const, root: { title: "x" } };
    expect(await evaluate({ team: "%%user.custom_data.team" }, ctx)).toBe(false);
    expect(await evaluate({ "%%user.custom_data.team": { $ne: "a" } }, ctx)).toBe(true);
  });

  it("%and / %or take arrays; %not negates", async () => {
    const isAdmin = { "%%user.id": { $in: "%%values.admin_ids" } };
    const isQa = { "%%environment.tag": "qa" };
    expect(await evaluate({ "%or": [isQa, isAdmin] }, base)).toBe(true);
    expect(await evaluate({ "%and": [isQa, isAdmin] }, base)).toBe(false);
    expect(await evaluate({ $or: [isQa, false] }, base)).toBe(false);
    expect(await evaluate({ "%not": isQa }, base)).toBe(true);
    expect(await evaluate({ "%%user.custom_data.level": { $not: { $gt: 5 } } }, base)).toBe(true);
  });

  it("plain names mean %%root.<name> in MongoDB rules and %%args.<name> in service rules", async () => {
    const rule = { "url.host": "example.com" };
    expect(await evaluate(rule, { plainKeysRefer: "args", args: { url: { host: "example.com" } } })).toBe(true);
    expect(await evaluate(rule, { plainKeysRefer: "args", args: { url: { host: "evil.com" } } })).toBe(false);
    expect(await evaluate({ "%%args.url.host": "example.com" }, { args: { url: { host: "example.com" } } })).toBe(true);
    expect(await evaluate({ owner: "%%user.id" }, { ...base, plainKeysRefer: "root", root: { owner: userId } })).toBe(true);
    expect(await evaluate({ "%%prevRoot.owner": "%%root.owner" }, { root: { owner: 1 }, prevRoot: { owner: 1 } })).toBe(true);
    expect(await evaluate({ "%%this": 5, "%%prev": 4 }, { this: 5, prev: 4 })).toBe(true);
    expect(await evaluate({ "%%this.a": 1 }, { root: { a: 1 } })).toBe(true);
  });
});

describe("expressions: %function", () => {
  const functions: Record<string, (...args: unknown[]) => unknown> = {
    isEven: (n) => (n as number) % 2 === 0,
    boom: () => {
      throw new Error("kaboom");
    },
    echo: (...args) => args,
  };
  const ctx: ExpressionContext = {
    ...base,
    callFunction: async (name, args) => {
      const fn = functions[name];
      if (!fn) throw new Error(`function not found: '${name}'`);
      return fn(...args);
    },
  };

  it("C103 {%%true: {%function: {name: isEven, arguments: [42]}}} is true when the function returns true", async () => {
    expect(await evaluate({ "%%true": { "%function": { name: "isEven", arguments: [42] } } }, ctx)).toBe(true);
    expect(await evaluate({ "%%true": { "%function": { name: "isEven", arguments: [41] } } }, ctx)).toBe(false);
  });

  it("arguments are expanded before the call", async () => {
    const got = await expand({ "%function": { name: "echo", arguments: ["%%user.id", { n: "%%values.threshold" }] } }, ctx);
    expect(got).toEqual([userId, { n: 10 }]);
  });

  it("C104 a %function that throws makes the expression false, even under %not", async () => {
    expect(await evaluate({ "%%true": { "%function": { name: "boom" } } }, ctx)).toBe(false);
    expect(await evaluate({ "%not": { "%%true": { "%function": { name: "boom" } } } }, ctx)).toBe(false);
    expect(await evaluate({ "%%true": { "%function": { name: "nope", arguments: [] } } }, ctx)).toBe(false);
    await expect(expand({ q: { "%function": { name: "boom" } } }, ctx)).rejects.toThrow(/kaboom/);
  });

  it("%function without a host callFunction is an ExpressionError", async () => {
    await expect(evaluate({ "%%true": { "%function": { name: "isEven" } } }, base)).rejects.toThrow(ExpressionError);
  });
});

describe("expressions: conversions and BSON", () => {
  it("C107 %stringToOid converts %%user.id for an _id comparison", async () => {
    const ctx = { ...base, plainKeysRefer: "root" as const, root: { _id: new ObjectId(userId) } };
    expect(await evaluate({ _id: { "%stringToOid": "%%user.id" } }, ctx)).toBe(true);
    // Without the conversion a string never equals an ObjectId.
    expect(await evaluate({ _id: "%%user.id" }, ctx)).toBe(false);
    const query = (await expand({ _id: { "%stringToOid": "%%user.id" } }, ctx)) as { _id: ObjectId };
    expect(query._id).toBeInstanceOf(ObjectId);
    expect(query._id.toHexString()).toBe(userId);
  });

  it("%oidToString, %stringToUuid, %uuidToString", async () => {
    const oid = new ObjectId();
    expect(await expand({ "%oidToString": "%%root._id" }, { root: { _id: oid } })).toBe(oid.toHexString());
    const text = "0b9e1f3c-6a1d-4c8e-9d4e-2f7a1b3c5d6e";
    const uuid = (await expand({ "%stringToUuid": text }, {})) as Binary;
    expect(uuid.sub_type).toBe(Binary.SUBTYPE_UUID);
    expect(await expand({ "%uuidToString": "%%root.u" }, { root: { u: new UUID(text) } })).toBe(text);
    expect(await evaluate({ u: { "%stringToUuid": text } }, { plainKeysRefer: "root", root: { u: new UUID(text) } })).toBe(true);
    await expect(expand({ "%stringToOid": "not-an-id" }, {})).rejects.toThrow(/%stringToOid/);
  });

  it("equality is BSON-aware: ObjectIds by value, Dates by time, numbers across types", async () => {
    const oid = new ObjectId();
    const when = new Date("2024-01-02T03:04:05Z");
    const ctx: ExpressionContext = { plainKeysRefer: "root", root: { a: new ObjectId(oid.toHexString()), d: new Date(when), n: new Int32(7), l: Long.fromNumber(9), dec: Decimal128.fromString("1.5") } };
    expect(await evaluate({ a: { $eq: oid } }, ctx)).toBe(true);
    expect(await evaluate({ d: new Date(when.getTime()) }, ctx)).toBe(true);
    expect(await evaluate({ d: { $lt: new Date(when.getTime() + 1) } }, ctx)).toBe(true);
    expect(await evaluate({ n: 7, l: { $gte: 9 }, dec: { $gt: 1 } }, ctx)).toBe(true);
    expect(await evaluate({ a: { $in: [new ObjectId(), oid] } }, ctx)).toBe(true);
    expect(await evaluate({ a: oid.toHexString() }, ctx)).toBe(false);
  });

  it("expand replaces expansions inside a filter query and keeps operators", async () => {
    const q = await expand({ owner_id: "%%user.id", n: { $gt: "%%values.threshold" }, tags: ["%%environment.tag", "x"], s: "plain" }, base);
    expect(q).toEqual({ owner_id: userId, n: { $gt: 10 }, tags: ["production", "x"], s: "plain" });
  });
});

describe("expressions: malformed input names the key at fault", () => {
  const cases: Array<[unknown, RegExp]> = [
    [{ "%%nope.x": 1 }, /unknown expansion '%%nope.x'/],
    [{ "%%user.id": { $regex: "x" } }, /unknown operator '\$regex'/],
    [{ "%%user.id": { $in: 5 } }, /\$in needs an array/],
    [{ "%and": { a: 1 } }, /'%and' needs an array/],
    [{ "%function": { name: "f" } }, /unknown operator '%function'.*%%true/],
    [{ "%%user.id": { $eq: 1, other: 2 } }, /cannot mix operators/],
    [{ owner: 1 }, /field name 'owner' has no meaning here/],
    [{ "%%partition": "x" }, /Device Sync/],
    ["yes", /must be true, false or an object/],
    [{ "%%true": { "%function": { name: "f", args: [] } } }, /unknown field 'args'/],
  ];
  it.each(cases)("rejects %j", async (expr, message) => {
    const err = await evaluate(expr, base).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ExpressionError);
    expect((err as Error).message).toMatch(message);
  });
});

describe("nesting", () => {
  const nest = (levels: number, leaf: unknown) => {
    let v = leaf;
    for (let i = 0; i < levels; i++) v = { "%not": v };
    return v;
  };
  it("an expression up to MongoDB's 100 levels is evaluated", async () => {
    expect(await evaluate(nest(100, true), base)).toBe(true);
  });
  it("a deeper one is an ExpressionError, not a stack overflow (found by test/fuzz)", async () => {
    await expect(evaluate(nest(100_000, true), base)).rejects.toThrow(/nested deeper than 100 levels/);
    let deep: unknown = "%%user.id";
    for (let i = 0; i < 100_000; i++) deep = [deep];
    await expect(expand(deep, base)).rejects.toBeInstanceOf(ExpressionError);
  });
});
