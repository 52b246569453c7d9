/**
 * Compiled mingo queries without mingo's per-query setup cost. mingo's `Query` copies its whole operator
 * table (~300 operators) into a fresh context on every construction: 19 µs, more than the embedded store
 * spends on the query itself. Built from options that are already a `ComputeOptions`, a query reuses them
 * as they are; that class is internal to mingo (not in its exports map), so it is found by path and the
 * copying constructor stays the fallback if a mingo release moves it (query.test.ts says which path runs).
 */
import { createRequire } from "node:module";
import path from "node:path";
import { Query } from "mingo";
import { Context } from "mingo/core";
import * as accumulator from "mingo/operators/accumulator";
import * as expression from "mingo/operators/expression";
import * as pipeline from "mingo/operators/pipeline";
import * as projection from "mingo/operators/projection";
import * as query from "mingo/operators/query";
import * as windowOps from "mingo/operators/window";
import { Query as BaseQuery } from "mingo/query";
import type { Options } from "mingo/types";

type Document = Record<string, unknown>;
interface ComputeOptionsClass {
  init(options: Partial<Options>): object;
}

function findComputeOptions(): ComputeOptionsClass | undefined {
  try {
    const require = createRequire(import.meta.url);
    // The same file mingo's own modules load (its `node` export is cjs/index.js), so instanceof holds.
    const internal = require(path.join(path.dirname(require.resolve("mingo")), "core", "_internal.js")) as { ComputeOptions?: ComputeOptionsClass };
    return typeof internal.ComputeOptions?.init === "function" ? internal.ComputeOptions : undefined;
  } catch {
    return undefined;
  }
}

const ComputeOptions = findComputeOptions();
/** Every operator mingo ships, as mingo's own `Query` has them. */
const ALL_OPERATORS = ComputeOptions
  ? Context.init({ accumulator, expression, pipeline, projection, query, window: windowOps } as unknown as Parameters<typeof Context.init>[0])
  : undefined;

/** Whether queries skip mingo's per-query operator copy (false: a mingo release moved ComputeOptions). */
export const fastQueries = ComputeOptions !== undefined;

/**
 * Options for many queries, prepared once (e.g. per database: `collectionResolver` differs).
 * Pass the result to `compileQuery`.
 */
export function prepareQueryOptions(options: Partial<Options>): Partial<Options> {
  if (!ComputeOptions || !ALL_OPERATORS) return options;
  return ComputeOptions.init({ ...options, context: ALL_OPERATORS }) as Partial<Options>;
}

export function compileQuery(filter: Document, prepared: Partial<Options>): Query {
  return (fastQueries ? new BaseQuery(filter, prepared) : new Query(filter, prepared)) as Query;
}
