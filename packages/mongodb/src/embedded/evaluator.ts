/**
 * The evaluator: a small pool of child processes (one pool per embedded data service) that runs whatever
 * can evaluate arbitrary aggregation expressions — pipelines, `$expr` filters, expression projections,
 * pipeline updates — off the event loop, under a deadline and a heap limit. A task that passes its
 * deadline or outgrows the heap ends its process (killed, replaced on the next task) and fails with
 * MaxTimeMSExpired or ExceededMemoryLimit; the event loop keeps serving everything else meanwhile.
 *
 * Processes, not worker threads: a worker thread that reaches its heap limit can take the whole process
 * down with it (V8's fatal "Reached heap limit" while Node disposes the thread's isolate, nodejs/node#47224;
 * seen here in CI under an expression bomb). A process that runs out of heap dies alone.
 */
import { fork, type ChildProcess } from "node:child_process";
import type { Socket } from "node:net";
import { fileURLToPath } from "node:url";
import { serialize } from "bson";
import { DataServiceError, type DataServiceErrorCode } from "../errors.js";
import type { Document } from "../types.js";
import type { Shaping } from "./evaluate.js";

export interface EvaluatorLimits {
  /** Deadline of one operation's evaluation, from the moment a process starts it. */
  timeMs: number;
  /** Heap of each process (V8 old generation); also bounds the bytes of one operation's results. */
  memoryMb: number;
  /** Processes at most; operations beyond wait for one. */
  processes: number;
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
const WORKER_PATH = fileURLToPath(new URL("../../dist/embedded/evaluator-worker.js", import.meta.url));
/** An idle process ends after this long; the next task starts a new one. */
const IDLE_MS = 30_000;
/** A starting or busy evaluator keeps the server's process alive (a caller waits for it); an idle one does not. */
function keepAlive(worker: ChildProcess, on: boolean): void {
  if (on) {
    worker.ref();
    worker.channel?.ref();
  } else {
    worker.unref();
    worker.channel?.unref();
  }
}

/** The end of a dead process's stderr kept to tell an out-of-memory death from another. */
const STDERR_TAIL = 4096;

interface Job {
  req: EvaluatorRequest;
  what: string;
  resolve(r: EvaluatorResult): void;
  reject(e: DataServiceError): void;
}

interface Slot {
  worker: ChildProcess;
  ready: boolean;
  stderr: string;
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
   * buffers in `collections` are copied to the evaluator process.
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

  /** Ends every process; queued and running tasks fail. */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(new DataServiceError("Internal", "the data service is closed"));
    await Promise.all([...this.slots].map((s) => this.end(s, new DataServiceError("Internal", "the data service is closed"))));
  }

  private dispatch(): void {
    while (this.queue.length) {
      const free = [...this.slots].find((s) => s.ready && !s.job);
      if (!free) {
        if (this.slots.size < this.limits.processes) this.spawn();
        return; // a process that becomes ready or free dispatches again
      }
      this.start(free, this.queue.shift()!);
    }
  }

  private start(slot: Slot, job: Job): void {
    clearTimeout(slot.idle);
    keepAlive(slot.worker, true);
    slot.job = job;
    slot.deadline = setTimeout(() => {
      void this.end(slot, new DataServiceError("MaxTimeMSExpired", `operation exceeded time limit: ${job.what} ran longer than ${this.limits.timeMs} ms (the embedded store's operationTimeMs)`));
    }, this.limits.timeMs);
    slot.worker.send(job.req);
  }

  private spawn(): void {
    // The heap bound is the process's own (V8's default young generation: capping it at 16 MB made a
    // 10-document aggregate 3x slower). Its own execArgv: nothing of the parent's flags (profilers, test runners).
    const worker = fork(WORKER_PATH, [], {
      execArgv: [`--max-old-space-size=${this.limits.memoryMb}`],
      serialization: "advanced", // Uint8Array (BSON) crosses as bytes
      stdio: ["ignore", "ignore", "pipe", "ipc"],
    });
    const slot: Slot = { worker, ready: false, stderr: "" };
    this.slots.add(slot);
    worker.stderr?.setEncoding("utf8");
    worker.stderr?.on("data", (d: string) => (slot.stderr = (slot.stderr + d).slice(-STDERR_TAIL)));
    (worker.stderr as Socket | null)?.unref();
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
      keepAlive(worker, false);
      this.dispatch();
    });
    worker.on("error", (e: Error) => {
      const error = new DataServiceError("Internal", `embedded data service: evaluator process failed: ${e.message}`);
      if (!slot.ready) {
        // It never started (a broken install): fail what waits instead of starting processes forever.
        for (const job of this.queue.splice(0)) job.reject(error);
      }
      void this.end(slot, error);
    });
    worker.on("exit", () => {
      // V8 prints "Reached heap limit" / "heap out of memory" before aborting a process out of heap.
      const error = /heap limit|out of memory/i.test(slot.stderr)
        ? new DataServiceError(
            "ExceededMemoryLimit",
            `operation exceeded memory limit: ${slot.job?.what ?? "an operation"} needed more than ${this.limits.memoryMb} MB (the embedded store's operationMemoryMb)`,
          )
        : new DataServiceError("Internal", "embedded data service: evaluator process exited");
      if (!slot.ready) for (const job of this.queue.splice(0)) job.reject(error);
      void this.end(slot, error);
    });
  }

  /** Kills a process, failing its running task with `error`; a waiting task gets a new process. */
  private async end(slot: Slot, error?: DataServiceError): Promise<void> {
    if (!this.slots.delete(slot)) return;
    clearTimeout(slot.deadline);
    clearTimeout(slot.idle);
    const job = slot.job;
    slot.job = undefined;
    if (job) job.reject(error ?? new DataServiceError("Internal", "embedded data service: evaluator process ended"));
    if (!this.closed) this.dispatch();
    const w = slot.worker;
    if (w.exitCode !== null || w.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => w.once("exit", () => resolve()));
    w.ref(); // whoever awaits this end waits for the exit
    w.kill("SIGKILL");
    await exited;
  }
}
