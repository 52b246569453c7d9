/**
 * Recent runs: a compact summary of each finished call (what the console shows) and the bounded ring
 * buffer that keeps them, newest first. A summary is plain JSON so that a worker process can send it to
 * its supervisor, which numbers it and hands it to every worker (see docs/console.md).
 */
import type { CallLogEntry } from "@restitch/router";

/** appId, method, route (the endpoint's, or the webhook / Data API path), status, ms (wall time) and logs as the server reported them, logs cut to RUN_LOG_BYTES. */
export interface RunSummary extends Pick<CallLogEntry, "appId" | "method" | "route" | "status" | "ms" | "logs"> {
  /** When the call finished (epoch ms). */
  at: number;
  /** Log lines left out because the run logged more than RUN_LOG_BYTES. */
  logsOmitted?: number;
  /** Kind, name and message only: the tenant stack never reaches the console. */
  error?: { kind: string; name: string; message: string };
  /** The worker process that answered. */
  worker?: number;
  /** Any other scalar the server reported for the call (request id, user id, function, CPU time, memory…). */
  details?: Record<string, string | number | boolean>;
}

export interface Run extends RunSummary {
  /** Increasing; the same in every worker of one server. */
  id: number;
}

/** Per-run cap on logged text kept for the console (the runtime allows more per call). */
export const RUN_LOG_BYTES = 16 * 1024;
/** Per-value cap on the scalars kept in `details` and on an error message. */
const MAX_DETAIL_CHARS = 512;
const KNOWN_FIELDS = new Set(["appId", "method", "route", "status", "ms", "logs", "error"]);

/**
 * The console's view of one CallLogEntry, or undefined when it is no app's run (a request that named no
 * app served here, such as the console's own, when the server records every request). Reads only what
 * it knows to be safe to show; other fields are kept when they are scalars (so fields the server adds
 * later show up without a change here), and objects (which could hold anything) are left out.
 */
export function summarizeCall(entry: CallLogEntry, worker?: number): RunSummary | undefined {
  if (!entry.appId) return undefined;
  const logs: string[] = [];
  let bytes = 0;
  for (const line of entry.logs) {
    bytes += Buffer.byteLength(line) + 1;
    if (bytes > RUN_LOG_BYTES) break;
    logs.push(line);
  }
  const run: RunSummary = {
    at: Date.now(),
    appId: entry.appId,
    method: entry.method,
    route: entry.route,
    status: entry.status,
    ms: Math.round(entry.ms * 1000) / 1000,
    logs,
  };
  if (logs.length < entry.logs.length) run.logsOmitted = entry.logs.length - logs.length;
  if (entry.error) run.error = { kind: entry.error.kind, name: clip(entry.error.name), message: clip(entry.error.message) };
  if (worker !== undefined) run.worker = worker;
  const details: Record<string, string | number | boolean> = {};
  for (const [key, value] of Object.entries(entry)) {
    if (KNOWN_FIELDS.has(key) || /stack|secret|token|password/i.test(key)) continue;
    if (typeof value === "string") details[key] = clip(value);
    else if ((typeof value === "number" && Number.isFinite(value)) || typeof value === "boolean") details[key] = value;
  }
  if (Object.keys(details).length > 0) run.details = details;
  return run;
}

function clip(s: string): string {
  return s.length > MAX_DETAIL_CHARS ? `${s.slice(0, MAX_DETAIL_CHARS)}…` : s;
}

export interface RunLogOptions {
  /** Runs kept (default 500). */
  maxRuns?: number;
  /** Approximate bytes kept, as JSON (default 4 MiB). */
  maxBytes?: number;
}

export interface RunQuery {
  /** Only runs with a greater id (for polling). */
  after?: number;
  appId?: string;
  /** At most this many, newest first (default 100). */
  limit?: number;
}

/** A bounded ring buffer of runs, oldest dropped first when either bound is exceeded. */
export class RunLog {
  readonly maxRuns: number;
  readonly maxBytes: number;
  /** Oldest first. */
  private runs: { run: Run; bytes: number }[] = [];
  private head = 0;
  private bytes = 0;
  private nextId = 1;

  constructor(options: RunLogOptions = {}) {
    this.maxRuns = options.maxRuns ?? 500;
    this.maxBytes = options.maxBytes ?? 4 * 1024 * 1024;
  }

  /** Numbers a new run and keeps it. */
  add(summary: RunSummary): Run {
    const run: Run = { id: this.nextId, ...summary };
    this.insert(run);
    return run;
  }

  /** Keeps a run numbered elsewhere (by a supervisor); runs older than the newest kept are ignored. */
  insert(run: Run): void {
    const newest = this.runs.at(-1);
    if (newest && run.id <= newest.run.id) return;
    const bytes = JSON.stringify(run).length;
    this.runs.push({ run, bytes });
    this.bytes += bytes;
    this.nextId = run.id + 1;
    while (this.runs.length - this.head > this.maxRuns || (this.bytes > this.maxBytes && this.runs.length - this.head > 1)) {
      this.bytes -= this.runs[this.head]!.bytes;
      this.runs[this.head++] = undefined as never;
    }
    // Compact now and then rather than shift() on every eviction.
    if (this.head > 1024 && this.head * 2 > this.runs.length) {
      this.runs = this.runs.slice(this.head);
      this.head = 0;
    }
  }

  /** Newest first. */
  list(query: RunQuery = {}): Run[] {
    const limit = query.limit ?? 100;
    const out: Run[] = [];
    for (let i = this.runs.length - 1; i >= this.head && out.length < limit; i--) {
      const { run } = this.runs[i]!;
      if (query.after !== undefined && run.id <= query.after) break;
      if (query.appId !== undefined && run.appId !== query.appId) continue;
      out.push(run);
    }
    return out;
  }

  get(id: number): Run | undefined {
    // Ids are increasing, so binary search the live part.
    let lo = this.head;
    let hi = this.runs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const run = this.runs[mid]!.run;
      if (run.id === id) return run;
      if (run.id < id) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }

  /** The newest run's id (0 when none). */
  latestId(): number {
    return this.nextId - 1;
  }

  size(): { runs: number; bytes: number } {
    return { runs: this.runs.length - this.head, bytes: this.bytes };
  }
}
