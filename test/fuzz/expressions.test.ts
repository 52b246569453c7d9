/**
 * Fuzzing the expression evaluator (@restitch/expressions): random expression trees, with %% expansions,
 * %-operators, value operators, weird keys and deep nesting, against random contexts. Any input gives a
 * value (evaluate: a boolean) or the evaluator's typed error, within a bounded time; never another
 * exception, never a hang. Settings and how to run more: ./settings.ts.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { dependsOnDocument, evaluate, expand, ExpressionError, type ExpressionContext } from "../../packages/expressions/dist/index.js";
import { FunctionCallFailed } from "../../packages/expressions/dist/errors.js";
import { fuzzParams, fuzzTimeout, ownObject, weirdKey, within } from "./settings.js";

const EXPANSION_HEADS = [
  "%%user", "%%user.id", "%%user.data", "%%user.custom_data.team", "%%user.identities", "%%request", "%%request.remoteIPAddress",
  "%%request.requestHeaders.X-Team", "%%request.headers", "%%values", "%%values.v", "%%values.list", "%%environment", "%%environment.tag",
  "%%environment.values.x", "%%root", "%%root.owner", "%%root.tags", "%%prevRoot", "%%prevRoot.owner", "%%this", "%%prev", "%%args",
  "%%args.a", "%%true", "%%false", "%%", "%%partition", "%%unknown", "%%true.x",
];
const OPERATORS = [
  "%and", "%or", "%not", "$and", "$or", "$not", "%in", "%nin", "$in", "$nin", "%exists", "$exists", "%eq", "$eq", "%ne", "%gt", "$gt",
  "%gte", "%lt", "%lte", "%function", "%stringToOid", "%oidToString", "%stringToUuid", "%uuidToString", "%foo", "$where", "%", "$",
];

const expansion = fc.tuple(fc.constantFrom(...EXPANSION_HEADS), fc.array(weirdKey, { maxLength: 2 })).map(([head, rest]) => [head, ...rest].join("."));
const key = fc.oneof(fc.constantFrom(...OPERATORS), expansion, weirdKey, fc.constantFrom("owner", "tags", "a", "a.b", "name", "arguments"));
const leaf = fc.oneof(
  fc.jsonValue({ maxDepth: 1 }),
  expansion,
  fc.constantFrom(true, false, null, "65a1b2c3d4e5f60718293a4b", "f47ac10b-58cc-4372-a567-0e02b2c3d479", "x".repeat(12)),
);

const { tree } = fc.letrec<{ tree: unknown; node: unknown }>((tie) => ({
  tree: fc.oneof({ depthSize: "small", withCrossShrink: true }, leaf, tie("node"), fc.array(tie("tree"), { maxLength: 4 })),
  node: fc.array(fc.tuple(key, tie("tree")), { maxLength: 4 }).map(ownObject),
}));

/** A %function call: answers with a random value, or throws. */
const functionBehaviour = fc.oneof(fc.jsonValue({ maxDepth: 2 }).map((v) => ({ kind: "value" as const, v })), fc.constant({ kind: "throw" as const }));

const context = fc
  .record({
    user: fc.record({ id: fc.string(), type: fc.constantFrom("normal", "server", "system"), data: fc.jsonValue({ maxDepth: 2 }), custom_data: fc.jsonValue({ maxDepth: 2 }), identities: fc.constant([]) }),
    headers: fc.dictionary(weirdKey, fc.array(fc.string(), { maxLength: 2 }), { maxKeys: 3 }),
    values: fc.dictionary(fc.constantFrom("v", "list", "x"), fc.jsonValue({ maxDepth: 2 })),
    root: fc.dictionary(fc.oneof(weirdKey, fc.constantFrom("owner", "tags", "a")), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
    prevRoot: fc.option(fc.dictionary(fc.constantFrom("owner", "tags", "a"), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }), { nil: undefined }),
    args: fc.dictionary(fc.constantFrom("a", "b"), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 2 }),
    plainKeysRefer: fc.constantFrom("root" as const, "args" as const, undefined),
    fn: functionBehaviour,
    withFunctions: fc.boolean(),
  })
  .map(
    (c): ExpressionContext => ({
      user: c.user,
      request: { remoteIPAddress: "127.0.0.1", requestHeaders: c.headers },
      values: (name) => c.values[name],
      environment: { tag: "development", values: { x: 1 } },
      root: c.root,
      ...(c.prevRoot ? { prevRoot: c.prevRoot } : {}),
      args: c.args,
      ...(c.plainKeysRefer ? { plainKeysRefer: c.plainKeysRefer } : {}),
      ...(c.withFunctions
        ? {
            callFunction: async () => {
              if (c.fn.kind === "throw") throw new Error("the function threw");
              return c.fn.v;
            },
          }
        : {}),
    }),
  );

/** A value or one of the evaluator's typed errors; anything else fails the property. */
async function outcome<T>(work: () => Promise<T>, allowed: (e: unknown) => boolean): Promise<T | Error> {
  try {
    return await within(2_000, "the evaluator", work);
  } catch (e) {
    if (!allowed(e)) throw e;
    expect((e as Error).message.length).toBeGreaterThan(0);
    return e as Error;
  }
}

const isExpressionError = (e: unknown) => e instanceof ExpressionError;

describe("fuzz: expressions", () => {
  it(
    "evaluate: any expression tree in any context gives true/false or an ExpressionError",
    async () => {
      await fc.assert(
        fc.asyncProperty(tree, context, async (expression, ctx) => {
          const r = await outcome(() => evaluate(expression, ctx), isExpressionError);
          if (!(r instanceof Error)) expect(typeof r).toBe("boolean");
          expect(typeof dependsOnDocument(expression)).toBe("boolean");
        }),
        fuzzParams(1500),
      );
    },
    fuzzTimeout(30_000, 1500),
  );

  it(
    "expand: any value gives a value, an ExpressionError, or the %function failure it reports",
    async () => {
      await fc.assert(
        fc.asyncProperty(tree, context, async (value, ctx) => {
          await outcome(() => expand(value, ctx), (e) => e instanceof ExpressionError || e instanceof FunctionCallFailed);
        }),
        fuzzParams(1500),
      );
    },
    fuzzTimeout(30_000, 1500),
  );

  it(
    "deep nesting (up to 100,000 levels) of every recursive form gives an answer or a typed error, never a stack overflow",
    async () => {
      const wrappers: Record<string, (inner: unknown) => unknown> = {
        not: (inner) => ({ "%not": inner }),
        and: (inner) => ({ "%and": [inner] }),
        or: (inner) => ({ $or: [inner] }),
        field: (inner) => ({ owner: { "%not": { "%eq": inner } } }),
        array: (inner) => [inner],
        object: (inner) => ({ a: inner }),
        functionArgs: (inner) => ({ "%function": { name: "f", arguments: [inner] } }),
      };
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...Object.keys(wrappers)), fc.integer({ min: 1, max: 100_000 }), context, async (form, depth, ctx) => {
          let value: unknown = true;
          for (let i = 0; i < depth; i++) value = wrappers[form]!(value);
          const r = await outcome(() => evaluate(value, ctx), isExpressionError);
          if (!(r instanceof Error)) expect(typeof r).toBe("boolean");
          await outcome(() => expand(value, ctx), (e) => e instanceof ExpressionError || e instanceof FunctionCallFailed);
          expect(typeof dependsOnDocument(value)).toBe("boolean");
        }),
        fuzzParams(60),
      );
    },
    fuzzTimeout(30_000, 60),
  );
});
