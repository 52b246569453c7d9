/**
 * Filters (spec §7): every filter whose apply_when holds adds its query to the operation's query and its
 * projection to the operation's projection before the query runs.
 */
import { expand, ExpressionError, type ExpressionContext } from "@restitch/expressions";
import { find as mingoFind } from "mingo";
import { normalizeForQuery } from "../embedded/values.js";
import { DataServiceError } from "../errors.js";
import type { Document } from "../types.js";
import type { Permissions } from "./permissions.js";
import type { FilterDef } from "./types.js";

export interface ActiveFilters {
  /** Expanded queries of the applicable filters (ANDed with the caller's filter). */
  queries: Document[];
  /** Union of the applicable filters' projections; undefined when none has one. */
  projection?: Document;
}

function projectionMode(p: Document): "include" | "exclude" | undefined {
  let mode: "include" | "exclude" | undefined;
  for (const [k, v] of Object.entries(p)) {
    if (k === "_id") continue;
    const m = v === 0 || v === false ? "exclude" : "include";
    if (mode !== undefined && mode !== m) return "include"; // a single mixed projection fails in the backend itself
    mode = m;
  }
  return mode;
}

export async function activeFilters(filters: FilterDef[], perms: Permissions, base: ExpressionContext, ns: string): Promise<ActiveFilters> {
  const queries: Document[] = [];
  const projections: Array<{ name: string; projection: Document; mode: "include" | "exclude" | undefined }> = [];
  for (const f of filters) {
    // apply_when cannot use %%root: it is evaluated once, before any document is read.
    if (!(await perms.check(f.apply_when, {}, `filter '${f.name}' apply_when`, true))) continue;
    if (f.query !== undefined && Object.keys(f.query).length > 0) {
      try {
        queries.push((await expand(f.query, base)) as Document);
      } catch (e) {
        const message = e instanceof Error ? e.message : String(e);
        const code = e instanceof ExpressionError ? "Internal" : "Forbidden";
        throw new DataServiceError(code, `rules for '${ns}': filter '${f.name}' query: ${message}`, { cause: e });
      }
    }
    if (f.projection !== undefined && Object.keys(f.projection).length > 0) {
      projections.push({ name: f.name, projection: f.projection, mode: projectionMode(f.projection) });
    }
  }
  const inc = projections.find((p) => p.mode === "include");
  const exc = projections.find((p) => p.mode === "exclude");
  if (inc && exc) {
    throw new DataServiceError("BadQuery", `rules for '${ns}': filters '${inc.name}' and '${exc.name}' mix inclusive and exclusive projections`);
  }
  if (projections.length === 0) return { queries };
  return { queries, projection: Object.assign({}, ...projections.map((p) => p.projection)) as Document };
}

/** The caller's filter ANDed with the filters' queries; the caller's filter stays the first clause. */
export function withFilters(filter: Document, active: ActiveFilters): Document {
  if (active.queries.length === 0) return filter;
  const clauses = Object.keys(filter).length > 0 ? [filter, ...active.queries] : active.queries;
  return clauses.length === 1 ? clauses[0]! : { $and: clauses };
}

/** Applies projections in order (filters' first, then the caller's) to documents already read. */
export function project(docs: Document[], ...projections: Array<Document | undefined>): Document[] {
  let out = docs;
  for (const p of projections) {
    if (p === undefined || Object.keys(p).length === 0) continue;
    try {
      out = mingoFind(out, {}, normalizeForQuery(p) as Document, { scriptEnabled: false }).all() as Document[];
    } catch (e) {
      throw new DataServiceError("BadQuery", `projection: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
  }
  return out;
}
