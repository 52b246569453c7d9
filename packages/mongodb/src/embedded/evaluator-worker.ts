/**
 * An evaluator process: runs one embedded-store evaluation at a time (evaluate.ts) over documents sent as
 * BSON bytes, and answers with BSON bytes. Its parent bounds it: a deadline per task (the process is
 * killed when it passes) and the heap limit it was started with. It ends with its parent's channel.
 */
import { setPriority } from "node:os";
import { deserialize } from "bson";
import type { Document } from "../types.js";
import {
  applyUpdate,
  asDataServiceError,
  findIn,
  packDocuments,
  prepareFilterOptions,
  compileFilter,
  ResultTooLarge,
  runPipeline,
  unpackDocuments,
  upsertDocument,
} from "./evaluate.js";
import type { EvaluatorAnswer, EvaluatorRequest, MatchParams, FindParams, AggregateParams, TaskError } from "./evaluator.js";

// Like isolated-vm's threads (the runtime's pool.threadNice): nice 10, so the event loop that serves every
// app wins the CPU over a tenant's long evaluation.
try {
  setPriority(0, 10);
} catch {
  // not permitted here: run at the process's priority
}

const send = (m: EvaluatorAnswer | { ready: true }) => process.send!(m);
process.on("disconnect", () => process.exit(0));
process.on("message", (req: EvaluatorRequest) => {
  let answer: EvaluatorAnswer;
  try {
    answer = { id: req.id, ok: true, ...evaluate(req) };
  } catch (e) {
    answer = { id: req.id, ok: false, error: taskError(e) };
  }
  send(answer);
});
send({ ready: true });

function evaluate(req: EvaluatorRequest): Omit<EvaluatorAnswer & { ok: true }, "id" | "ok"> {
  const docs = unpackDocuments(req.docs);
  const others = new Map<string, Document[]>();
  const collection = (name: string): Document[] => {
    let found = others.get(name);
    if (!found) others.set(name, (found = req.collections?.[name] ? unpackDocuments(req.collections[name]) : []));
    return found;
  };
  const params = deserialize(req.params) as FindParams | AggregateParams | MatchParams;
  const pack = (out: Document[]) => packDocuments(out, req.maxResultBytes);
  switch (req.task) {
    case "find": {
      const p = params as FindParams;
      const found = findIn(docs, p.filter, p, prepareFilterOptions(collection));
      return p.countOnly ? { count: found.length } : { docs: pack(found) };
    }
    case "aggregate":
      return { docs: pack(runPipeline((params as AggregateParams).stages, docs, collection)) };
    case "match":
      return match(params as MatchParams, docs, collection, pack);
  }
}

/**
 * Which documents match (in order, up to `limit`), and for a pipeline update each match's updated copy
 * (or why it fails), and the upsert's document when nothing matched. The service applies these in its
 * write transaction after checking that the documents did not change meanwhile.
 */
function match(p: MatchParams, docs: Document[], collection: (name: string) => Document[], pack: (out: Document[]) => Uint8Array) {
  const query = compileFilter(p.filter, prepareFilterOptions(collection));
  const matched: number[] = [];
  let evaluated = 0;
  while (evaluated < docs.length && (p.limit === undefined || matched.length < p.limit)) {
    if (query.test(docs[evaluated]!)) matched.push(evaluated);
    evaluated++;
  }
  if (!p.update) return { matched, evaluated };
  const updated: Document[] = [];
  const outcomes: (number | TaskError)[] = []; // per match: index into updated, -1 unchanged, or the error
  for (const i of matched) {
    try {
      const next = applyUpdate(docs[i]!, p.filter, p.update);
      outcomes.push(next ? updated.push(next) - 1 : -1);
    } catch (e) {
      outcomes.push(taskError(e));
    }
  }
  let upsert: Uint8Array | TaskError | undefined;
  if (p.upsert && matched.length === 0) {
    try {
      upsert = pack([upsertDocument(p.filter, p.update)]);
    } catch (e) {
      upsert = taskError(e);
    }
  }
  return { matched, evaluated, updates: { docs: pack(updated), outcomes }, ...(upsert ? { upsert } : {}) };
}

function taskError(e: unknown): TaskError {
  if (e instanceof ResultTooLarge) return { code: "ExceededMemoryLimit", message: `operation exceeded memory limit: ${e.message} (the embedded store's operationMemoryMb)` };
  const err = asDataServiceError(e);
  return { code: err.code, message: err.message };
}
