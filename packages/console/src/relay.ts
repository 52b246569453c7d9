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

/** A worker reports its runs in batches: one IPC message per call cost more than the rest of the console. */
const REPORT_EVERY_MS = 50;
const REPORT_MAX_RUNS = 200;

/** In a worker: returns the function that reports one run (sent within REPORT_EVERY_MS). */
export function runReporter(send: (message: RunReport) => void): (run: RunSummary) => void {
  let pending: RunSummary[] = [];
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    const runs = pending;
    pending = [];
    if (runs.length > 0) send({ console: "run", runs });
  };
  return (run) => {
    pending.push(run);
    if (pending.length >= REPORT_MAX_RUNS) flush();
    else timer ??= setTimeout(flush, REPORT_EVERY_MS).unref();
  };
}

/** In the supervisor: what to do with a worker's message, and what to greet a new worker with. */
export function supervisorRelay(runs: RunLog, broadcast: (message: RunsUpdate) => void) {
  return {
    onMessage(message: object): void {
      if ((message as Partial<RunReport>).console === "run") broadcast({ console: "runs", runs: (message as RunReport).runs.map((r) => runs.add(r)) });
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
