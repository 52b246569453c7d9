/**
 * The in-process runtime: a pool of warm isolates per app. Two apps never share an isolate; within an
 * app each isolate runs one call at a time, and every call gets fresh globals (see guest/prelude.ts).
 */
import { Sandbox } from "./sandbox.js";
import { DEFAULT_LIMITS, callError, resolveLimits } from "./limits.js";
import { assertIsolatedVmVersion } from "./version.js";
import { widenTimerSlack } from "./timer-slack.js";
import { HeavyHostWork, HeavyLane } from "./heavy-lane.js";
import { CpuHogs, MISCONDUCT_MEMORY_MS } from "./cpu-hogs.js";
import { availableParallelism } from "node:os";
import type { SliceStart } from "./heavy-lane.js";
import type { AppDefinition, AppRuntime, CallRequest, CallResult, Limits, Runtime, RuntimeOptions } from "./types.js";

export interface PoolSettings {
  maxIsolates: number;
  maxQueue: number;
  warmIsolates: number;
  recycleAfterCalls: number;
  asyncContinuations: boolean;
  threadNice: number;
  timerSlackUs: number;
  heavyThreads: number;
}

export const DEFAULT_POOL: Readonly<PoolSettings> = Object.freeze({
  /** Concurrent calls per app (one isolate each). */
  maxIsolates: 8,
  /** Calls waiting for an isolate before the app answers "overloaded". */
  maxQueue: 1_000,
  /** Isolates created with the app, so its first call does not pay the ~10 ms bootstrap. */
  warmIsolates: 1,
  /**
   * An isolate is replaced after between half and all of this many calls. It holds its garbage until its
   * first full collection, which V8 puts off for hundreds of thousands of small calls (~130 bytes each).
   */
  recycleAfterCalls: 20_000,
  /** Run every continuation on isolated-vm's threads (the event loop is never held; ~5x costlier per await). */
  asyncContinuations: false,
  /**
   * Nice value (Linux) of isolated-vm's threads, where calls that outlive their first slice run: the event
   * loop, which serves every app's quick calls, wins the CPU over them. 0 leaves them at the process's.
   */
  threadNice: 10,
  /**
   * Timer slack (Linux, µs) of the main thread and the threads it starts: isolated-vm's timeout timers
   * then wake their thread once per interval instead of once per call (see timer-slack.ts). 0 leaves it.
   */
  timerSlackUs: 2_000,
  /**
   * Threads the heavy apps of a runtime serving several apps share (see heavy-lane.ts): one fewer than
   * the cores, at least one, so the event loop keeps a core. 0: no lane, a heavy app's calls run as any other's.
   */
  heavyThreads: Math.max(1, availableParallelism() - 1),
});

/**
 * An app is heavy while the long work its calls did lately (ms, see SandboxOptions.onRanLong; a call counts
 * as its longest event, up to this much) adds up to this much...
 */
const HEAVY_EVIDENCE_MS = 50;
/**
 * ...fading with this time constant (ms). One quick call that looks long (a garbage collection of the
 * host during its slice: 11 ms measured under attack) is not enough; a few within seconds are.
 */
const HEAVY_FADE_MS = 10_000;
/**
 * ...and for this long (ms) after a call hit its CPU, memory, result-size or host-call limit or crashed
 * its isolate: no ordinary call does that, and a tenant that does it again and again would otherwise
 * get a first slice on the event loop (20 ms of it) each time its evidence had faded. Likewise after the
 * app was found taking the CPU from lighter apps (cpu-hogs.ts): its quick calls, each on the event loop,
 * are what took it (measured: the normal app's p99 at 30-70 ms for the second before the hog moved out).
 */
const HEAVY_AFTER_MISCONDUCT_MS = MISCONDUCT_MEMORY_MS; // as long as CpuHogs remembers it
/**
 * After a first slice of an app overran its budget using the CPU, the app's calls start off the event
 * loop for this long (ms): a tenant doing that again and again would otherwise take the event loop for a
 * slice (20 ms) each time, as long as it is not heavy (measured: a log-flooding app, its one earlier call
 * 10 s back, took the loop for two 20 ms slices as its next attack began). Unlike heavy apps, its calls
 * do not wait for the heavy lane: a legitimate app with an occasional long call only pays a thread hop.
 */
