/**
 * What a server wires in: the onCall callback (records → log and metrics) and the probe handlers
 * (/healthz, /readyz, /metrics), from one set of options.
 */
import type { CallLogEntry } from "@restitch/router";
import { healthProbes, type Probes, type ReadinessCheck } from "./health.js";
import { recordWriter, type Logger } from "./logger.js";
import { createServerMetrics, METRICS_CONTENT_TYPE, type ServerMetrics } from "./metrics.js";
import { createRedactor, type Redactor } from "./redact.js";
import { DEFAULT_MAX_CONSOLE_BYTES, logRecord, recordLevel, recordMessage } from "./records.js";

export interface ObserveOptions {
  /** One record per request and per function run outside a request's own function; absent = no records. */
  logger?: Logger;
  /** Prometheus metrics at GET /metrics. Default: a new registry; false: no metrics. */
  metrics?: ServerMetrics | false;
  /** What GET /metrics answers. Default: this process's registry (a supervised worker asks its supervisor for the whole server's). */
  metricsText?: () => Promise<string>;
  /** Console output attached to one record (bytes); the rest is counted. Default 4096. */
  maxConsoleBytes?: number;
}

export interface Observed {
  onCall: (entry: CallLogEntry) => void;
  metrics: ServerMetrics | undefined;
  redact: Redactor;
  probes(readiness: ReadinessCheck[]): Probes;
}

/** `secrets`: values never to appear in a record (an app's secrets.json values). */
export function observe(options: ObserveOptions, secrets: Iterable<string> = []): Observed {
  const redact = createRedactor(secrets);
  const metrics = options.metrics === false ? undefined : (options.metrics ?? createServerMetrics());
  const { logger } = options;
  const writeRecord = logger ? recordWriter(logger) : undefined;
  const maxConsoleBytes = options.maxConsoleBytes ?? DEFAULT_MAX_CONSOLE_BYTES;
  const metricsText = options.metricsText ?? (metrics ? () => metrics.registry.metrics() : undefined);
  return {
    metrics,
    redact,
    onCall: (entry) => {
      metrics?.record(entry);
      if (!logger || !writeRecord) return;
      const level = recordLevel(entry);
      // Below the logger's level, build nothing.
      if (logger.levels.values[level]! < logger.levelVal) return;
      writeRecord(level, logRecord(entry, redact, maxConsoleBytes), recordMessage(entry));
    },
    probes: (readiness) =>
      healthProbes({
        readiness,
        redact,
        ...(metricsText ? { metrics: metricsText, metricsContentType: METRICS_CONTENT_TYPE } : {}),
      }),
  };
}
