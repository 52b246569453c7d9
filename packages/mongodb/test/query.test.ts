/**
 * compileQuery (embedded/query.ts) skips mingo's per-query operator copy. It must still be mingo's
 * query language, operator for operator, and the fast path must be the one running with the mingo
 * version in the lock file (a mingo release that moves ComputeOptions turns this test red, not slow).
 */
import { Query } from "mingo";
import { describe, expect, it } from "vitest";
import { compileQuery, fastQueries, prepareQueryOptions } from "../src/embedded/query.js";

const DOCS = [
  { _id: 1, name: "ada", tags: ["a", "b"], n: 3, nested: { x: 1 }, items: [{ k: "p", v: 2 }] },
  { _id: 2, name: "bob", tags: ["c"], n: 10, nested: { x: 2 }, items: [{ k: "q", v: 5 }] },
  { _id: 3, name: "cy", n: null },
];

const FILTERS: Record<string, unknown>[] = [
  {},
  { name: "ada" },
  { n: { $gt: 2, $lt: 5 } },
  { tags: { $in: ["c"] } },
  { "nested.x": 2 },
  { items: { $elemMatch: { k: "q", v: { $gte: 5 } } } },
  { $or: [{ name: "cy" }, { n: 3 }] },
  { name: { $regex: "^b" } },
  { $expr: { $gt: ["$n", { $add: [1, 1] }] } },
  { n: { $exists: true, $type: "number" } },
  { tags: { $size: 1 } },
  { $nor: [{ name: "ada" }] },
];

describe("compileQuery", () => {
  it("runs without mingo's per-query context copy with the locked mingo version", () => {
    expect(fastQueries).toBe(true);
  });

  it.each(FILTERS.map((f) => [JSON.stringify(f), f] as const))("matches what mingo's Query matches: %s", (_name, filter) => {
    const prepared = prepareQueryOptions({ scriptEnabled: false });
    const fast = DOCS.filter((d) => compileQuery(filter, prepared).test(d)).map((d) => d._id);
    const reference = DOCS.filter((d) => new Query(filter, { scriptEnabled: false }).test(d)).map((d) => d._id);
    expect(fast).toEqual(reference);
  });

  it("keeps server-side JavaScript off and reports unknown operators as mingo does", () => {
    const prepared = prepareQueryOptions({ scriptEnabled: false });
    expect(() => compileQuery({ $where: "true" }, prepared)).toThrow();
    expect(() => compileQuery({ n: { $nope: 1 } }, prepared)).toThrow(/unknown/i);
  });
});
