/** Reads for a non-system caller: only permitted documents, only permitted fields (C132, C136–C138). */
import { Aggregator } from "mingo";
import { keyBytes, normalizeForQuery, valuesAtPath } from "../embedded/values.js";
import { DataServiceError } from "../errors.js";
import type { Document, OperationOf } from "../types.js";
import { project, withFilters } from "./filters.js";
import { checkUserPipeline } from "./guard.js";
import { readableViews, type RuleRun } from "./run.js";

/** True when the first applicable role reads every document in full, so the backend can do all the work. */
async function readsEverything(run: RuleRun): Promise<boolean> {
  return run.uniform != null && (await run.perms.grantsEverywhere(run.uniform, ["read"]));
}

export async function find(run: RuleRun, op: OperationOf<"find"> | OperationOf<"findOne">): Promise<Document[]> {
  const filter = withFilters(op.filter, run.filters);
  const limit = op.kind === "findOne" ? 1 : op.limit || undefined; // limit 0 means no limit
  const skip = op.kind === "find" ? op.skip ?? 0 : 0;
  if (run.uniform === null) return [];
  if (await readsEverything(run)) {
    const pushProjection = run.filters.projection === undefined;
    const docs = await run.service.execute({
      database: op.database,
      collection: op.collection,
      kind: "find",
      filter,
      ...(op.sort ? { sort: op.sort } : {}),
      ...(skip ? { skip } : {}),
      ...(limit ? { limit } : {}),
      ...(pushProjection && op.projection ? { projection: op.projection } : {}),
    });
    return pushProjection ? docs : project(docs, run.filters.projection, op.projection);
  }
  const views = await readableViews(run, filter, { ...(op.sort ? { sort: op.sort } : {}), ...(limit ? { max: skip + limit } : {}) });
  return project(views.slice(skip), run.filters.projection, op.projection);
}

export async function count(run: RuleRun, op: OperationOf<"count">): Promise<number> {
  const filter = withFilters(op.filter, run.filters);
  if (run.uniform === null) return 0;
  if (await readsEverything(run)) {
    return run.service.execute({ database: op.database, collection: op.collection, kind: "count", filter, ...(op.limit ? { limit: op.limit } : {}), ...(op.skip ? { skip: op.skip } : {}) });
  }
  const skip = op.skip ?? 0;
  const views = await readableViews(run, filter, op.limit ? { max: skip + op.limit } : {});
  return Math.max(0, views.length - skip);
}

export async function distinct(run: RuleRun, op: OperationOf<"distinct">): Promise<unknown[]> {
  const filter = withFilters(op.filter, run.filters);
  if (run.uniform === null) return [];
  if (run.filters.projection === undefined && (await readsEverything(run))) {
    return run.service.execute({ database: op.database, collection: op.collection, kind: "distinct", field: op.field, filter });
  }
  const views = project(await readableViews(run, filter), run.filters.projection);
  const seen = new Set<string>();
  const out: unknown[] = [];
  for (const view of views) {
    for (const v of valuesAtPath(view, op.field).flatMap((x) => (Array.isArray(x) ? x : [x]))) {
      if (v === undefined) continue;
      const key = Buffer.from(keyBytes(v)).toString("base64");
      if (!seen.has(key)) (seen.add(key), out.push(v));
    }
  }
  return out;
}

/**
 * Aggregation sees only what the caller may read: when one role reads everything the pipeline runs on the
 * backend behind a $match of the filters; otherwise it runs here (mingo) over the permitted views.
 */
export async function aggregate(run: RuleRun, op: OperationOf<"aggregate">): Promise<Document[]> {
  checkUserPipeline(op.pipeline);
  if (run.uniform === null) return [];
  const filter = withFilters({}, run.filters);
  if (await readsEverything(run)) {
    const prefix: Document[] = [];
    if (Object.keys(filter).length > 0) prefix.push({ $match: filter });
    if (run.filters.projection !== undefined) prefix.push({ $project: run.filters.projection });
    return run.service.execute({ database: op.database, collection: op.collection, kind: "aggregate", pipeline: [...prefix, ...op.pipeline] });
  }
  const views = project(await readableViews(run, filter), run.filters.projection);
  try {
    return new Aggregator(normalizeForQuery(op.pipeline) as Document[], { scriptEnabled: false }).run(views) as Document[];
  } catch (e) {
    throw new DataServiceError("BadQuery", `pipeline: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}