const START_OFF_LOOP_MS = 60_000;
/** Event-loop time heavy apps' host work may take per turn of the loop (ms). */
const HEAVY_HOST_WORK_MS = 2;

/** Longest first synchronous slice of a call (ms) before it moves to isolated-vm's threads. */
const SYNC_SLICE_MS = 20;
/**
 * An app's calls also start off the event loop until this many of them answered or threw within
 * PROBATION_QUICK_MS of CPU each (counted again after update()). Tenant code is hostile until proven
 * otherwise, and a new app's first call took the loop for a whole slice (measured: nine hostile apps'
 * first calls at once, the normal app's p99 72-287 ms for that second). A legitimate app pays a thread
 * hop on its first calls.
 */
const PROBATION_CALLS = 3;
/** Half the first-slice budget: what counts as a first slice that ran long (Sandbox.firstSlice). */
const PROBATION_QUICK_MS = SYNC_SLICE_MS / 2;
/** An isolate whose heap is fuller than this after a call is replaced before the next one. */
const HEAP_RECYCLE_RATIO = 0.7;
const HEAP_CHECK_EVERY = 16;

export function createRuntime(options: RuntimeOptions = {}): Runtime {
  assertIsolatedVmVersion();
  const base = resolveLimits(DEFAULT_LIMITS, options.limits);
  const pool = { ...DEFAULT_POOL, ...options.pool };
  widenTimerSlack(pool.timerSlackUs);
  const apps = new Set<AppPool>();
  // The lane only matters between tenants: a single app keeps all its threads.
  const heavy: HeavyApps | undefined =
    pool.heavyThreads > 0
      ? { lane: new HeavyLane(pool.heavyThreads), hostWork: new HeavyHostWork(HEAVY_HOST_WORK_MS), active: () => apps.size > 1 }
      : undefined;
  const onCpuHog = options.onCpuHog;
  const appsWithId = (appId: string) => [...apps].filter((app) => app.id === appId);
  // A hog's calls leave the event loop at once (it is heavy), before anyone acts on the report; a
  // suspect's (one window of it) start off the event loop meanwhile.
  const hogs = onCpuHog
    ? new CpuHogs(
        (appId) => {
          for (const app of appsWithId(appId)) app.misbehaved();
          onCpuHog(appId);
        },
        (appId) => {
          for (const app of appsWithId(appId)) app.startOffLoop();
        },
      )
    : undefined;
  let closed = false;
  return {
    app(definition) {
      if (closed) throw new Error("runtime is closed");
      const app = new AppPool(definition, base, pool, options.serviceClients ?? {}, heavy, { onLimitHit: options.onLimitHit, hogs }, () => apps.delete(app));
      apps.add(app);
      return app;
    },
    async close() {
      closed = true;
      await Promise.all([...apps].map((a) => a.close()));
    },
  };
}

/** Who hears of an app's misbehaviour (RuntimeOptions.onLimitHit, onCpuHog). */
interface Watchers {
  onLimitHit: ((appId: string) => void) | undefined;
  hogs: CpuHogs | undefined;
}

/** What a runtime's apps share for their heavy moments (see heavy-lane.ts). */
interface HeavyApps {
  lane: HeavyLane;
  hostWork: HeavyHostWork;
  /** The lane applies while the runtime serves more than one app. */
  active(): boolean;
}

