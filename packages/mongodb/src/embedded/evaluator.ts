/**
 * The evaluator: a small pool of worker threads (one pool per embedded data service) that runs whatever
 * can evaluate arbitrary aggregation expressions — pipelines, `$expr` filters, expression projections,
 * pipeline updates — off the event loop, under a deadline and a heap limit. A task that passes its
 * deadline or outgrows the heap ends its thread (terminated, replaced on the next task) and fails with
 * MaxTimeMSExpired or ExceededMemoryLimit; the event loop keeps serving everything else meanwhile.
 */
import { Worker } from "node:worker_threads";
import { serialize } from "bson";
import { DataServiceError, type DataServiceErrorCode } from "../errors.js";
import type { Document } from "../types.js";
import type { Shaping } from "./evaluate.js";

export interface EvaluatorLimits {
  /** Deadline of one operation's evaluation, from the moment a thread starts it. */
  timeMs: number;
  /** Heap of each thread (V8 old generation); also bounds the bytes of one operation's results. */
  memoryMb: number;
  /** Threads at most; operations beyond wait for one. */
  threads: number;
}

export interface TaskError {
  code: DataServiceErrorCode;
  message: string;
}
export interface FindParams extends Shaping {
  filter: Document;
  countOnly?: boolean;
}
export interface AggregateParams {
  stages: Document[];
}
export interface MatchParams {
  filter: Document;
  limit?: number;
  /** A pipeline update to apply to each match (and to the upsert seed when nothing matches and `upsert`). */
  update?: Document[];
  upsert?: boolean;
}
type Task = "find" | "aggregate" | "match";

export interface EvaluatorRequest {
  id: number;
  task: Task;
  /** The task's parameters as BSON (structured clone would lose the classes of ObjectId, Decimal128…). */
  params: Uint8Array;
  /** The source documents, concatenated BSON. */
  docs: Uint8Array;
  /** Other collections the task reads ($lookup, $unionWith), concatenated BSON. */
  collections?: Record<string, Uint8Array>;
  maxResultBytes: number;
}

export type EvaluatorResult = {
  docs?: Uint8Array;
  count?: number;
  matched?: number[];
  /** How many source documents the match looked at (it stops at its limit). */
  evaluated?: number;
  /** Per match: the index of its updated copy in `docs`, -1 when unchanged, or why the update failed. */
  updates?: { docs: Uint8Array; outcomes: (number | TaskError)[] };
  upsert?: Uint8Array | TaskError;
};
export type EvaluatorAnswer = ({ ok: true } & EvaluatorResult | { ok: false; error: TaskError }) & { id: number };

/** Built by tsc next to this file; from src/ (tests run the TypeScript) the same path reaches dist/. */
const WORKER_URL = new URL("../../dist/embedded/evaluator-worker.js", import.meta.url);
/** An idle thread ends after this long; the next task starts a new one (~30 ms). */
const IDLE_MS = 30_000;

interface Job {
  req: EvaluatorRequest;
  what: string;
  resolve(r: EvaluatorResult): void;
  reject(e: DataServiceError): void;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  job?: Job;
  deadline?: NodeJS.Timeout;
  idle?: NodeJS.Timeout;
}

export class Evaluator {
  private readonly slots = new Set<Slot>();
  private readonly queue: Job[] = [];
  private nextId = 1;
  private closed = false;

  constructor(readonly limits: EvaluatorLimits) {}

  /**
   * Runs one task. `what` names the operation in errors ("aggregate on app.orders"); `docs` and the
   * buffers in `collections` are transferred (unusable here afterwards).
   */
  run(task: Task, params: FindParams | AggregateParams | MatchParams, docs: Uint8Array, what: string, collections?: Record<string, Uint8Array>): Promise<EvaluatorResult> {
    if (this.closed) return Promise.reject(new DataServiceError("Internal", "the data service is closed"));
    const req: EvaluatorRequest = {
      id: this.nextId++,
      task,
      params: serialize(params as unknown as Document),
      docs,
      ...(collections ? { collections } : {}),
      maxResultBytes: this.limits.memoryMb * 1024 * 1024,
    };
    return new Promise((resolve, reject) => {
      this.queue.push({ req, what, resolve, reject });
      this.dispatch();
    });
  }

