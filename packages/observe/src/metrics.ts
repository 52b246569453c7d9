/**
 * Prometheus metrics (prom-client). A server's registry counts what its CallLogEntry records say
 * (requests, function runs, durations, limit hits) and reads the isolate pools when scraped; the
 * supervisor's registry counts worker lifecycle events, and combines every worker's registry into
 * one answer for the whole server.
 */
import type { CallLogEntry } from "@restitch/router";
import type { SupervisorEvent } from "@restitch/runtime";
import { AggregatorRegistry, collectDefaultMetrics, Counter, Gauge, Registry } from "prom-client";

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
  /** Memory the app's isolates hold: V8 heaps (committed) and ArrayBuffers. */
  heapBytes: number;
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
  const requests = new CountFamily(
    registry,
    "restitch_http_requests_total",
    "HTTP requests answered, by app, route (the configured route or the router's pattern), method and status.",
    ["app", "route", "method", "status"],
  );
  const requestSeconds = new HistogramFamily(registry, "restitch_http_request_duration_seconds", "Time from request start to response, by app, route and method.", ["app", "route", "method"]);
  const runs = new CountFamily(
    registry,
    "restitch_function_runs_total",
    "Function runs, by app, function and outcome (ok, or the error kind: threw, timeout, cpu, memory, …).",
    ["app", "function", "outcome"],
  );
  const runSeconds = new HistogramFamily(registry, "restitch_function_run_duration_seconds", "Wall-clock time of function runs, by app and function.", ["app", "function"]);
  const cpuSeconds = new CountFamily(registry, "restitch_function_cpu_seconds_total", "Isolate CPU time used by function runs, by app and function.", ["app", "function"]);
  const limitHits = new CountFamily(
    registry,
    "restitch_limit_hits_total",
    "Limits hit, by app and kind (timeout, cpu, memory, host-calls, result-size, overloaded, console-bytes, request-body, request-headers).",
    ["app", "kind"],
  );

  const registers = [registry];
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
  poolGauge("restitch_pool_heap_bytes", "Memory the app's isolates hold: their V8 heaps (committed) and ArrayBuffers.", (s) => s.heapBytes);

  return {
    registry,
    record(e) {
      const app = e.appId;
      if (e.kind !== "function") {
        const status = String(e.status);
        requests.add(1, app, e.route, e.method, status);
        requestSeconds.observe(e.ms / 1000, app, e.route, e.method);
        const edge = e.errorCode === undefined ? undefined : EDGE_LIMITS[e.errorCode];
        if (edge) limitHits.add(1, app, edge);
      }
      // A run happened when the record carries its CPU time (a refused request has none).
      if (e.cpuMs === undefined) return;
      const fn = e.functionName ?? "";
      const error = e.error?.kind;
      runs.add(1, app, fn, error ?? "ok");
      runSeconds.observe((e.runMs ?? e.ms) / 1000, app, fn);
      if (e.cpuMs > 0) cpuSeconds.add(e.cpuMs / 1000, app, fn);
      if (error !== undefined && LIMIT_KINDS.has(error)) limitHits.add(1, app, error);
      if (e.logsDropped > 0) limitHits.add(1, app, "console-bytes");
    },
    watchPool(appId, stats) {
      pools.set(appId, stats);
    },
  };
}

// ---- per-request families ---------------------------------------------------------------------------
// prom-client's Counter and Histogram validate and hash their label object and allocate on every
// observation (~2 µs per request for the five series a request touches). These keep plain numbers
// under a key built from the label values, and give prom-client its JSON form only when scraped, so
// the registry still formats, merges and aggregates them like its own.

const SEP = "\u0001";

interface MetricValue {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

abstract class Family<S extends { labels: Record<string, string> }> {
  readonly aggregator = "sum";
  protected readonly series = new Map<string, S>();
  constructor(
    registry: Registry,
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly string[],
  ) {
    registry.registerMetric(this as unknown as Parameters<Registry["registerMetric"]>[0]);
  }
  abstract readonly type: "counter" | "histogram";
  protected abstract fresh(labels: Record<string, string>): S;
  protected abstract values(s: S): MetricValue[];

  protected at(values: string[]): S {
    const key = values.join(SEP);
    let s = this.series.get(key);
    if (!s) {
      const labels: Record<string, string> = {};
      this.labelNames.forEach((n, i) => (labels[n] = values[i]!));
      s = this.fresh(labels);
      this.series.set(key, s);
    }
    return s;
  }

  async get() {
    const values: MetricValue[] = [];
    for (const s of this.series.values()) values.push(...this.values(s));
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  reset(): void {
    this.series.clear();
  }
}

class CountFamily extends Family<{ labels: Record<string, string>; value: number }> {
  readonly type = "counter";
  add(by: number, ...labelValues: string[]): void {
    this.at(labelValues).value += by;
  }
  protected fresh(labels: Record<string, string>) {
    return { labels, value: 0 };
  }
  protected values(s: { labels: Record<string, string>; value: number }): MetricValue[] {
    return [{ labels: s.labels, value: s.value }];
  }
}

interface HistogramSeries {
  labels: Record<string, string>;
  /** Observations per bucket (not cumulative); the last slot is beyond the largest bound. */
  counts: number[];
  sum: number;
  count: number;
}

class HistogramFamily extends Family<HistogramSeries> {
  readonly type = "histogram";
  observe(value: number, ...labelValues: string[]): void {
    const s = this.at(labelValues);
    let i = 0;
    while (i < DURATION_BUCKETS.length && value > DURATION_BUCKETS[i]!) i++;
    s.counts[i]!++;
    s.sum += value;
    s.count++;
  }
  protected fresh(labels: Record<string, string>): HistogramSeries {
    return { labels, counts: new Array<number>(DURATION_BUCKETS.length + 1).fill(0), sum: 0, count: 0 };
  }
  protected values(s: HistogramSeries): MetricValue[] {
    const out: MetricValue[] = [];
    let cumulative = 0;
    DURATION_BUCKETS.forEach((le, i) => {
      cumulative += s.counts[i]!;
      out.push({ labels: { le, ...s.labels }, value: cumulative, metricName: `${this.name}_bucket` });
    });
    out.push({ labels: { le: "+Inf", ...s.labels }, value: s.count, metricName: `${this.name}_bucket` });
    out.push({ labels: s.labels, value: s.sum, metricName: `${this.name}_sum` });
    out.push({ labels: s.labels, value: s.count, metricName: `${this.name}_count` });
    return out;
  }
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
  const hangs = new Counter({
    name: "restitch_worker_hangs_total",
    help: "Workers killed by the watchdog because their event loop was held longer than RESTITCH_WORKER_HANG_MS (also counted as restarts).",
    registers,
  });
  const quarantined = new Gauge({
    name: "restitch_quarantined_apps",
    help: "Apps served by the low-priority quarantine worker because their calls hit limits or took the CPU from lighter apps (docs/security.md).",
    registers,
  });
  // Present from the start (at 0), so a dashboard can tell "none yet" from "not reported".
  for (const cause of ["calls", "memory"]) recycles.inc({ cause }, 0);
  quarantined.set(0);
  return {
    registry,
    onEvent(e) {
      if (e.type === "exit" && !e.expected) restarts.inc();
      else if (e.type === "recycle") recycles.inc({ cause: e.cause });
      else if (e.type === "hung") hangs.inc();
      else if (e.type === "quarantine") quarantined.set(e.keys.length);
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
