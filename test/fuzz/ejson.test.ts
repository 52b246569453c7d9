/**
 * Fuzzing EJSON/BSON handling: the runtime's boundary codec (host side), the router's response
 * serialisation (JSON and canonical EJSON), and EJSON/BSON parsing inside a real isolate. Random values
 * round-trip or give a clear error; random text never crashes the host or the isolate's app.
 * Settings and how to run more: ./settings.ts.
 */
import * as BSON from "bson";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { SerializationError, serialize } from "../../packages/router/dist/serialize.js";
import { createRuntime, makeCodec } from "../../packages/runtime/dist/index.js";
import { hostBytes } from "../../packages/runtime/dist/codec.js";
import { fuzzParams, fuzzTimeout, ownObject, weirdKey } from "./settings.js";

const codec = makeCodec(BSON, hostBytes);

const bsonLeaf = fc.oneof(
  fc.string(),
  fc.double(),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
  fc.uint8Array({ minLength: 12, maxLength: 12 }).map((b) => new BSON.ObjectId(b)),
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }).map((n) => new BSON.Int32(n)),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map((n) => BSON.Long.fromBigInt(n)),
  fc.double().map((n) => new BSON.Double(n)),
  fc.tuple(fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }), fc.integer({ min: -30, max: 30 })).map(([m, e]) => BSON.Decimal128.fromString(`${m}E${e}`)),
  fc.date({ noInvalidDate: false }),
  // Subtype 4 (UUID) only with 16 bytes: the bson library refuses to parse any other length back.
  fc.tuple(fc.uint8Array({ maxLength: 40 }), fc.constantFrom(0, 1, 2, 3, 5, 6, 7, 0x80)).map(([b, t]) => new BSON.Binary(b, t)),
  fc.uuid().map((u) => new BSON.UUID(u)),
  fc.tuple(fc.string({ maxLength: 10 }), fc.subarray(["i", "m", "s", "x"])).map(([p, o]) => new BSON.BSONRegExp(p, o.join(""))),
  fc.tuple(fc.nat(), fc.nat()).map(([t, i]) => new BSON.Timestamp({ t, i })),
  fc.constant(new BSON.MinKey()),
  fc.constant(new BSON.MaxKey()),
  fc.string({ maxLength: 20 }).map((c) => new BSON.Code(c)),
  // No "." in the collection: DBRef reads "db.coll" from it (and the bson library cannot parse an empty $ref back).
  fc.tuple(fc.stringMatching(/^[a-z0-9_]{1,8}$/), fc.uint8Array({ minLength: 12, maxLength: 12 }), fc.option(fc.string({ minLength: 1, maxLength: 8 }), { nil: undefined })).map(
    ([coll, id, db]) => new BSON.DBRef(coll, new BSON.ObjectId(id), db),
  ),
);

/** Plain-object keys that do not start with "$": a plain {"$oid": …} is read as a tagged value, as EJSON does. */
const dataKey = weirdKey.filter((k) => !k.startsWith("$"));
const { value: bsonValue } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    bsonLeaf,
    fc.array(tie("value"), { maxLength: 4 }),
    fc.array(fc.tuple(dataKey, tie("value")), { maxLength: 4 }).map(ownObject),
  ),
}));

/** Same value after a trip through the codec: BSON types compared by their canonical EJSON, numbers by Object.is. */
function same(a: unknown, b: unknown): boolean {
  return BSON.EJSON.stringify(wrap(a), { relaxed: false }) === BSON.EJSON.stringify(wrap(b), { relaxed: false });
}
function wrap(v: unknown): unknown {
  if (typeof v === "number") return Object.is(v, -0) ? "-0" : Number.isNaN(v) ? "NaN" : v === Infinity ? "Inf" : v === -Infinity ? "-Inf" : v;
  if (typeof v === "bigint") return BSON.Long.fromBigInt(v); // a bigint crosses as a Long (documented)
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? "InvalidDate" : v;
  if (Array.isArray(v)) return v.map(wrap);
  if (v && typeof v === "object" && !("_bsontype" in v) && !(v instanceof RegExp) && !(v instanceof Uint8Array)) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, wrap(x)]));
  }
  return v;
}

/** Text that is nearly EJSON: tagged objects with right and wrong payloads, deep nesting, garbage. */
const ejsonishText = fc.oneof(
  fc.string(),
  fc.json(),
  bsonValue.map((v) => BSON.EJSON.stringify(v as BSON.Document, { relaxed: false })),
  fc
    .tuple(
      fc.constantFrom("$oid", "$date", "$numberLong", "$numberInt", "$numberDouble", "$numberDecimal", "$binary", "$regularExpression", "$timestamp", "$minKey", "$maxKey", "$symbol", "$code", "$regex", "$uuid", "$dbPointer", "$__num", "$__undefined", "$undefined"),
      fc.jsonValue({ maxDepth: 2 }),
    )
    .map(([tag, payload]) => JSON.stringify({ [tag]: payload })),
  fc.integer({ min: 1, max: 50_000 }).map((n) => "[".repeat(n) + "]".repeat(n)),
  fc.integer({ min: 1, max: 50_000 }).map((n) => '{"a":'.repeat(n) + "1" + "}".repeat(n)),
);

