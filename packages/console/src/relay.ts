/**
 * Recent runs across worker processes: each worker reports its runs to the supervisor, which numbers
 * them in one log and passes each to every worker (and the whole log to a worker that has just
 * started), so whichever worker answers the console shows the same runs. The messages travel over the
 * supervision IPC channel only while the console is on.
 */
import type { Run, RunLog, RunSummary } from "./runs.js";

/** Worker → supervisor: one finished call. */
export interface RunReport {
  console: "run";
  run: RunSummary;
}

/** Supervisor → worker: runs to keep, oldest first. */
export interface RunsUpdate {
  console: "runs";
  runs: Run[];
}

export function runReport(run: RunSummary): RunReport {
  return { console: "run", run };
}

/** In the supervisor: what to do with a worker's message, and what to greet a new worker with. */
export function supervisorRelay(runs: RunLog, broadcast: (message: RunsUpdate) => void) {
  return {
    onMessage(message: object): void {
      if ((message as Partial<RunReport>).console === "run") broadcast({ console: "runs", runs: [runs.add((message as RunReport).run)] });
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
