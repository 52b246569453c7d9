/**
 * One isolate: bootstrapped once with the App Services globals and the app's functions, then used for
 * one call at a time. A call starts with a short synchronous slice on the calling thread (the common
 * handler finishes there, at the cost of a few microseconds); if it still waits for host work after
 * that slice, its continuations run asynchronously on isolated-vm's threads so a slow tenant never
 * holds the event loop. A first slice that overruns is abandoned and the call re-run asynchronously:
 * that is safe because host work a slice requests is only started after the slice returns.
 */
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import ivm from "isolated-vm";
import * as BSON from "bson";
import { hostBytes, makeCodec } from "./codec.js";
import { guestPrelude } from "./guest/prelude.js";
import { guestPolyfills } from "./guest/polyfills.js";
import { guestModules } from "./guest/modules.js";
import { CRYPTO_OPS } from "./host-crypto.js";
import { callError } from "./limits.js";
import type { SliceStart } from "./heavy-lane.js";
import { lowerIsolateThreads } from "./thread-priority.js";
import { withIsolateYoungGeneration } from "./young-generation.js";
import type { CallError, CallErrorKind, CallResult, FunctionSource, HostBridge, Limits, RecordedResponse } from "./types.js";

const codec = makeCodec(BSON, hostBytes);
const require = createRequire(import.meta.url);
const BSON_BUNDLE = `globalThis.__restitch_bson = (function () {\n${lazySerializeBuffer(readFileSync(require.resolve("bson").replace(/bson\.cjs$/, "bson.bundle.js"), "utf8"))}\nreturn BSON;\n})();`;

/**
 * The bson library allocates its 17 MB serialization buffer when it loads, in every isolate: 17 MB of
 * each call's memory limit, and 17 MB of resident memory per isolate once malloc serves such blocks from
 * its arenas (after the first one is freed, glibc raises its mmap threshold and zeroes the next ones by
 * hand: +84 MB at isolate replacements, `bench/memory.mjs --recycle 20000`). Few functions call
 * BSON.serialize, so the buffer is allocated at the first call that needs it.
 */
function lazySerializeBuffer(bundle: string): string {
  const edits: [string, string][] = [
    ["let buffer = ByteUtils.allocate(MAXSIZE);", "let buffer = ByteUtils.allocate(0);"],
    [
      "function serializeWithBufferAndIndex(object, finalBuffer, options = {}) {",
      "function serializeWithBufferAndIndex(object, finalBuffer, options = {}) {\n    if (buffer.length < MAXSIZE) buffer = ByteUtils.allocate(MAXSIZE);",
    ],
  ];
  for (const [from, to] of edits) {
    if (bundle.split(from).length !== 2) throw new Error(`bson's bundle changed: cannot find ${JSON.stringify(from)} once (see lazySerializeBuffer)`);
    bundle = bundle.replace(from, to);
  }
  return bundle;
}

/** Wraps a function file so that `exports`, `module`, `context`, … are per-call parameters. */
const WRAPPER_PARAMS = "exports, module, require, context, utils, console, globalThis, global, setTimeout, clearTimeout, setImmediate";
const WRAPPER_HEAD = `(function (${WRAPPER_PARAMS}) {`;
function wrap(source: string): string {
  return `${WRAPPER_HEAD}\n${source}\n;return [exports, module.exports];\n})`;
}

/** Encoded text of objects a host hands in unchanged on every call (context.app, context.environment). */
const stableText = new WeakMap<object, string>();
function encodeStable(value: object): string {
  let text = stableText.get(value);
  if (text === undefined) {
    text = codec.encode(value);
    stableText.set(value, text);
  }
  return text;
}

/** Parsing a function file takes microseconds; this only bounds a pathological one. */
const PARSE_TIMEOUT_MS = 1_000;

/** V8 code cache shared by every isolate of the process, keyed by a hash of the wrapped code. */
const codeCache = new Map<string, ivm.ExternalCopy<ArrayBuffer>>();

function compile(isolate: ivm.Isolate, code: string, filename: string, lineOffset = 0): ivm.Script {
  const key = createHash("sha256").update(filename).update("\0").update(code).digest("base64");
  const cachedData = codeCache.get(key);
  const script = isolate.compileScriptSync(code, { filename, lineOffset, ...(cachedData ? { cachedData } : { produceCachedData: true }) }) as ivm.Script & {
    cachedData?: ivm.ExternalCopy<ArrayBuffer>;
  };
  if (!cachedData && script.cachedData) codeCache.set(key, script.cachedData);
  return script;
}