class AppPool implements AppRuntime {
  private definition: AppDefinition;
  private generation = 0;
  private readonly idle: Sandbox[] = [];
  private readonly all = new Map<Sandbox, number>(); // sandbox -> generation
  /** The call count at which each isolate is replaced. */
  private readonly recycleAt = new WeakMap<Sandbox, number>();
  /** Isolates booting (counted against maxIsolates with `all`). */
  private booting = 0;
  /** Warm isolates (pool.warmIsolates) booting since the app was defined or updated; idle once booted. */
  private warm: Promise<Sandbox>[] = [];
  private readonly waiting: ((s: Sandbox | null | Promise<Sandbox>) => void)[] = [];
  private callCount = 0;
  private closed = false;
  /** Set for good once one of this app's continuations ran long (see Sandbox.settle). */
  private asyncContinuations: boolean;
  /** Long work (ms) its calls did lately, as of `evidenceAt`, fading (see HEAVY_EVIDENCE_MS). */
  private evidenceMs = 0;
  private evidenceAt = 0;
  /** Until when (performance.now()) it is heavy for a limit it hit or for taking the CPU. */
  private heavyUntil = 0;
  /** Its calls start off the event loop until then (see START_OFF_LOOP_MS). */
  private offLoopUntil = 0;
  /** Calls of the current definition that used under PROBATION_QUICK_MS of CPU, up to PROBATION_CALLS. */
  private quickCalls = 0;

  constructor(
    definition: AppDefinition,
    private readonly limits: Limits,
    private readonly pool: PoolSettings,
    private readonly serviceClients: Record<string, string>,
    private readonly heavy: HeavyApps | undefined,
    private readonly watchers: Watchers,
    private readonly onClose: () => void,
  ) {
    if (!definition.id) throw new TypeError("AppDefinition.id is required");
    this.definition = definition;
    this.asyncContinuations = pool.asyncContinuations;
    this.warmUp();
  }

  get id(): string {
    return this.definition.id;
  }

  private sandboxOptions(memoryMb: number) {
    return {
      memoryMb,
      serviceClients: this.serviceClients,
      functions: this.definition.functions,
      syncSliceMs: SYNC_SLICE_MS,
      asyncContinuations: () => this.asyncContinuations,
      onLongContinuation: () => {
        this.asyncContinuations = true;
      },
      heavy: () => this.isHeavy(),
      startOffLoop: () => this.startsOffLoop(),
      onOverran: () => this.startOffLoop(),
      onRanLong: (fromMs: number, toMs: number) => this.ranLong(fromMs, toMs),
      enterLane: (start: SliceStart) => {
        const shared = this.shared();
        shared?.lane.enter(this.id, start);
        return shared !== undefined;
      },
      enterHostWork: (work: () => void) => {
        const shared = this.shared();
        shared?.hostWork.enter(this.id, work);
        return shared !== undefined;
      },
      threadNice: this.pool.threadNice,
    };
  }

  /** The lane and host-work turns, while this app shares them with other apps. */
  private shared(): HeavyApps | undefined {
    return this.heavy?.active() ? this.heavy : undefined;
  }

  /** A call of this app ran long (see SandboxOptions.onRanLong). */
  private ranLong(fromMs: number, toMs: number): void {
    if (toMs === Infinity) {
      this.misbehaved();
      this.watchers.hogs?.misbehavedAt(this.id);
      this.watchers.onLimitHit?.(this.id);
    }
    this.evidenceMs = this.evidence() + Math.min(toMs, HEAVY_EVIDENCE_MS) - Math.min(fromMs, HEAVY_EVIDENCE_MS);
    this.evidenceAt = performance.now();
  }

  /** Its calls start on isolated-vm's threads for a while (START_OFF_LOOP_MS), not on the event loop. */
  startOffLoop(): void {
    this.offLoopUntil = performance.now() + START_OFF_LOOP_MS;
  }

  /** A call hit a limit, or CpuHogs found this app taking the CPU from lighter apps: heavy for a while. */
  misbehaved(): void {
    this.heavyUntil = performance.now() + HEAVY_AFTER_MISCONDUCT_MS;
  }

  private evidence(): number {
    return this.evidenceMs === 0 ? 0 : this.evidenceMs * Math.exp(-(performance.now() - this.evidenceAt) / HEAVY_FADE_MS);
  }

