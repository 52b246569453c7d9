/**
 * The record of one finished request or function run (CallLogEntry), built once per request by the
 * server's outer middleware from what the handler noted while it ran. Plain data: the host's logger,
 * metrics and console read it; nothing here formats or ships it.
 */
import { randomUUID } from "node:crypto";
import type { AppRuntime, CallError, CallRequest, CallResult } from "@restitch/runtime";

/** What a record is about: a request by surface, or a function run that is not a request's own function. */
export type CallKind =
  | "endpoint" // /app/<appId>/endpoint/<route>
  | "webhook" // legacy incoming webhooks
  | "data-api" // Data API v1
  | "http" // every other request (client auth API, unknown paths, …)
  | "function"; // a run outside a request's own function: can_evaluate / rule %function, script auth, auth providers

/** One finished request or function run, for the host's log (tenant stacks go here, never to the caller). */
export interface CallLogEntry {
  kind: CallKind;
  /** The request's X-Request-Id (the caller's when sane, else generated); "" for kind "function". */
  requestId: string;
  /** The app served; "" when the request named no app served here. */
  appId: string;
  /** HTTP method; "" for kind "function". */
  method: string;
  /**
   * The configured route (endpoint route, webhook URL, Data API action path), or the router's pattern for
   * other requests; never the raw URL, so it stays a low-cardinality label. "" for kind "function".
   */
  route: string;
  /** The request path as sent, without the query string (secrets may travel there); "" for kind "function". */
  path: string;
  /** HTTP status sent; 0 for kind "function". */
  status: number;
  /** Wall time (ms): request start to response, or the run. */
  ms: number;
  /** The function that ran (for inline sources such as run_as_user_id_script_source, its file name). */
  functionName?: string;
  /** The user the function ran as; absent when it ran as system or no user was resolved. */
  userId?: string;
  /** Wall time of the function run itself (ms). */
  runMs?: number;
  /** Isolate CPU time of the run (ms). */
  cpuMs?: number;
  /** Host calls (services, crypto, values, …) the run made. */
  hostCalls?: number;
  /** The run's console output (already capped by the runtime's maxLogBytes). */
  logs: string[];
  /** Console lines dropped at the runtime's maxLogBytes. */
  logsDropped: number;
  /** How the function failed (kind names the limit hit, if any). */
  error?: CallError;
  /** The error_code of an error response the router raised itself (e.g. InvalidSignature, RequestTooLarge). */
  errorCode?: string;
}

/** What a handler notes about its request while it runs; the middleware turns it into a CallLogEntry. */
export interface RequestNotes {
  kind: CallKind;
  requestId: string;
  appId: string;
  route: string;
  functionName?: string;
  userId?: string;
  result?: CallResult;
  errorCode?: string;
}

declare module "hono" {
  interface ContextVariableMap {
    restitchRequest: RequestNotes;
  }
}

/** Caller-supplied ids are kept only if they cannot forge log structure or grow without bound. */
const SANE_REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

export function requestIdFrom(header: string | string[] | undefined): string {
  return typeof header === "string" && SANE_REQUEST_ID.test(header) ? header : randomUUID();
}

/** The id of the user a call runs as, or undefined for system. */
export function userIdOf(user: Record<string, unknown> | undefined, runningAsSystem: boolean | undefined): string | undefined {
  if (runningAsSystem || !user) return undefined;
  const id = user.id;
  return typeof id === "string" && id !== "" ? id : undefined;
}

export function requestEntry(notes: RequestNotes, method: string, path: string, status: number, ms: number): CallLogEntry {
  const r = notes.result;
  const entry: CallLogEntry = {
    kind: notes.kind,
    requestId: notes.requestId,
    appId: notes.appId,
    method,
    route: notes.route,
    path,
    status,
    ms,
    logs: [],
    logsDropped: 0,
  };
  if (notes.functionName !== undefined) entry.functionName = notes.functionName;
  if (notes.userId !== undefined) entry.userId = notes.userId;
  if (r) addRun(entry, r);
  if (notes.errorCode !== undefined) entry.errorCode = notes.errorCode;
  return entry;
}

/** What a record says of the function run it covers. */
function addRun(entry: CallLogEntry, r: CallResult): void {
  entry.runMs = r.wallTimeMs;
  entry.cpuMs = r.cpuTimeMs;
  entry.hostCalls = r.hostCalls;
  entry.logs = r.logs;
  entry.logsDropped = r.logsDropped;
  if (r.error) entry.error = r.error;
}

/**
 * The app's runtime with one CallLogEntry (kind "function") per run. The router hands this one to
 * identity resolution, can_evaluate and AppRuntime users outside it (auth providers, rule %function);
 * a request's own function runs on the unwrapped runtime, its run being part of the request's record.
 */
export function recordedRuntime(inner: AppRuntime, appId: string, onCall: (entry: CallLogEntry) => void): AppRuntime {
  return {
    id: inner.id,
    async call(request: CallRequest) {
      const result = await inner.call(request);
      const entry: CallLogEntry = {
        kind: "function",
        requestId: "",
        appId,
        method: "",
        route: "",
        path: "",
        status: 0,
        ms: result.wallTimeMs,
        functionName: request.functionName ?? request.source?.file ?? "<inline source>",
        logs: [],
        logsDropped: 0,
      };
      const userId = userIdOf(request.bridge?.user, request.bridge?.runningAsSystem);
      if (userId !== undefined) entry.userId = userId;
      addRun(entry, result);
      onCall(entry);
      return result;
    },
    update: (definition) => inner.update(definition),
    ready: () => inner.ready(),
    stats: () => inner.stats(),
    close: () => inner.close(),
  };
}
