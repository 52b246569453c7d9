/**
 * Prometheus metrics (prom-client). A server's registry counts what its CallLogEntry records say
 * (requests, function runs, durations, limit hits) and reads the isolate pools when scraped; the
 * supervisor's registry counts worker lifecycle events, and combines every worker's registry into
 * one answer for the whole server.
 */
import type { CallLogEntry } from "@restitch/router";
import type { SupervisorEvent } from "@restitch/runtime";
import { AggregatorRegistry, collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";

export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

/** Seconds; from a trivial call (~0.1 ms) to the default wall-clock limit (60 s). */
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** Call error kinds that are a limit being hit (the others are faults: threw, syntax, crashed, …). */
const LIMIT_KINDS: ReadonlySet<string> = new Set(["timeout", "cpu", "memory", "host-calls", "result-size", "overloaded"]);
/** Router error codes that are an edge limit being hit, by the limit kind they count as. */
const EDGE_LIMITS: Record<string, string> = { RequestTooLarge: "request-body", RequestHeadersTooLarge: "request-headers" };

export interface PoolStats {
  isolates: number;
  busy: number;
  queued: number;
}

export interface ServerMetrics {
  registry: Registry;
  /** Count one finished request or function run. */
  record(entry: CallLogEntry): void;
  /** Report an app's isolate pool (read at each scrape). */
  watchPool(appId: string, stats: () => PoolStats | undefined): void;
}

export interface ServerMetricsOptions {
  /** Default: a new Registry. */
  registry?: Registry;
  /** Node process metrics (CPU, memory, event loop lag, GC) from prom-client. Default true. */
  processMetrics?: boolean;
}

export function createServerMetrics(options: ServerMetricsOptions = {}): ServerMetrics {
  const registry = options.registry ?? new Registry();
  if (options.processMetrics !== false) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const requests = new Counter({
    name: "restitch_http_requests_total",
    help: "HTTP requests answered, by app, route (the configured route or the router's pattern), method and status.",
    labelNames: ["app", "route", "method", "status"] as const,
    registers,
  });
  const requestSeconds = new Histogram({
    name: "restitch_http_request_duration_seconds",
    help: "Time from request start to response, by app, route and method.",
    labelNames: ["app", "route", "method"] as const,
    buckets: DURATION_BUCKETS,
    registers,
  });
  const runs = new Counter({
    name: "restitch_function_runs_total",
    help: "Function runs, by app, function and outcome (ok, or the error kind: threw, timeout, cpu, memory, …).",
    labelNames: ["app", "function", "outcome"] as const,
    registers,
  });
  const runSeconds = new Histogram({
    name: "restitch_function_run_duration_seconds",
    help: "Wall-clock time of function runs, by app and function.",
    labelNames: ["app", "function"] as const,
    buckets: DURATION_BUCKETS,
    registers,
  });
  const cpuSeconds = new Counter({
    name: "restitch_function_cpu_seconds_total",
    help: "Isolate CPU time used by function runs, by app and function.",
    labelNames: ["app", "function"] as const,
    registers,
  });
  const limitHits = new Counter({
    name: "restitch_limit_hits_total",
    help: "Limits hit, by app and kind (timeout, cpu, memory, host-calls, result-size, overloaded, console-bytes, request-body, request-headers).",
    labelNames: ["app", "kind"] as const,
    registers,
  });

  const pools = new Map<string, () => PoolStats | undefined>();
  const poolGauge = (name: string, help: string, pick: (s: PoolStats) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ["app"] as const,
      registers,
      collect() {
        for (const [app, stats] of pools) {
          const s = stats();
          if (s) this.set({ app }, pick(s));
        }
      },
    });
  poolGauge("restitch_pool_isolates", "Isolates in the app's pool (idle and busy).", (s) => s.isolates);
  poolGauge("restitch_pool_busy", "Isolates running a call.", (s) => s.busy);
  poolGauge("restitch_pool_queued", "Calls waiting for an isolate.", (s) => s.queued);

  return {
    registry,
    record(e) {
      const app = e.appId;
      if (e.kind !== "function") {
        requests.inc({ app, route: e.route, method: e.method, status: e.status });
        requestSeconds.observe({ app, route: e.route, method: e.method }, e.ms / 1000);
        const edge = e.errorCode === undefined ? undefined : EDGE_LIMITS[e.errorCode];
        if (edge) limitHits.inc({ app, kind: edge });
      }
      // A run happened when the record carries its CPU time (a refused request has none).
      if (e.cpuMs === undefined) return;
      const fn = e.functionName ?? "";
      const error = e.error?.kind;
      runs.inc({ app, function: fn, outcome: error ?? "ok" });
      runSeconds.observe({ app, function: fn }, (e.runMs ?? e.ms) / 1000);
      if (e.cpuMs > 0) cpuSeconds.inc({ app, function: fn }, e.cpuMs / 1000);
      if (error !== undefined && LIMIT_KINDS.has(error)) limitHits.inc({ app, kind: error });
      if (e.logsDropped > 0) limitHits.inc({ app, kind: "console-bytes" });
    },
    watchPool(appId, stats) {
      pools.set(appId, stats);
    },
  };
}

export interface SupervisorMetrics {
  registry: Registry;
  /** Count a supervisor event (feed it SuperviseOptions.onEvent). */
  onEvent(event: SupervisorEvent): void;
  /** Report the number of workers serving (read at each scrape). */
  watchWorkers(alive: () => number): void;
  /** The whole server's metrics text: every worker's registry (as getMetricsAsJSON) summed, plus the supervisor's. */
  combine(workerMetrics: unknown[]): Promise<string>;
}

export function createSupervisorMetrics(): SupervisorMetrics {
  const registry = new Registry();
  const registers = [registry];
  let alive = () => 0;
  new Gauge({
    name: "restitch_workers",
    help: "Worker processes serving (ready and not draining).",
    registers,
    collect() {
      this.set(alive());
    },
  });
  const restarts = new Counter({ name: "restitch_worker_restarts_total", help: "Workers that died unexpectedly and were replaced.", registers });
  const recycles = new Counter({
    name: "restitch_worker_recycles_total",
    help: "Workers replaced on purpose, by cause (calls: call budget spent; memory: resident memory over the bound).",
    labelNames: ["cause"] as const,
    registers,
  });
  // Present from the start (at 0), so a dashboard can tell "none yet" from "not reported".
  for (const cause of ["calls", "memory"]) recycles.inc({ cause }, 0);
  return {
    registry,
    onEvent(e) {
      if (e.type === "exit" && !e.expected) restarts.inc();
      else if (e.type === "recycle") recycles.inc({ cause: e.cause });
    },
    watchWorkers(fn) {
      alive = fn;
    },
    async combine(workerMetrics) {
      const reports = workerMetrics.filter((m): m is object[] => Array.isArray(m));
      const merged = Registry.merge([AggregatorRegistry.aggregate(reports), registry]);
      return merged.metrics();
    },
  };
}
