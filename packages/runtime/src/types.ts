/**
 * The public contract of @restitch/runtime. Hosts (the router, other embedders) code against these
 * types only; nothing here knows about HTTP or MongoDB.
 */

/** Per-call limits. Every field has a documented default (see limits.ts) and can be overridden per call. */
export interface Limits {
  /** Wall-clock deadline for the whole call, async work included (ms). */
  wallTimeMs: number;
  /** CPU time the call may burn inside the isolate (ms). */
  cpuTimeMs: number;
  /** Isolate heap limit (MB). Exceeding it ends the call and replaces the isolate. */
  memoryMb: number;
  /** Host calls (services, crypto, values, …) one call may make. */
  maxHostCalls: number;
  /** Host calls one call may have pending at once (App Services: "max async work queue size of 1000"). */
  maxPendingHostCalls: number;
  /** Size of the encoded return value, and of a response body set with setBody (bytes; characters for text). */
  maxResultBytes: number;
  /** Captured console output per call (bytes, after which lines are dropped and counted). */
  maxLogBytes: number;
  /** Nesting depth of context.functions.execute. */
  maxCallDepth: number;
}

/** A function as the app stores it: the source string and the file name used in stack traces. */
export interface FunctionSource {
  source: string;
  /** e.g. "functions/sum.js"; errors and stacks point at this name. Defaults to "<name>.js". */
  file?: string;
}

export interface AppDefinition {
  /** The app id; isolates are never shared between two ids. */
  id: string;
  /** Every function of the app by name (names may contain "/"). context.functions.execute resolves here. */
  functions: Record<string, FunctionSource>;
}

/** A service a call may reach through context.services.get(name). */
export interface ServiceBinding {
  /** Selects the guest-side client registered under RuntimeOptions.serviceClients. */
  type: string;
  /**
   * Called by the guest client; `args` arrive as copies with BSON types intact. The host decides the
   * identity in this closure: nothing the guest sends can change who the call runs as.
   */
  invoke(method: string, args: unknown[]): Promise<unknown>;
}

/** What the host hands one call: everything behind `context`. All optional; absent parts behave as empty. */
export interface HostBridge {
  /** context.app. Treated as immutable: its encoding is cached by object identity. */
  app?: Record<string, unknown>;
  /** context.user (a plain object: {id, type, data, custom_data, identities}). */
  user?: Record<string, unknown>;
  /** context.runningAsSystem() */
  runningAsSystem?: boolean;
  /** context.request (no body). */
  request?: Record<string, unknown>;
  /** context.environment. Treated as immutable: its encoding is cached by object identity. */
  environment?: { tag: string; values: Record<string, unknown> };
  /** context.values.get(name); return undefined for unknown names. */
  values?: (name: string) => unknown;
  /** context.services.get(name); names not listed give undefined. */
  services?: Record<string, ServiceBinding>;
  /**
   * Asked (synchronously) before context.functions.execute(name) runs `name` in the same call (same
   * isolate, same user). Throw to refuse; the thrown message reaches the tenant code. Absent: every function of the app may be executed.
   */
  canExecute?: (name: string) => void;
}

export interface CallRequest {
  /** Run the app function of this name… */
  functionName?: string;
  /** …or this inline source (e.g. run_as_user_id_script_source). Exactly one of the two. */
  source?: FunctionSource;
  /** Arguments; BSON types (ObjectId, Binary, Decimal128, Long, Date, …) arrive as the same types inside. */
  args?: unknown[];
  bridge?: HostBridge;
  limits?: Partial<Limits>;
  /**
   * Pass an App Services HTTP response object as the last argument (endpoints, webhooks). Its recorded
   * state comes back in CallResult.response.
   */
  httpResponse?: boolean;
}

/** What the function did to its response object. */
export interface RecordedResponse {
  statusCode?: number;
  /** Header name as the function wrote it -> values in order (setHeader replaces, addHeader appends). */
  headers: Record<string, string[]>;
  /** Set when setBody was called (strings are stored as their UTF-8 bytes). */
  body?: Uint8Array;
}

export type CallErrorKind =
  | "threw" // the function threw or its promise rejected
  | "syntax" // the source does not compile
  | "no-export" // the source exports no function
  | "not-found" // unknown function name
  | "timeout" // wall-clock deadline
  | "cpu" // CPU budget
  | "memory" // isolate heap limit
  | "host-calls" // too many host calls, or too many pending at once
  | "result-size" // encoded return value too large
  | "unserializable" // return value cannot be represented (function, symbol, cycle, …)
  | "overloaded" // the app's pool and queue are full
  | "crashed" // the isolate or its worker process died
  | "closed"; // the runtime or app was closed

export interface CallError {
  kind: CallErrorKind;
  name: string;
  message: string;
  /** Tenant stack with frames in the function's own file; never host frames. Do not send to HTTP callers. */
  stack?: string;
}