/** BSON bytes of { v }, or of an empty document when BSON cannot hold v (e.g. a key with a NUL byte). */
function serializable(v: unknown): Uint8Array {
  try {
    return BSON.serialize({ v });
  } catch {
    return BSON.serialize({});
  }
}

const CLEAR_ERRORS = [TypeError, RangeError, SyntaxError, BSON.BSONError];
function expectClearError(e: unknown): void {
  expect(CLEAR_ERRORS.some((C) => e instanceof C), `not a clear error: ${String(e)}`).toBe(true);
  expect((e as Error).message.length).toBeGreaterThan(0);
}

describe("fuzz: the boundary codec (host side)", () => {
  it(
    "random BSON values round-trip through encode/decode",
    () => {
      fc.assert(
        fc.property(bsonValue, (v) => {
          const back = codec.decode(codec.encode(v));
          expect(same(back, v), `${codec.encode(v)}`).toBe(true);
        }),
        fuzzParams(2000),
      );
    },
    fuzzTimeout(30_000, 2000),
  );
  it(
    "decoding random, nearly-EJSON text gives a value or a clear error",
    () => {
      fc.assert(
        fc.property(ejsonishText, (text) => {
          try {
            codec.decode(text);
          } catch (e) {
            expectClearError(e);
          }
        }),
        fuzzParams(1000),
      );
    },
    fuzzTimeout(30_000, 1000),
  );
});

describe("fuzz: response serialisation (router)", () => {
  it(
    "any value serialises to JSON text and to canonical EJSON that parses back to the same value, or a SerializationError",
    () => {
      fc.assert(
        fc.property(bsonValue, (v) => {
          let json: string;
          try {
            json = serialize(v, "JSON");
          } catch (e) {
            expect(e).toBeInstanceOf(SerializationError);
            return;
          }
          expect(() => JSON.parse(json)).not.toThrow();
          const ejson = serialize(v, "EJSON");
          // The bson library refuses to parse field names with NUL bytes (BSON cannot store them).
          if (ejson.includes("\\u0000")) return;
          const back = BSON.EJSON.parse(ejson, { relaxed: false }) as BSON.Document;
          // Canonical EJSON keeps every BSON type; plain JS values come back as their BSON equivalents
          // (the bson library may spell a large double differently, so compare after one more trip).
          const once = BSON.EJSON.stringify(back, { relaxed: false });
          expect(BSON.EJSON.stringify(BSON.EJSON.parse(once, { relaxed: false }) as BSON.Document, { relaxed: false })).toBe(once);
        }),
        fuzzParams(2000),
      );
    },
    fuzzTimeout(30_000, 2000),
  );
});

describe("fuzz: EJSON and BSON inside an isolate", () => {
  const runtime = createRuntime({ limits: { cpuTimeMs: 2_000, wallTimeMs: 5_000 } });
  const app = runtime.app({
    id: "fuzz-ejson",
    functions: {
      parse: {
        source: `exports = (text, relaxed) => {
          const v = EJSON.parse(text, { relaxed });
          return { value: v, again: EJSON.stringify(v, { relaxed: false }) };
        };`,
      },
      deserialize: { source: "exports = (b64) => BSON.deserialize(BSON.Binary.createFromBase64(b64).buffer);" },
      roundTrip: { source: "exports = (v) => v;" },
    },
  });
  afterAll(() => runtime.close());

  it(
    "EJSON.parse of random text in the isolate returns a value or a tenant error; the host and the app go on",
    async () => {
      await fc.assert(
        fc.asyncProperty(ejsonishText, fc.boolean(), async (text, relaxed) => {
          const r = await app.call({ functionName: "parse", args: [text, relaxed] });
          if (!r.ok) expect(["threw", "unserializable", "cpu", "memory"]).toContain(r.error!.kind);
          else expect(typeof (r.value as { again: string }).again).toBe("string");
        }),
        fuzzParams(300),
      );
      expect((await app.call({ functionName: "roundTrip", args: [1] })).value).toBe(1);
    },
    fuzzTimeout(30_000, 300),
  );

  it(
    "BSON.deserialize of random (and nearly valid) bytes in the isolate returns a value or a tenant error",
    async () => {
      const bytes = fc.oneof(
        fc.uint8Array({ maxLength: 64 }),
        bsonValue.map(serializable).chain((b) => fc.tuple(fc.nat(b.length), fc.nat(255)).map(([i, x]) => Uint8Array.from(b, (c, j) => (j === i ? x : c)))),
      );
      await fc.assert(
        fc.asyncProperty(bytes, async (b) => {
          const r = await app.call({ functionName: "deserialize", args: [Buffer.from(b).toString("base64")] });
          if (!r.ok) expect(["threw", "unserializable"]).toContain(r.error!.kind);
        }),
        fuzzParams(300),
      );
    },
    fuzzTimeout(30_000, 300),
  );

  it(
    "random BSON values cross into the isolate and back unchanged",
    async () => {
      await fc.assert(
        fc.asyncProperty(bsonValue, async (v) => {
          const r = await app.call({ functionName: "roundTrip", args: [v] });
          expect(r.ok, JSON.stringify(r.error)).toBe(true);
          expect(same(r.value, v)).toBe(true);
        }),
        fuzzParams(300),
      );
    },
    fuzzTimeout(30_000, 300),
  );
});