  /**
   * Heavy: its slices go through the runtime's heavy lane, its host work waits for turns. While its long
   * work adds up, or it still has slices in the lane (its turn can be minutes away when many apps are heavy).
   */
  private isHeavy(): boolean {
    const shared = this.evidenceMs === 0 && this.heavyUntil === 0 ? undefined : this.shared();
    if (shared === undefined) return false;
    return (this.heavyUntil !== 0 && performance.now() < this.heavyUntil) || this.evidence() >= HEAVY_EVIDENCE_MS || shared.lane.holds(this.id);
  }

  /** What its isolates hold (read when stats are asked for: a few µs per isolate). */
  private heapBytes(): number {
    let sum = 0;
    for (const s of this.all.keys()) sum += s.heapBytes();
    return sum;
  }

  private startsOffLoop(): boolean {
    return this.quickCalls < PROBATION_CALLS || (this.offLoopUntil !== 0 && performance.now() < this.offLoopUntil);
  }

  /** Boots an isolate of the current generation for the pool (off the event loop, see Sandbox.open). */
  private async create(): Promise<Sandbox> {
    const generation = this.generation;
    this.booting++;
    try {
      const s = await Sandbox.open(this.sandboxOptions(this.limits.memoryMb));
      this.all.set(s, generation);
      // Between half and all of recycleAfterCalls, so that isolates started together are not replaced
      // together: their garbage (docs/security.md, "Memory over a long run") then sums to a level, not a sawtooth.
      this.recycleAt.set(s, Math.ceil(this.pool.recycleAfterCalls * (0.5 + Math.random() / 2)));
      return s;
    } finally {
      this.booting--;
    }
  }

  private warmUp(): void {
    for (let i = 0; i < Math.min(this.pool.warmIsolates, this.pool.maxIsolates); i++) this.bootWarm();
  }

  /** Boots an isolate that the next call takes, if none is idle by then. */
  private bootWarm(): void {
    const warm = this.create();
    this.warm.push(warm);
    // Booted and still untaken: an idle isolate like any other (stats count it idle, a call takes it
    // without a promise hop). Taken or dropped meanwhile: no longer listed. A failure reaches the call
    // that takes it.
    warm.then(
      (s) => {
        const i = this.warm.indexOf(warm);
        if (i < 0) return;
        this.warm.splice(i, 1);
        this.idle.push(s);
      },
      () => {},
    );
  }

