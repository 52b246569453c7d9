/**
 * Writes for a non-system caller (C131, §7). Every matched document is checked first — write permission on
 * the pre-image and on the post-image, insert/delete permission — and only then is anything written, by
 * _id, so a denied write writes nothing. Documents the caller cannot see are not matched at all.
 */
import { DataServiceError } from "../errors.js";
import type { Document, OperationOf, UpdateResult } from "../types.js";
import { project, withFilters } from "./filters.js";
import { postImage, upsertImage } from "./images.js";
import { changedPaths } from "./permissions.js";
import { allVisible, byIds, firstVisible, type RuleRun } from "./run.js";

type Change = { update: Document | Document[] } | { replacement: Document };
type UpdateOp = OperationOf<"updateOne"> | OperationOf<"updateMany"> | OperationOf<"replaceOne">;
type FindAndModifyOp = OperationOf<"findOneAndUpdate"> | OperationOf<"findOneAndReplace"> | OperationOf<"findOneAndDelete">;

function denied(what: "insert" | "update" | "delete"): DataServiceError {
  return new DataServiceError("Forbidden", `${what} not permitted`);
}

function changeOf(op: UpdateOp | OperationOf<"findOneAndUpdate"> | OperationOf<"findOneAndReplace">): Change {
  return "replacement" in op ? { replacement: op.replacement } : { update: op.update };
}

/** Insert permission: a role for the new document, its write filter, `insert`, and write on every field. */
async function checkInsert(run: RuleRun, doc: Document): Promise<void> {
  const role = await run.perms.roleFor(doc);
  if (role === undefined || !(await run.perms.allows(role, "insert", doc))) throw denied("insert");
  if (!(await run.perms.canWrite(role, doc, undefined, changedPaths({}, doc, role)))) throw denied("insert");
}

/** Update permission on the pre-image (%%root = before) and on the post-image (%%root = after, %%prevRoot = before). */
async function checkUpdate(run: RuleRun, before: Document, after: Document): Promise<void> {
  const pre = await run.perms.roleFor(before);
  if (!(await run.perms.canWrite(pre, before, undefined, changedPaths(before, after, pre)))) throw denied("update");
  const post = await run.perms.roleFor(after, before);
  if (!(await run.perms.canWrite(post, after, before, changedPaths(before, after, post)))) throw denied("update");
}

async function checkDelete(run: RuleRun, doc: Document): Promise<void> {
  const role = await run.perms.roleFor(doc);
  if (role === undefined || !(await run.perms.allows(role, "delete", doc))) throw denied("delete");
  if (!(await run.perms.canWrite(role, doc, undefined, changedPaths(doc, {}, role)))) throw denied("delete");
}

/** When one role decides everywhere and grants these kinds on every document, no document needs reading. */
async function writesEverything(run: RuleRun, kinds: Array<"write" | "insert" | "delete">): Promise<boolean> {
  return run.uniform != null && (await run.perms.grantsEverywhere(run.uniform, kinds));
}

export async function insert(run: RuleRun, op: OperationOf<"insertOne"> | OperationOf<"insertMany">): Promise<unknown> {
  const docs = op.kind === "insertOne" ? [op.document] : op.documents;
  if (!(await writesEverything(run, ["insert"]))) for (const doc of docs) await checkInsert(run, doc);
  return run.service.execute(op);
}

async function upsertInsert(run: RuleRun, filter: Document, change: Change): Promise<Document> {
  const doc = upsertImage(filter, change);
  await checkInsert(run, doc);
  await run.service.execute({ database: run.database, collection: run.collection, kind: "insertOne", document: doc });
  return doc;
}

export async function update(run: RuleRun, op: UpdateOp): Promise<UpdateResult> {
  const filter = withFilters(op.filter, run.filters);
  if (await writesEverything(run, op.upsert ? ["write", "insert"] : ["write"])) return run.service.execute({ ...op, filter });
  const change = changeOf(op);
  const matches = op.kind === "updateMany" ? await allVisible(run, filter) : [await firstVisible(run, filter)].filter((d) => d !== undefined);
  if (matches.length === 0) {
    // The upsert is inserted here, not by the backend: it could otherwise update a document hidden from the caller.
    if (!op.upsert) return { matchedCount: 0, modifiedCount: 0 };
    const doc = await upsertInsert(run, filter, change);
    return { matchedCount: 0, modifiedCount: 0, upsertedId: doc._id };
  }
  for (const doc of matches) await checkUpdate(run, doc, postImage(doc, change, op.filter));
  const ids = matches.map((d) => d._id);
  return run.service.execute({ ...op, filter: byIds(ids, filter), upsert: false });
}

export async function remove(run: RuleRun, op: OperationOf<"deleteOne"> | OperationOf<"deleteMany">): Promise<{ deletedCount: number }> {
  const filter = withFilters(op.filter, run.filters);
  if (await writesEverything(run, ["delete"])) return run.service.execute({ ...op, filter });
  const matches = op.kind === "deleteMany" ? await allVisible(run, filter) : [await firstVisible(run, filter)].filter((d) => d !== undefined);
  if (matches.length === 0) return { deletedCount: 0 };
  for (const doc of matches) await checkDelete(run, doc);
  return run.service.execute({ ...op, filter: byIds(matches.map((d) => d._id), filter) });
}

/** The returned document, cut down to what the caller may read (null when it may read none of it). */
async function readable(run: RuleRun, doc: Document | null, projection: Document | undefined): Promise<Document | null> {
  if (doc === null) return null;
  const view = await run.perms.readView(doc);
  return view === undefined ? null : (project([view], run.filters.projection, projection)[0] ?? null);
}

export async function findOneAnd(run: RuleRun, op: FindAndModifyOp): Promise<Document | null> {
  const filter = withFilters(op.filter, run.filters);
  const target = await firstVisible(run, filter, op.sort);
  if (op.kind === "findOneAndDelete") {
    if (target === undefined) return null;
    await checkDelete(run, target);
    const { projection: _p, ...rest } = op;
    const deleted = await run.service.execute({ ...rest, filter: byIds([target._id], filter) });
    return readable(run, deleted, op.projection);
  }
  const change = changeOf(op);
  if (target === undefined) {
    if (!op.upsert) return null;
    const doc = await upsertInsert(run, filter, change);
    return op.returnNewDocument ? readable(run, doc, op.projection) : null;
  }
  await checkUpdate(run, target, postImage(target, change, op.filter));
  const { projection: _p, ...rest } = op;
  const result = await run.service.execute({ ...rest, filter: byIds([target._id], filter), upsert: false });
  return readable(run, result, op.projection);
}
