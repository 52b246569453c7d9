/**
 * Recent runs across worker processes: each worker reports its runs to the supervisor, which numbers
 * them in one log and passes each to every worker (and the whole log to a worker that has just
 * started), so whichever worker answers the console shows the same runs. The messages travel over the
 * supervision IPC channel only while the console is on.
 */
import type { Run, RunLog, RunSummary } from "./runs.js";

/** Worker → supervisor: finished calls, oldest first. */
export interface RunReport {
  console: "run";
  runs: RunSummary[];
}

/** Supervisor → worker: runs to keep, oldest first. */
export interface RunsUpdate {
  console: "runs";
  runs: Run[];
}

/**
 * Runs travel in batches: one IPC message per call cost more than the rest of the console. A batch
 * leaves BATCH_MS after its first run, or at once when it holds BATCH_MAX_RUNS.
 */
const BATCH_MS = 50;
const BATCH_MAX_RUNS = 200;

interface Batcher<T, R> {
  add(item: T): void;
  /** Sends what is pending now. */
  flush(): R | undefined;
}

function batcher<T, R>(send: (items: T[]) => R): Batcher<T, R> {
  let pending: T[] = [];
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    const items = pending;
    pending = [];
    return items.length > 0 ? send(items) : undefined;
  };
  return {
    add(item) {
      pending.push(item);
      if (pending.length >= BATCH_MAX_RUNS) flush();
      else timer ??= setTimeout(flush, BATCH_MS).unref();
    },
    flush,
  };
}

export interface RunReporter {
  report(run: RunSummary): void;
  /** Sends the runs not sent yet (a worker about to exit); resolves once they are. */
  flush(): Promise<void>;
}

/** In a worker: reports runs to the supervisor. */
export function runReporter(send: (message: RunReport) => Promise<void>): RunReporter {
  const batch = batcher((runs: RunSummary[]) => send({ console: "run", runs }));
  return { report: (run) => batch.add(run), flush: async () => batch.flush() };
}

/**
 * In the supervisor: what to do with a worker's message, and what to greet a new worker with. Runs
 * from different workers are put in the order they finished (within a batch window) before they are
 * numbered, so "newest first" holds across workers.
 */
export function supervisorRelay(runs: RunLog, broadcast: (message: RunsUpdate) => void) {
  const numbering = batcher((batch: RunSummary[]) => broadcast({ console: "runs", runs: batch.sort((a, b) => a.at - b.at).map((r) => runs.add(r)) }));
  return {
    onMessage(message: object): void {
      if ((message as Partial<RunReport>).console === "run") for (const run of (message as RunReport).runs) numbering.add(run);
    },
    snapshot(): RunsUpdate {
      return { console: "runs", runs: runs.list({ limit: runs.maxRuns }).reverse() };
    },
  };
}

/** In a worker: keep the runs a supervisor's message carries. */
export function acceptRuns(runs: RunLog, message: object): void {
  if ((message as Partial<RunsUpdate>).console !== "runs") return;
  for (const run of (message as RunsUpdate).runs) runs.insert(run);
}
