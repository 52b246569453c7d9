/** What one rules-checked operation carries: the backend, the caller's permissions and active filters. */
import type { DataService, Document } from "../types.js";
import type { ActiveFilters } from "./filters.js";
import type { Permissions } from "./permissions.js";
import type { RoleDef } from "./types.js";

export interface RuleRun {
  service: DataService;
  database: string;
  collection: string;
  perms: Permissions;
  filters: ActiveFilters;
  /** The role deciding for every document when known up front (null: none applies), else undefined. */
  uniform: RoleDef | null | undefined;
}

const PAGE = 500;

/**
 * Documents matching `filter` in `sort` order (natural order without one), read from the backend with no
 * rules. Paged when the caller needs only the first few permitted ones (`enough` says when to stop).
 */
export async function* scan(run: RuleRun, filter: Document, options: { sort?: Document; paged?: boolean } = {}): AsyncGenerator<Document> {
  const base = { database: run.database, collection: run.collection, filter, ...(options.sort ? { sort: options.sort } : {}) };
  if (!options.paged) {
    yield* await run.service.execute({ ...base, kind: "find" });
    return;
  }
  for (let skip = 0; ; skip += PAGE) {
    const page = await run.service.execute({ ...base, kind: "find", skip, limit: PAGE });
    yield* page;
    if (page.length < PAGE) return;
  }
}

/** Readable views of the documents matching `filter`, in order, stopping after `max`. */
export async function readableViews(run: RuleRun, filter: Document, options: { sort?: Document; max?: number } = {}): Promise<Document[]> {
  const out: Document[] = [];
  const max = options.max ?? Infinity;
  if (max <= 0) return out;
  for await (const doc of scan(run, filter, { ...(options.sort ? { sort: options.sort } : {}), paged: max !== Infinity })) {
    const view = await run.perms.readView(doc);
    if (view === undefined) continue;
    out.push(view);
    if (out.length >= max) break;
  }
  return out;
}

/** The first document matching `filter` (in `sort` order) that the caller can see, raw (all fields). */
export async function firstVisible(run: RuleRun, filter: Document, sort?: Document): Promise<Document | undefined> {
  for await (const doc of scan(run, filter, { ...(sort ? { sort } : {}), paged: true })) {
    if (await run.perms.visible(doc)) return doc;
  }
  return undefined;
}

/** Every document matching `filter` that the caller can see, raw. */
export async function allVisible(run: RuleRun, filter: Document): Promise<Document[]> {
  const out: Document[] = [];
  for await (const doc of scan(run, filter)) if (await run.perms.visible(doc)) out.push(doc);
  return out;
}

/** `{_id: …}` narrowing of the caller's (already filter-merged) query, so the write touches exactly these documents. */
export function byIds(ids: unknown[], filter: Document): Document {
  const idClause = ids.length === 1 ? { _id: ids[0] } : { _id: { $in: ids } };
  return Object.keys(filter).length === 0 ? idClause : { ...idClause, $and: [filter] };
}