export interface SandboxOptions {
  memoryMb: number;
  serviceClients: Record<string, string>;
  functions: Record<string, FunctionSource>;
  /** Longest first synchronous slice before the call moves to the asynchronous path (ms). */
  syncSliceMs: number;
  /** Whether continuations (after host answers) run on isolated-vm's threads instead of this one. */
  asyncContinuations: () => boolean;
  /** Told when a synchronous continuation ran longer than LONG_SLICE_MS. */
  onLongContinuation: () => void;
  /** Whether this app's slices go through the heavy lane (it ran long lately, and other apps share the runtime). */
  heavy: () => boolean;
  /** Whether this app's calls start off the event loop (one of its first slices overran lately, onOverran). */
  startOffLoop: () => boolean;
  /** Told when a first slice used the CPU past its budget (the call is re-run off the event loop). */
  onOverran: () => void;
  /**
   * Told when a call of this app ran long: the longest such event of the call so far went from `fromMs`
   * to `toMs` (Infinity for a CPU, memory, result-size or host-call limit, or a crash). Events: a
   * CPU-bound slice or continuation (its CPU ms), the event-loop time its host work took.
   */
  onRanLong: (fromMs: number, toMs: number) => void;
  /** Queues a slice in the heavy lane (see heavy-lane.ts); false when the runtime has no lane to share. */
  enterLane: (start: SliceStart) => boolean;
  /** Queues host work for its app's turn (see HeavyHostWork); false when the runtime has no turns to take. */
  enterHostWork: (work: () => void) => boolean;
  /** Nice value for isolated-vm's threads (0: leave them as they are); see thread-priority.ts. */
  threadNice: number;
}

/** A synchronous continuation longer than this (CPU ms) moves its app's continuations off the event loop. */
export const LONG_SLICE_MS = 20;
/**
 * A slice on isolated-vm's threads that used more CPU than this (ms) counts towards making its app heavy.
 * Well above LONG_SLICE_MS: a quick continuation there can take tens of ms of CPU when its isolate collects garbage.
 */
const HEAVY_SLICE_MS = 100;

interface ActiveCall {
  id: number;
  limits: Limits;
  bridge: HostBridge;
  mode: "sync" | "async";
  queued: [number, string, string][]; // async host ops asked for during a synchronous slice
  /** Host answers waiting for the call's next slice: (reqId, ok, payload) triples, flattened. */
  answers: (number | boolean | string)[];
  /** Event-loop time (ms) the call's continuations and host work took (see heldLoop). */
  loopMs: number;
  pending: number;
  hostCalls: number;
  timers: Set<NodeJS.Timeout>;
  /** A slice of this call is running (host callbacks arrive within it, or are handled after it). */
  inSlice: boolean;
  /** Its code ran long or it held the event loop long (see ranLong, heldLoop): its host work waits for turns, it resumes off the loop. */
  long?: boolean;
  /** Its longest long event so far (ms, see SandboxOptions.onRanLong). */
  longestMs: number;
  /** Unhandled rejections isolated-vm reported during this call's slices. */
  rejections: string[];
  failure?: CallError;
  outcome?: { kind: string; value: string; logs: string; response: string };
  cpuStart: bigint;
  wallStart: number;
  /** Set once the call has outlived its first slice and someone awaits it. */
  finish?: (r: CallResult) => void;
  finished: boolean;
  result?: CallResult;
}

export class Sandbox {
  readonly isolate: ivm.Isolate;
  // Set by boot(), before open() hands the sandbox out.
  private context!: ivm.Context;
  private runRef!: ivm.Reference<(...a: unknown[]) => void>;
  private settleRef!: ivm.Reference<(...a: unknown[]) => void>;
  /** Parses a function file as a function body (V8's Function constructor), running none of it. */
  private parseBodyRef!: ivm.Reference<(body: string) => void>;
  private readonly calls = new Map<number, ActiveCall>();
  /** Functions whose source did not compile, with the error a call to them gets. */
  readonly compileErrors = new Map<string, CallError>();
  private seq = 0;
  /** Calls this isolate has run (the pool recycles it after a budget). */
  callCount = 0;
  disposed = false;

