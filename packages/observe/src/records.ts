/**
 * CallLogEntry (one finished request or function run, from @restitch/router) → the log record: named
 * fields, console output capped, every piece of free text passed through the redactor.
 */
import type { CallLogEntry } from "@restitch/router";
import type { Redactor } from "./redact.js";

/** Console output attached to one record, at most (bytes of text; whole lines, the rest counted). */
export const DEFAULT_MAX_CONSOLE_BYTES = 4096;
/** One console line longer than this is cut (characters). */
const MAX_LINE_CHARS = 1024;

export type RecordLevel = "info" | "warn" | "error";

export interface LogRecord {
  requestId?: string;
  kind: CallLogEntry["kind"];
  app?: string;
  method?: string;
  route?: string;
  path?: string;
  function?: string;
  userId?: string;
  status?: number;
  durationMs: number;
  /** The function run's own wall time, for a request that ran one. */
  runMs?: number;
  cpuMs?: number;
  hostCalls?: number;
  /** The run's console output, redacted and capped. */
  console?: string[];
  /** Console lines not attached (the runtime's own cap plus this record's). */
  consoleDropped?: number;
  error?: { kind: string; name: string; message: string; stack?: string };
  errorCode?: string;
}

/** error for 5xx, warn for other refusals and failed runs, info otherwise. */
export function recordLevel(entry: CallLogEntry): RecordLevel {
  if (entry.status >= 500) return "error";
  if (entry.status >= 400 || entry.error !== undefined) return "warn";
  return "info";
}

/** The human line of a record: "GET /app/x/endpoint/hello 200 1.2ms" or "function checkAccess ok 0.4ms". */
export function recordMessage(entry: CallLogEntry): string {
  const ms = `${round(entry.ms)}ms`;
  if (entry.kind === "function") return `function ${entry.functionName ?? "?"} ${entry.error ? entry.error.kind : "ok"} ${ms}`;
  return `${entry.method} ${entry.path} ${entry.status} ${ms}`;
}

export function logRecord(entry: CallLogEntry, redact: Redactor, maxConsoleBytes = DEFAULT_MAX_CONSOLE_BYTES): LogRecord {
  const r: LogRecord = { kind: entry.kind, durationMs: round(entry.ms) };
  if (entry.requestId) r.requestId = entry.requestId;
  if (entry.appId) r.app = entry.appId;
  if (entry.method) r.method = entry.method;
  if (entry.route) r.route = entry.route;
  if (entry.path) r.path = entry.path.length > MAX_LINE_CHARS ? `${entry.path.slice(0, MAX_LINE_CHARS)}…` : entry.path;
  if (entry.functionName !== undefined) r.function = entry.functionName;
  if (entry.userId !== undefined) r.userId = entry.userId;
  if (entry.kind !== "function") r.status = entry.status;
  if (entry.runMs !== undefined && entry.kind !== "function") r.runMs = round(entry.runMs);
  if (entry.cpuMs !== undefined) r.cpuMs = round(entry.cpuMs);
  if (entry.hostCalls !== undefined) r.hostCalls = entry.hostCalls;
  if (entry.logs.length > 0 || entry.logsDropped > 0) {
    const { lines, dropped } = capConsole(entry.logs, redact, maxConsoleBytes);
    r.console = lines;
    if (dropped + entry.logsDropped > 0) r.consoleDropped = dropped + entry.logsDropped;
  }
  if (entry.error) {
    const e = entry.error;
    r.error = { kind: e.kind, name: e.name, message: redact(e.message) };
    if (e.stack !== undefined) r.error.stack = redact(e.stack);
  }
  if (entry.errorCode !== undefined) r.errorCode = entry.errorCode;
  return r;
}

/** Whole lines (each cut at MAX_LINE_CHARS) until maxBytes; the rest are counted, not attached. */
function capConsole(logs: string[], redact: Redactor, maxBytes: number): { lines: string[]; dropped: number } {
  const lines: string[] = [];
  let bytes = 0;
  for (let i = 0; i < logs.length; i++) {
    let line = redact(logs[i]!);
    if (line.length > MAX_LINE_CHARS) line = `${line.slice(0, MAX_LINE_CHARS)}… (${line.length - MAX_LINE_CHARS} more characters)`;
    bytes += Buffer.byteLength(line);
    if (bytes > maxBytes) return { lines, dropped: logs.length - i };
    lines.push(line);
  }
  return { lines, dropped: 0 };
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