  private acquire(): Sandbox | Promise<Sandbox | null> | null {
    const s = this.idle.pop();
    if (s) return s;
    const warm = this.warm.shift();
    if (warm) return warm;
    if (this.all.size + this.booting < this.pool.maxIsolates) return this.create();
    if (this.waiting.length >= this.pool.maxQueue) return null;
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(s: Sandbox): void {
    const stale = this.all.get(s) !== this.generation;
    // Heap statistics cost a few microseconds: look every HEAP_CHECK_EVERY calls.
    const heapFull = s.callCount % HEAP_CHECK_EVERY === 0 && s.heapUsedRatio() > HEAP_RECYCLE_RATIO;
    const worn = s.callCount >= (this.recycleAt.get(s) ?? this.pool.recycleAfterCalls) || heapFull;
    const planned = worn && !s.disposed && !stale && !this.closed;
    if (s.disposed || stale || this.closed || worn) {
      s.dispose();
      this.all.delete(s);
      const next = this.waiting.shift();
      if (next) next(this.closed ? null : this.create());
      // A planned replacement boots now, so that no call waits for it.
      else if (planned && this.idle.length === 0 && this.warm.length === 0) this.bootWarm();
      return;
    }
    const next = this.waiting.shift();
    if (next) next(s);
    else this.idle.push(s);
  }

  async call(request: CallRequest): Promise<CallResult> {
    const started = performance.now();
    const fail = (kind: Parameters<typeof callError>[0], message: string): CallResult => ({
      ok: false,
      error: callError(kind, message),
      logs: [],
      logsDropped: 0,
      cpuTimeMs: 0,
      wallTimeMs: performance.now() - started,
      hostCalls: 0,
    });
    if (this.closed) return fail("closed", `app ${this.id} is closed`);
    let limits: Limits;
    try {
      limits = resolveLimits(this.limits, request.limits);
    } catch (e) {
      return fail("threw", (e as Error).message);
    }
    if ((request.functionName === undefined) === (request.source === undefined)) {
      return fail("not-found", "a call names exactly one of functionName or source");
    }
    if (request.functionName !== undefined && !Object.hasOwn(this.definition.functions, request.functionName)) {
      return fail("not-found", `function not found: '${request.functionName}'`);
    }
    this.callCount++;
    // A call that asks for another heap size than the pool's gets an isolate of its own.
    const dedicated = limits.memoryMb !== this.limits.memoryMb;
    let sandbox: Sandbox | null;
    try {
      if (dedicated) sandbox = await Sandbox.open(this.sandboxOptions(limits.memoryMb));
      else {
        const got = this.acquire();
        sandbox = got instanceof Promise ? await got : got;
      }
    } catch (e) {
      // An isolate that cannot even bootstrap (e.g. its heap is too small for the app's functions).
      return fail("crashed", `could not start an isolate: ${(e as Error).message}`);
    }
    if (!sandbox) return fail(this.closed ? "closed" : "overloaded", this.closed ? `app ${this.id} is closed` : `app ${this.id} is overloaded: ${this.pool.maxIsolates} calls running and ${this.pool.maxQueue} waiting`);
    try {
      let target: Parameters<Sandbox["run"]>[0];
      let file: string;
      if (request.source) {
        file = request.source.file ?? "inline.js";
        const compiled = sandbox.inline(request.source.source, file);
        if ("kind" in compiled) return { ...fail(compiled.kind, compiled.message), error: compiled };
        target = compiled;
      } else {
        const name = request.functionName as string;
        const compileError = sandbox.compileErrors.get(name);
        if (compileError) return { ...fail(compileError.kind, compileError.message), error: compileError };
        target = name;
        file = this.definition.functions[name]?.file ?? `${name}.js`;
      }
      const out = sandbox.run(target, file, request.args ?? [], request.bridge ?? {}, limits, request.httpResponse === true);
      const result = out instanceof Promise ? await out : out;
      this.watchers.hogs?.record(this.id, result.cpuTimeMs);
      if (this.quickCalls < PROBATION_CALLS && result.cpuTimeMs < PROBATION_QUICK_MS && (result.ok || result.error?.kind === "threw")) this.quickCalls++;
      return result;
    } finally {
      // Runs before the caller resumes when the call finished synchronously: the next call gets the
      // same warm isolate instead of a new one.
      if (dedicated) sandbox.dispose();
      else this.release(sandbox);
    }
  }

  async ready(): Promise<void> {
    await Promise.allSettled(this.warm);
  }

  update(definition: AppDefinition): void {
    if (definition.id !== this.definition.id) throw new TypeError("update() cannot change the app id");
    this.definition = definition;
    this.generation++;
    this.quickCalls = 0; // new code is on probation again
    for (const s of this.idle.splice(0)) {
      s.dispose();
      this.all.delete(s);
    }
    this.dropWarm();
    this.warmUp();
  }

  /** Warm isolates nobody took (stale, or the app is closing): disposed once booted. */
  private dropWarm(): void {
    for (const warm of this.warm.splice(0)) {
      warm.then(
        (s) => {
          s.dispose();
          this.all.delete(s);
        },
        () => {},
      );
    }
  }

  stats() {
    return {
      isolates: this.all.size,
      busy: this.all.size - this.idle.length,
      queued: this.waiting.length,
      heapBytes: this.heapBytes(),
      calls: this.callCount,
      asyncContinuations: this.asyncContinuations,
      heavy: this.isHeavy(),
      startsOffLoop: this.startsOffLoop(),
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.waiting.splice(0)) w(null);
    for (const s of this.idle.splice(0)) {
      s.dispose();
      this.all.delete(s);
    }
    this.dropWarm();
    this.onClose();
  }
}
