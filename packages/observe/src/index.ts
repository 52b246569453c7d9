export { observe, type ObserveOptions, type Observed } from "./observe.js";
export { createLogger, defaultLogFormat, flushLogger, formatPretty, isLogLevel, LOG_FORMATS, LOG_LEVELS, recordWriter, type LogFormat, type Logger, type LoggerOptions } from "./logger.js";
export { logRecord, recordLevel, recordMessage, DEFAULT_MAX_CONSOLE_BYTES, type LogRecord, type RecordLevel } from "./records.js";
export { createRedactor, REDACTED, type Redactor } from "./redact.js";
export {
  createServerMetrics,
  createSupervisorMetrics,
  METRICS_CONTENT_TYPE,
  type PoolStats,
  type ServerMetrics,
  type ServerMetricsOptions,
  type SupervisorMetrics,
} from "./metrics.js";
export { healthProbes, type ProbeOptions, type Probes, type ReadinessCheck } from "./health.js";