  /**
   * A bootstrapped sandbox. Running the realm's bootstrap scripts (the polyfills, BSON and the prelude: most
   * of the ~10-20 ms an isolate takes to start) happens on isolated-vm's thread, so replacing an isolate that
   * a tenant's limit killed does not hold the event loop; the isolate itself (~1 ms), the compilations (from
   * the code cache) and the app's function files are made on it.
   */
  static async open(options: SandboxOptions): Promise<Sandbox> {
    const s = new Sandbox(options);
    try {
      await s.boot();
    } catch (e) {
      s.dispose();
      throw e;
    }
    return s;
  }

  private constructor(private readonly options: SandboxOptions) {
    this.isolate = withIsolateYoungGeneration(() => new ivm.Isolate({ memoryLimit: options.memoryMb }));
  }

  private async boot(): Promise<void> {
    const { isolate, options } = this;
    // The steps that take microseconds stay synchronous; only running the three bootstrap scripts (the
    // milliseconds) waits for isolated-vm's thread: each await is a thread hop and an event-loop turn.
    const context = (this.context = isolate.createContextSync());
    const g = context.global;
    g.setSync("__restitch_host_sync", new ivm.Callback((id: number, op: string, payload: string) => this.onSync(id, op, payload)));
    g.setSync("__restitch_host_start", new ivm.Callback((id: number, ...starts: unknown[]) => this.onStart(id, starts), { ignored: true }));
    g.setSync("__restitch_host_done", new ivm.Callback((id: number, kind: string, value: string, logs: string, response: string) => this.onDone(id, kind, value, logs, response)));
    const run = (code: string, filename: string) => compile(isolate, code, filename).run(context, { reference: true });
    await run(`(${guestPolyfills.toString()})(__restitch_host_sync)`, "restitch-internal:polyfills");
    await run(BSON_BUNDLE, "restitch-internal:bson");
    const prelude = `(${guestPrelude.toString()})({ sync: __restitch_host_sync, start: __restitch_host_start, done: __restitch_host_done }, __restitch_bson, ${makeCodec.toString()}, ${JSON.stringify(options.serviceClients)}, ${JSON.stringify(`(${guestModules.toString()})`)}, __restitch_bytes)`;
    const entries = (await run(prelude, "restitch-internal:prelude")) as ivm.Reference<Record<string, unknown>>;
    this.runRef = entries.getSync("run", { reference: true }) as ivm.Reference<(...a: unknown[]) => void>;
    this.settleRef = entries.getSync("settle", { reference: true }) as ivm.Reference<(...a: unknown[]) => void>;
    const defineRef = entries.getSync("define", { reference: true }) as ivm.Reference<(...a: unknown[]) => void>;
    this.parseBodyRef = compile(isolate, `(function (body) { Function(${JSON.stringify(WRAPPER_PARAMS)}, body); })`, "restitch-internal:parse").runSync(context, {
      reference: true,
    }) as ivm.Reference<(body: string) => void>;
    for (const [name, fn] of Object.entries(options.functions)) {
      const file = fn.file ?? `${name}.js`;
      const factory = this.compileFunction(fn.source, file);
      if ("kind" in factory) this.compileErrors.set(name, factory);
      else defineRef.applySync(undefined, [name, factory.derefInto(), file]);
    }
  }

  private readonly inlineCache = new Map<string, ivm.Reference<unknown> | CallError>();

  /** An inline source (e.g. run_as_user_id_script_source), compiled once per isolate. */
  inline(source: string, file: string): ivm.Reference<unknown> | CallError {
    const key = `${file}\0${source}`;
    let f = this.inlineCache.get(key);
    if (!f) {
      f = this.compileFunction(source, file);
      if (this.inlineCache.size > 256) this.inlineCache.clear();
      this.inlineCache.set(key, f);
    }
    return f;
  }

  /** Compile a function file into its factory, or the error a call to it reports. */
  compileFunction(source: string, file: string): ivm.Reference<unknown> | CallError {
    try {
      const script = compile(this.isolate, wrap(source), file, -1); // syntax errors with line and column
      // A source that closes the wrapper early (`}); for (;;) {} (function () {`) compiles, and running
      // the script would run its own code outside any call, without a time limit: it must also parse as
      // one function body on its own.
      try {
        this.parseBodyRef.applySync(undefined, [source], { timeout: PARSE_TIMEOUT_MS });
      } catch (e) {
        if ((e as Error).name === "SyntaxError") (e as Error).message += ` [${file}: the source closes its function wrapper]`;
        throw e;
      }
      return script.runSync(this.context, { reference: true }) as ivm.Reference<unknown>;
    } catch (e) {
      const err = e as Error;
      if (err.name === "SyntaxError") return callError("syntax", err.message, { name: "SyntaxError", stack: `SyntaxError: ${err.message}` });
      throw e;
    }
  }

