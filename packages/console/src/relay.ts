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

function batcher<T>(flush: (items: T[]) => void): (item: T) => void {
  let pending: T[] = [];
  let timer: NodeJS.Timeout | undefined;
  const send = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    const items = pending;
    pending = [];
    if (items.length > 0) flush(items);
  };
  return (item) => {
    pending.push(item);
    if (pending.length >= BATCH_MAX_RUNS) send();
    else timer ??= setTimeout(send, BATCH_MS).unref();
  };
}

/** In a worker: returns the function that reports one run to the supervisor. */
export function runReporter(send: (message: RunReport) => void): (run: RunSummary) => void {
  return batcher((runs) => send({ console: "run", runs }));
}

/**
 * In the supervisor: what to do with a worker's message, and what to greet a new worker with. Runs
 * from different workers are put in the order they finished (within a batch window) before they are
 * numbered, so "newest first" holds across workers.
 */
export function supervisorRelay(runs: RunLog, broadcast: (message: RunsUpdate) => void) {
  const number = batcher<RunSummary>((batch) => broadcast({ console: "runs", runs: batch.sort((a, b) => a.at - b.at).map((r) => runs.add(r)) }));
  return {
    onMessage(message: object): void {
      if ((message as Partial<RunReport>).console === "run") for (const run of (message as RunReport).runs) number(run);
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