  /** Ends every thread; queued and running tasks fail. */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(new DataServiceError("Internal", "the data service is closed"));
    await Promise.all([...this.slots].map((s) => this.end(s, new DataServiceError("Internal", "the data service is closed"))));
  }

  /** Threads alive now (tests and stats). */
  get threads(): number {
    return this.slots.size;
  }

  private dispatch(): void {
    while (this.queue.length) {
      const free = [...this.slots].find((s) => s.ready && !s.job);
      if (!free) {
        if (this.slots.size < this.limits.threads) this.spawn();
        return; // a thread that becomes ready or free dispatches again
      }
      this.start(free, this.queue.shift()!);
    }
  }

  private start(slot: Slot, job: Job): void {
    clearTimeout(slot.idle);
    slot.job = job;
    slot.deadline = setTimeout(() => {
      void this.end(slot, new DataServiceError("MaxTimeMSExpired", `operation exceeded time limit: ${job.what} ran longer than ${this.limits.timeMs} ms (the embedded store's operationTimeMs)`));
    }, this.limits.timeMs);
    const transfer = [job.req.docs.buffer, ...Object.values(job.req.collections ?? {}).map((b) => b.buffer)] as ArrayBuffer[];
    slot.worker.postMessage(job.req, [...new Set(transfer)]);
  }

  private spawn(): void {
    const worker = new Worker(WORKER_URL, {
      // V8's default young generation: capping it at 16 MB made a 10-document aggregate 3x slower (GC).
      resourceLimits: { maxOldGenerationSizeMb: this.limits.memoryMb, stackSizeMb: 4 },
    });
    worker.unref(); // an idle evaluator never keeps the process alive; a running task's deadline timer does
    const slot: Slot = { worker, ready: false };
    this.slots.add(slot);
    worker.on("message", (m: EvaluatorAnswer | { ready: true }) => {
      if ("ready" in m) {
        slot.ready = true;
        return this.dispatch();
      }
      const job = slot.job;
      if (!job || job.req.id !== m.id) return;
      clearTimeout(slot.deadline);
      slot.job = undefined;
      if (m.ok) job.resolve(m);
      else job.reject(new DataServiceError(m.error.code, m.error.message));
      slot.idle = setTimeout(() => void this.end(slot), IDLE_MS).unref();
      this.dispatch();
    });
    worker.on("error", (e: Error & { code?: string }) => {
      const error =
        e.code === "ERR_WORKER_OUT_OF_MEMORY"
          ? new DataServiceError(
              "ExceededMemoryLimit",
              `operation exceeded memory limit: ${slot.job?.what ?? "an operation"} needed more than ${this.limits.memoryMb} MB (the embedded store's operationMemoryMb)`,
            )
          : new DataServiceError("Internal", `embedded data service: evaluator thread failed: ${e.message}`);
      if (!slot.ready) {
        // It never started (a broken install): fail what waits instead of starting threads forever.
        for (const job of this.queue.splice(0)) job.reject(error);
      }
      void this.end(slot, error);
    });
    worker.on("exit", () => void this.end(slot, new DataServiceError("Internal", "embedded data service: evaluator thread exited")));
  }

  /** Terminates a thread, failing its running task with `error`; a waiting task gets a new thread. */
  private async end(slot: Slot, error?: DataServiceError): Promise<void> {
    if (!this.slots.delete(slot)) return;
    clearTimeout(slot.deadline);
    clearTimeout(slot.idle);
    const job = slot.job;
    slot.job = undefined;
    if (job) job.reject(error ?? new DataServiceError("Internal", "embedded data service: evaluator thread ended"));
    if (!this.closed) this.dispatch();
    await slot.worker.terminate();
  }
}
