/**
 * The document a write would produce, computed on a copy before anything is written, so the rules can
 * judge the post-image (mingo's update operators; the backend then applies the same update by _id).
 */
import { updateOne as mingoUpdateOne } from "mingo";
import { normalizeForQuery, upsertSeed, withId } from "../embedded/values.js";
import { DataServiceError } from "../errors.js";
import type { Document } from "../types.js";
import { isPlainObject } from "../validate.js";

function copyDoc(doc: Document): Document {
  // BSON values are immutable in practice; copying the containers keeps their classes intact.
  const copy = (v: unknown): unknown => (Array.isArray(v) ? v.map(copy) : isPlainObject(v) ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, copy(x)])) : v);
  return copy(doc) as Document;
}

/** The updated copy, or undefined when mingo finds that `filter` does not match the document. */
function runUpdate(doc: Document, filter: Document, update: Document | Document[]): Document | undefined {
  const box = [copyDoc(doc)];
  try {
    const r = mingoUpdateOne(box, normalizeForQuery(filter) as Document, normalizeForQuery(update) as Document, { cloneMode: "deep" }, { scriptEnabled: false });
    return r.matchedCount === 0 ? undefined : box[0]!;
  } catch (e) {
    throw new DataServiceError("BadQuery", `update: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

function splitSetOnInsert(update: Document): { rest: Document; onInsert: Document | undefined } {
  const { $setOnInsert, ...rest } = update;
  return { rest, onInsert: isPlainObject($setOnInsert) ? $setOnInsert : undefined };
}

/**
 * The image after `update` (operators or a pipeline) or `replacement`. `filter` is the caller's, for the
 * positional `$` operator; when mingo does not match it (operator differences), the update runs unfiltered.
 */
export function postImage(doc: Document, change: { update: Document | Document[] } | { replacement: Document }, filter: Document): Document {
  if ("replacement" in change) return { ...change.replacement, _id: doc._id };
  const update = Array.isArray(change.update) ? change.update : splitSetOnInsert(change.update).rest;
  if (!Array.isArray(update) && Object.keys(update).length === 0) return doc;
  return runUpdate(doc, filter, update) ?? runUpdate(doc, {}, update)!;
}

/** The document an upsert would insert: the filter's equality fields, then the update ($setOnInsert included). */
export function upsertImage(filter: Document, change: { update: Document | Document[] } | { replacement: Document }): Document {
  const seed = upsertSeed(normalizeForQuery(filter) as Document);
  if ("replacement" in change) return withId({ ...change.replacement, ...(change.replacement._id === undefined && seed._id !== undefined ? { _id: seed._id } : {}) });
  let update = change.update;
  if (!Array.isArray(update)) {
    const { rest, onInsert } = splitSetOnInsert(update);
    update = onInsert ? { ...rest, $set: { ...(isPlainObject(rest.$set) ? rest.$set : {}), ...onInsert } } : rest;
    if (Object.keys(update).length === 0) return withId(seed);
  }
  return withId(runUpdate(seed, {}, update)!);
}