export interface CallResult {
  ok: boolean;
  /** The return value (awaited), BSON types intact. */
  value?: unknown;
  error?: CallError;
  logs: string[];
  /** Lines dropped because maxLogBytes was reached. */
  logsDropped: number;
  cpuTimeMs: number;
  wallTimeMs: number;
  hostCalls: number;
  response?: RecordedResponse;
}

export interface RuntimeOptions {
  /** Defaults for every call of every app (merged over the built-in defaults). */
  limits?: Partial<Limits>;
  /**
   * Guest-side service clients by service type. Each is JavaScript source of a function expression
   * evaluated once per isolate: `(function (invoke, BSON) { return <client object>; })`, where
   * `invoke(method, args)` returns a Promise and reaches ServiceBinding.invoke on the host.
   */
  serviceClients?: Record<string, string>;
  /** Isolates per app (concurrent calls) and the queue beyond them. */
  pool?: {
    maxIsolates?: number;
    maxQueue?: number;
    warmIsolates?: number;
    recycleAfterCalls?: number;
    /**
     * Resume calls after host answers on isolated-vm's threads from the start (default false: on the
     * calling thread, until one of the app's continuations runs longer than 20 ms of CPU).
     */
    asyncContinuations?: boolean;
    /**
     * Nice value (Linux) given to isolated-vm's threads, where calls that outlive their first slice run,
     * so that the event loop wins the CPU over them (default 10; 0 leaves them alone).
     */
    threadNice?: number;
    /**
     * Timer slack (Linux, µs) set on the process's main thread when the runtime is created, so that the
     * timers bounding each call cost one wake-up per interval rather than one per call (default 2000;
     * 0 leaves it). Timers of that thread may then fire up to this late.
     */
    timerSlackUs?: number;
    /**
     * In a runtime serving several apps, an app whose calls ran long lately (CPU-bound slices, long
     * continuations, event-loop time taken by host work: 50 ms of it fading over 10 s; or a CPU,
     * memory, result-size or host-call limit hit in the last 60 s) is heavy: its calls skip the event
     * loop and wait their turn for one of this many threads, shared round-robin by the heavy apps.
     * Default: cores − 1, at least 1. 0 turns the lane off.
     */
    heavyThreads?: number;
  };
  /**
   * Called when a call hits its CPU, memory, result-size or host-call limit or crashes its isolate: no
   * ordinary call does that, unlike running long, which a busy machine can make any call do. A supervisor
   * uses it to move the app's traffic to a quarantine process (SuperviseOptions.quarantine).
   */
  onLimitHit?: (appId: string) => void;
  /**
   * Called when one app takes the CPU from lighter ones with calls that each stay within every limit: in
   * two consecutive 125 ms windows its calls used at least twice what another app with steady traffic (3
   * calls in the window, no limit hit or hogging in the last minute) used, and either 25 % of a core or
   * 10 % and more than all the other apps together (see cpu-hogs.ts). A single busy app, several about
   * equally busy ones, or a busy app next to apps called once or twice is never reported. After the first
   * such window the app's calls start off the event loop; once reported, they run as a heavy app's for a
   * minute (in the heavy lane). A supervisor quarantines it too: at nice 19 it keeps whatever CPU the
   * others leave.
   */
  onCpuHog?: (appId: string) => void;
}

export interface AppRuntime {
  readonly id: string;
  /** Never rejects for tenant faults: those come back as CallResult.error. */
  call(request: CallRequest): Promise<CallResult>;
  /** Replace the app's functions (e.g. after a redeploy); running calls finish on the old code. */
  update(definition: AppDefinition): void;
  /**
   * Resolves once the app's warm isolates (pool.warmIsolates) have booted, off the event loop; a server
   * waits for it before it listens, so its first request does not wait for a boot. Never rejects: a boot
   * that failed is reported to the call that would have used it.
   */
  ready(): Promise<void>;
  /**
   * heavy: the app's slices currently go through the heavy lane (see RuntimeOptions.pool.heavyThreads).
   * startsOffLoop: its calls start on isolated-vm's threads, not the event loop (fewer than three of its
   * calls since it was defined or updated answered within 10 ms of CPU, a first slice of it used the CPU
   * past its 20 ms budget in the last minute, or it was a CPU-hog suspect). heapBytes: what its isolates
   * hold (V8 heaps committed, and ArrayBuffers).
   */
  stats(): { isolates: number; busy: number; queued: number; heapBytes: number; calls: number; asyncContinuations: boolean; heavy: boolean; startsOffLoop: boolean };
  close(): Promise<void>;
}

export interface Runtime {
  app(definition: AppDefinition): AppRuntime;
  close(): Promise<void>;
}