  /** Memory this isolate holds: its V8 heap (committed) and its ArrayBuffers; 0 once disposed. */
  heapBytes(): number {
    if (this.isolate.isDisposed) return 0;
    const s = this.isolate.getHeapStatisticsSync();
    return s.total_heap_size + s.externally_allocated_size;
  }

  heapUsedRatio(): number {
    // isolated-vm disposes an isolate on its own when it runs out of memory, possibly after its call
    // ended: full, then (its statistics would throw).
    if (this.isolate.isDisposed) return Infinity;
    const s = this.isolate.getHeapStatisticsSync();
    return s.used_heap_size / (this.options.memoryMb * 1024 * 1024);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const call of this.calls.values()) this.fail(call, callError("crashed", "the isolate was disposed while the call was running"));
    try {
      this.isolate.dispose();
    } catch {
      // already disposed by isolated-vm (memory limit)
    }
  }

  /**
   * Run one call. `target` is a function name defined in this isolate, or a compiled inline source.
   * A call that finishes in its first, synchronous slice returns its result directly (no promise), so
   * the pool can hand the same warm isolate to the next call at once.
   */
  run(target: string | ivm.Reference<unknown>, file: string, args: unknown[], bridge: HostBridge, limits: Limits, httpResponse: boolean): CallResult | Promise<CallResult> {
    this.callCount++;
    const id = ++this.seq;
    const argsText = codec.encode(args);
    // Context data; the guest decodes it only if the function reads context. app and environment are
    // the same objects call after call, so their text is kept (see HostBridge).
    let meta = `{"checkExecute":${bridge.canExecute !== undefined},"runningAsSystem":${bridge.runningAsSystem === true}`;
    if (bridge.app) meta += `,"app":${encodeStable(bridge.app)}`;
    if (bridge.environment) meta += `,"environment":${encodeStable(bridge.environment)}`;
    if (bridge.user) meta += `,"user":${codec.encode(bridge.user)}`;
    if (bridge.request) meta += `,"request":${codec.encode(bridge.request)}`;
    if (bridge.services) {
      let types = "";
      for (const name in bridge.services) types += `${types ? "," : ""}${JSON.stringify(name)}:${JSON.stringify(bridge.services[name]!.type)}`;
      meta += `,"services":{${types}}`;
    }
    meta += "}";
    const call: ActiveCall = {
      id,
      limits,
      bridge,
      mode: "sync",
      inSlice: true,
      queued: [],
      answers: [],
      loopMs: 0,
      longestMs: 0,
      pending: 0,
      hostCalls: 0,
      timers: new Set(),
      rejections: [],
      cpuStart: this.isolate.cpuTime,
      wallStart: performance.now(),
      finished: false,
    };
    this.calls.set(id, call);
    this.firstSlice(call, () => [
      typeof target === "string" ? target : target.derefInto(),
      id,
      argsText,
      meta,
      file,
      httpResponse,
      limits.maxLogBytes,
      limits.maxResultBytes,
      limits.maxCallDepth,
    ]);
    if (call.finished) return call.result!;
    return new Promise<CallResult>((resolve) => (call.finish = resolve));
  }

  /**
   * One slice on this thread. Host work it asks for is queued (mode "sync") and started by afterSlice.
   * Returns what isolated-vm threw, if anything.
   */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  private syncSlice(call: ActiveCall, ref: ivm.Reference<any>, args: unknown[], timeoutMs: number): { error: unknown } | undefined {
    call.mode = "sync";
    call.inSlice = true;
    try {
      ref.applySync(undefined, args as never[], { timeout: timeoutMs });
      return undefined;
    } catch (error) {
      return { error };
    } finally {
      call.mode = "async";
    }
  }

  /**
   * One slice on isolated-vm's threads; host work it asks for starts at once. A heavy app's slice waits
   * for its turn in the heavy lane first (the call's wall-clock deadline keeps running meanwhile).
   */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  private asyncSlice(call: ActiveCall, ref: ivm.Reference<any>, args: unknown[]): void {
    const start = (): Promise<unknown> => {
      if (call.finished || this.disposed) return Promise.resolve();
      call.inSlice = true;
      lowerIsolateThreads(this.options.threadNice);
      const cpuBefore = this.isolate.cpuTime;
      const ran = () => {
        const usedMs = this.isolate.isDisposed ? 0 : Number(this.isolate.cpuTime - cpuBefore) / 1e6;
        if (usedMs > HEAVY_SLICE_MS) this.ranLong(call, usedMs);
      };
      return ref.apply(undefined, args as never[], { timeout: this.cpuLeft(call) }).then(
        () => {
          ran();
          this.afterSlice(call);
        },
        (err) => {
          ran();
          this.afterFailedSlice(call, err);
        },
      );
    };
    if (!this.options.heavy() || !this.options.enterLane(start)) void start();
  }

  private firstSlice(call: ActiveCall, runArgs: () => unknown[]): void {
    if (this.options.heavy() || this.options.startOffLoop()) {
      // A heavy app does not get the event loop, not even for a first slice; nor does an app whose
      // first slice overran lately (the next would likely take the whole budget again).
      this.armDeadline(call);
      return this.asyncSlice(call, this.runRef, runArgs());
    }
    const failed = this.syncSlice(call, this.runRef, runArgs(), Math.max(1, Math.min(this.options.syncSliceMs, call.limits.cpuTimeMs)));
    const overran = failed !== undefined && this.isTimeout(failed.error);
    if (failed && !overran) {
      if (!this.isTenantRejection(failed.error)) return this.sliceFailed(call, failed.error);
      this.noteRejection(call, failed.error);
    }
    // The wall-clock deadline matters only once the call outlives its first (bounded) slice.
    if (!call.finished && !call.outcome) this.armDeadline(call);
    // A slice that used half its budget ran long, finished or not (a 17 MB result took 15 ms of the loop);
    // an overrun that did not use the CPU (preempted past its deadline) did not.
    const firstMs = this.isolate.isDisposed ? 0 : Number(this.isolate.cpuTime - call.cpuStart) / 1e6;
    if (firstMs >= this.options.syncSliceMs / 2) {
      // Only an overrun re-runs (off the loop); a finished or waiting call stays where it is.
      if (overran) {
        this.ranLong(call, firstMs);
        this.options.onOverran();
      } else this.tellApp(call, firstMs);
    }
    if (overran && !call.finished) {
      // Re-run from scratch on the asynchronous path; nothing the abandoned slice asked for has started.
      call.queued = [];
      call.hostCalls = 0;
      call.failure = undefined;
      call.outcome = undefined;
      return this.asyncSlice(call, this.runRef, runArgs());
    }
    this.afterSlice(call);
  }

  /**
   * The call's code ran long (`ms` of CPU in one slice): its host work waits for turns, it resumes off the
   * event loop, and its app is told (towards becoming heavy). Its later slices stay off the lane until its
   * app is heavy: one long call of a quick app must not queue behind heavy apps' 10 s slices.
   */
  private ranLong(call: ActiveCall, ms: number): void {
    call.long = true;
    this.tellApp(call, ms);
  }

  /** Tells the app when this is the call's longest event so far (a call counts once, as its longest). */
  private tellApp(call: ActiveCall, ms: number): void {
    if (ms <= call.longestMs) return;
    this.options.onRanLong(call.longestMs, ms);
    call.longestMs = ms;
  }

  private armDeadline(call: ActiveCall): void {
    const left = call.limits.wallTimeMs - (performance.now() - call.wallStart);
    call.timers.add(
      setTimeout(() => {
        this.fail(call, callError("timeout", `execution time limit exceeded (${call.limits.wallTimeMs} ms)`));
        this.dispose();
      }, Math.max(0, left)),
    );
  }

  private cpuLeft(call: ActiveCall): number {
    const used = Number(this.isolate.cpuTime - call.cpuStart) / 1e6;
    return Math.max(1, Math.ceil(call.limits.cpuTimeMs - used));
  }

  private isTimeout(e: unknown): boolean {
    return e instanceof Error && /timed out/i.test(e.message);
  }

  /**
   * isolated-vm rethrows a promise rejection that tenant code left unhandled from the slice that
   * caused it. That is the tenant's bug, not a broken isolate: note it in the call's logs and go on.
   */
  private isTenantRejection(e: unknown): boolean {
    return !this.isolate.isDisposed && !this.isTimeout(e) && !(e instanceof Error && /memory limit|disposed/i.test(e.message));
  }

  private noteRejection(call: ActiveCall, e: unknown): void {
    call.rejections.push(`Unhandled promise rejection: ${e instanceof Error ? e.message : String(e)}`);
  }

  private afterFailedSlice(call: ActiveCall, e: unknown): void {
    if (this.isTenantRejection(e)) {
      this.noteRejection(call, e);
      this.afterSlice(call);
    } else this.sliceFailed(call, e);
  }

  private sliceFailed(call: ActiveCall, e: unknown): void {
    if (call.finished) return;
    const message = e instanceof Error ? e.message : String(e);
    if (this.isTimeout(e)) this.fail(call, callError("cpu", `CPU time limit exceeded (${call.limits.cpuTimeMs} ms)`));
    else if (/memory limit/i.test(message) || this.isolate.isDisposed) this.fail(call, callError("memory", `memory limit exceeded (${this.options.memoryMb} MB)`));
    else this.fail(call, callError("crashed", `the isolate failed: ${message}`));
    this.ranLong(call, Infinity);
    this.dispose();
  }

  /** After each slice: finish, fail, or start the host work the slice asked for. */
  private afterSlice(call: ActiveCall): void {
    call.inSlice = false;
    if (call.finished) return;
    const usedMs = Number(this.isolate.cpuTime - call.cpuStart) / 1e6;
    if (call.failure) {
      this.ranLong(call, Infinity); // its host-call limit: a limit hit
      this.fail(call, call.failure);
      this.dispose(); // tenant code may still hold a runaway loop or a swallowed error
      return;
    }
    if (usedMs > call.limits.cpuTimeMs) {
      this.ranLong(call, Infinity);
      this.fail(call, callError("cpu", `CPU time limit exceeded (${call.limits.cpuTimeMs} ms)`));
      this.dispose();
      return;
    }
    if (call.outcome) return this.complete(call, call.outcome);
    const queued = call.queued;
    call.queued = [];
    for (const [req, op, payload] of queued) this.beginOp(call, req, op, payload);
  }

  private complete(call: ActiveCall, o: NonNullable<ActiveCall["outcome"]>): void {
    const kind = o.kind as CallErrorKind | "ok";
    const { logs, dropped } = o.logs === "" ? { logs: [], dropped: 0 } : (JSON.parse(o.logs) as { logs: string[]; dropped: number });
    const result = this.baseResult(call, call.rejections.length ? [...logs, ...call.rejections] : logs, dropped);
    if (o.response) result.response = decodeResponse(o.response);
    if (kind === "ok") {
      // Never throws: the codec keeps a plain object that only looks tagged ({$oid: "zz"}) as it is.
      result.ok = true;
      result.value = codec.decode(o.value);
    } else {
      const info = JSON.parse(o.value) as { name: string; message: string; stack?: string };
      result.error = callError(kind, info.message, info);
      // A limit hit, like CPU and memory: quick to fail here, but no ordinary call returns that much.
      if (kind === "result-size" || kind === "host-calls") this.ranLong(call, Infinity);
    }
    this.end(call, result);
  }

  private baseResult(call: ActiveCall, logs: string[] = [], dropped = 0): CallResult {
    return {
      ok: false,
      logs,
      logsDropped: dropped,
      cpuTimeMs: this.isolate.isDisposed ? 0 : Number(this.isolate.cpuTime - call.cpuStart) / 1e6,
      wallTimeMs: performance.now() - call.wallStart,
      hostCalls: call.hostCalls,
    };
  }

  private fail(call: ActiveCall, error: CallError): void {
    if (call.finished) return;
    const result = this.baseResult(call);
    result.error = error;
    this.end(call, result);
  }

  private end(call: ActiveCall, result: CallResult): void {
    call.finished = true;
    call.result = result;
    for (const t of call.timers) clearTimeout(t);
    this.calls.delete(call.id);
    call.finish?.(result);
  }

  // ---- host callbacks (reached by guest code: validate everything) --------------------------------

  private countHostCall(call: ActiveCall): void {
    call.hostCalls++;
    if (call.hostCalls > call.limits.maxHostCalls) {
      call.failure ??= callError("host-calls", `too many host calls (limit ${call.limits.maxHostCalls})`);
      throw new Error("host call limit exceeded");
    }
  }

  private onSync(id: number, op: string, payload: string): string {
    if (id === 0 && op === "random.hex") {
      const n = Number(payload);
      if (!Number.isInteger(n) || n < 0 || n > 65_536) return `0${JSON.stringify({ name: "RangeError", message: "bad byte count" })}`;
      return `1${JSON.stringify(randomBytes(n).toString("hex"))}`;
    }
    const call = this.calls.get(id);
    if (!call || call.finished) return `0${JSON.stringify({ name: "Error", message: "this call has already finished" })}`;
    try {
      this.countHostCall(call);
      const args = codec.decode(payload);
      if (!Array.isArray(args)) throw new TypeError("bad host call");
      return `1${codec.encode(this.syncOp(call, op, args))}`;
    } catch (e) {
      return `0${JSON.stringify(safeError(e))}`;
    }
  }

  private syncOp(call: ActiveCall, op: string, args: unknown[]): unknown {
    const crypto = CRYPTO_OPS[op];
    if (crypto) return crypto(...args);
    if (op === "values.get") {
      if (typeof args[0] !== "string") throw new TypeError("context.values.get: name must be a string");
      return call.bridge.values?.(args[0]);
    }
    if (op === "functions.canExecute") {
      call.bridge.canExecute?.(String(args[0]));
      return null;
    }
    throw new TypeError(`unknown host operation ${JSON.stringify(op)}`);
  }

  /** Host ops a call asked for in one turn of its microtasks: (reqId, op, payload) triples, flattened. */
  private onStart(id: number, starts: unknown[]): void {
    const call = this.calls.get(id);
    if (!call || call.finished) return;
    for (let i = 0; i + 2 < starts.length; i += 3) {
      const req = starts[i];
      const op = starts[i + 1];
      const payload = starts[i + 2];
      if (typeof req !== "number" || typeof op !== "string" || typeof payload !== "string") return;
      try {
        this.countHostCall(call);
        call.pending++;
        if (call.pending > call.limits.maxPendingHostCalls) {
          call.failure ??= callError("host-calls", `exceeded max async work queue size of ${call.limits.maxPendingHostCalls}`);
          throw call.failure;
        }
      } catch {
        // Within a slice, afterSlice reports the failure; a request delivered after its slice ended must.
        if (!call.inSlice) this.afterSlice(call);
        return;
      }
      if (call.mode === "sync") call.queued.push([req, op, payload]);
      else this.beginOp(call, req, op, payload);
    }
  }

  /** Starts a host operation now, or in its app's turn when the app is heavy or the call ran long. */
  private beginOp(call: ActiveCall, req: number, op: string, payload: string): void {
    const inTurn =
      (call.long || this.options.heavy()) &&
      this.options.enterHostWork(() => {
        if (!call.finished && !this.disposed) this.startOp(call, req, op, payload);
      });
    if (!inTurn) this.startOp(call, req, op, payload);
  }

  private startOp(call: ActiveCall, req: number, op: string, payload: string): void {
    const started = performance.now();
    let work: Promise<unknown>;
    try {
      const args = codec.decode(payload);
      if (!Array.isArray(args)) throw new TypeError("bad host call");
      work = this.asyncOp(call, op, args);
    } catch (e) {
      work = Promise.reject(e);
    }
    this.heldLoop(call, started); // a store's query runs right here, on the event loop
    const failed = (e: unknown) => this.settle(call, req, false, JSON.stringify(safeError(e)));
    work.then((v) => {
      // An answer the codec cannot write is the call's error: a throw here would be an unhandled rejection.
      let text: string;
      try {
        text = codec.encode(v);
      } catch (e) {
        return failed(e);
      }
      this.settle(call, req, true, text);
    }, failed);
  }

  private asyncOp(call: ActiveCall, op: string, args: unknown[]): Promise<unknown> {
    if (op === "service") {
      const [name, method, params] = args;
      const service = typeof name === "string" ? call.bridge.services?.[name] : undefined;
      if (!service) throw new TypeError(`no service named ${JSON.stringify(name)}`);
      if (typeof method !== "string" || !Array.isArray(params)) throw new TypeError("bad service call");
      return service.invoke(method, params);
    }
    if (op === "timer") {
      const wallLeft = call.limits.wallTimeMs - (performance.now() - call.wallStart);
      const ms = Math.max(0, Math.min(Number(args[0]) || 0, wallLeft));
      return new Promise((resolve) => {
        const t = setTimeout(() => {
          call.timers.delete(t);
          resolve(null);
        }, ms);
        call.timers.add(t);
      });
    }
    throw new TypeError(`unknown host operation ${JSON.stringify(op)}`);
  }

  /**
   * A host answer for a call: delivered with every other answer that arrives before the next turn of the
   * event loop, in one slice (a query flood of 500 answers resumes its call once, not 500 times).
   */
  private settle(call: ActiveCall, req: number, ok: boolean, payload: string): void {
    call.pending--;
    if (call.finished || this.disposed) return;
    call.answers.push(req, ok, payload);
    // Through setImmediate, not straight from the answer's promise: a call awaiting host answers that
    // resolve at once would otherwise keep the event loop in microtasks (no I/O, no deadline timer).
    if (call.answers.length === 3) setImmediate(() => this.deliver(call));
  }

  /**
   * Resume a call with its host answers. Synchronously by default: a thread hop through isolated-vm's pool
   * costs ~5x the whole continuation (measured: 77 µs vs 600 µs per awaited service call). A
   * continuation that runs long (LONG_SLICE_MS) tells the pool, which sends that app's later
   * continuations through the pool threads so that one tenant's CPU-bound code cannot keep holding the
   * event loop; the slow one itself still ends within its CPU budget. A call that has held the event
   * loop too long, or a heavy app's, resumes off the event loop as well.
   */
  private deliver(call: ActiveCall): void {
    if (call.finished || this.disposed) return;
    const args = [call.id, ...call.answers];
    call.answers = [];
    if (this.options.asyncContinuations() || call.long || this.options.heavy()) return this.asyncSlice(call, this.settleRef, args);
    const before = this.isolate.cpuTime;
    const wallBefore = performance.now();
    const failed = this.syncSlice(call, this.settleRef, args, this.cpuLeft(call));
    // Checked before a failure is handled: a continuation that ran into its CPU limit is the one that
    // held the event loop longest, and without the switch every later call could do it again.
    const heldMs = this.isolate.isDisposed ? performance.now() - wallBefore : Number(this.isolate.cpuTime - before) / 1e6;
    if (heldMs > LONG_SLICE_MS) {
      this.options.onLongContinuation();
      this.ranLong(call, heldMs);
    } else this.heldLoop(call, wallBefore);
    if (failed) return this.afterFailedSlice(call, failed.error);
    this.afterSlice(call);
  }

  /**
   * Counts event-loop time a call took since `since` (its continuations, the host work it asked for). Past
   * half a first slice of it, its host work waits for turns and it resumes off the loop (a flood of
   * queries that each take microseconds held the loop for seconds), and its app is told how much.
   */
  private heldLoop(call: ActiveCall, since: number): void {
    call.loopMs += performance.now() - since;
    if (call.loopMs < this.options.syncSliceMs / 2) return;
    call.long = true;
    this.tellApp(call, call.loopMs);
  }

  private onDone(id: number, kind: string, value: string, logs: string, response: string): void {
    const call = this.calls.get(id);
    if (!call || call.finished || call.outcome) return;
    call.outcome = { kind, value, logs, response };
  }
}

function decodeResponse(text: string): RecordedResponse {
  const r = JSON.parse(text) as { statusCode: number | null; headers: Record<string, string[]>; body: { text: string } | { base64: string } | null };
  const out: RecordedResponse = { headers: r.headers };
  if (r.statusCode !== null) out.statusCode = r.statusCode;
  if (r.body) out.body = "text" in r.body ? Buffer.from(r.body.text, "utf8") : Buffer.from(r.body.base64, "base64");
  return out;
}

/** What a host error may tell tenant code: its name, message and code, never a host stack. */
function safeError(e: unknown): { name: string; message: string; code?: unknown } {
  if (e instanceof Error) {
    const out: { name: string; message: string; code?: unknown } = { name: e.name, message: e.message };
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" || typeof code === "number") out.code = code;
    return out;
  }
  return { name: "Error", message: String(e) };
}
