/**
 * Crash containment across processes. V8's heap limit is soft: an isolate can still abort the whole
 * process, and native memory creeps over many isolate lifetimes. So a server runs its isolates in
 * worker processes under a supervisor that owns the listening socket, hands each new connection to
 * a worker, restarts a worker that dies and recycles one that has served many calls or grown too
 * large. The socket never closes while a worker restarts (connections wait for the next worker), and
 * a dying worker loses only its own in-flight requests, whose connections close at once.
 *
 * node:cluster was measured first: it closes the shared socket when its last worker dies, so a
 * single-worker service refused connections (and, on port 0, moved to a new port) while restarting.
 */
import { fork, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import net from "node:net";
import type { Readable, Writable } from "node:stream";

export interface SuperviseOptions {
  /** Worker processes to keep running. */
  workers: number;
  port: number;
  host: string;
  /** Recycle a worker whose resident memory exceeds this (MB). */
  maxRssMb?: number;
  /** How often the supervisor checks workers' memory (ms). */
  checkIntervalMs?: number;
  /**
   * A worker whose event loop sends no heartbeat for this long (ms) is killed and replaced: something
   * holds its event loop (a tenant's long synchronous continuation, a runaway query in the embedded
   * store), and every connection it holds is waiting. 0 turns the watchdog off.
   */
  hangTimeoutMs?: number;
  /** How long a stopping worker may drain its in-flight calls before it is killed (ms). */
  drainTimeoutMs?: number;
  /** Connections held while no worker is ready (e.g. during a restart); beyond this they are closed. */
  maxWaitingConnections?: number;
  /** Supervisor events, for logs. */
  onEvent?: (event: SupervisorEvent) => void;
  /**
   * Combines the workers' reports (WorkerHooks.report, one per ready worker that answered in time) into
   * what gather() returns, e.g. every worker's metrics summed into one answer for the whole server.
   * Default: the array of reports.
   */
  combineReports?: (reports: unknown[]) => unknown;
  /** How long gather() waits for a worker's report (ms). */
  reportTimeoutMs?: number;
  /** An application message a worker sent with sendToSupervisor(). */
  onMessage?: (message: object, pid: number) => void;
}

export type SupervisorEvent =
  | { type: "ready"; pid: number }
  | { type: "exit"; pid: number; code: number | null; signal: string | null; expected: boolean }
  | { type: "recycle"; pid: number; reason: string; cause: "calls" | "memory" }
  | { type: "hung"; pid: number; silentMs: number }
  | { type: "restart-delayed"; ms: number };

export interface Supervisor {
  /** Where the supervisor listens. */
  address: { host: string; port: number };
  /** Resolves when the initial workers are ready (connections wait until then). */
  ready: Promise<void>;
  /** Pids of the workers that are ready. */
  pids(): number[];
  /** Ask every ready worker for its report and combine them (SuperviseOptions.combineReports). */
  gather(): Promise<unknown>;
  /** Stop accepting, ask every worker to drain and stop; resolves when all have exited. */
  stop(): Promise<void>;
  /** Sends an application message to one ready worker (its WorkerHooks.onMessage); dropped if it is gone. */
  send(pid: number, message: object): void;
  /** Sends an application message to every ready worker, in order after anything sent to it before. */
  broadcast(message: object): void;
}

const WORKER_ENV = "RESTITCH_WORKER_PROCESS";
/** The supervision protocol is strings (and the report messages below); other object messages belong to the application (send / onMessage). */
const MSG = { ready: "restitch:ready", recycleMe: "restitch:recycle-me", drain: "restitch:drain", connection: "restitch:connection", alive: "restitch:alive" } as const;
/** How often a worker's event loop says it is alive (one tiny IPC message; the watchdog's resolution). */
const HEARTBEAT_MS = 500;

/**
 * Report traffic, one object message per request and answer (never per HTTP request): a worker asks
 * the supervisor to gather, the supervisor asks each worker for its report, and answers the asker.
 */
interface ReportMessage {
  type: "restitch:gather" | "restitch:gathered" | "restitch:report?" | "restitch:report";
  id: number;
  value?: unknown;
  error?: string;
}
const REPORT_TYPES: ReadonlySet<unknown> = new Set(["restitch:gather", "restitch:gathered", "restitch:report?", "restitch:report"]);
const isReportMessage = (m: unknown): m is ReportMessage => typeof m === "object" && m !== null && REPORT_TYPES.has((m as ReportMessage).type);

export function isWorkerProcess(): boolean {
  return process.env[WORKER_ENV] === "1" && typeof process.send === "function";
}

/**
 * In the supervising process: listen, fork the workers (each re-runs this program with the same
 * arguments and execArgv) and keep them running. Resolves once listening; `ready` once the workers are.
 */
export async function superviseWorkers(options: SuperviseOptions): Promise<Supervisor> {
  if (isWorkerProcess()) throw new Error("superviseWorkers() runs in the supervising process only");
  const {
    workers: target,
    maxRssMb,
    checkIntervalMs = 2_000,
    drainTimeoutMs = 30_000,
    hangTimeoutMs = 15_000,
    maxWaitingConnections = 1_024,
    onEvent = () => {},
    combineReports = (reports: unknown[]) => reports,
    reportTimeoutMs = 2_000,
    onMessage,
  } = options;
  const ready: ChildProcess[] = [];
  const all = new Set<ChildProcess>();
  const leaving = new Set<ChildProcess>(); // asked to stop: no new connections, exit is expected
  const lastHeard = new Map<ChildProcess, number>(); // a ready worker's last message (heartbeat or other)
  const waiting: net.Socket[] = [];
  let next = 0;
  let stopping = false;
  let recentCrashes: number[] = [];
  let allReady: () => void = () => {};
  const initialReady = new Promise<void>((r) => (allReady = r));

  const dispatch = (socket: net.Socket) => {
    const live = ready.filter((w) => !leaving.has(w) && w.connected);
    if (live.length === 0) {
      if (waiting.length >= maxWaitingConnections) socket.destroy();
      else waiting.push(socket);
      return;
    }
    const w = live[next++ % live.length]!;
    w.send(MSG.connection, socket, (err) => {
      if (err) socket.destroy();
    });
  };

  const server = net.createServer({ pauseOnConnect: true }, dispatch);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });

  // Reports asked of workers, by request id.
  let nextReport = 0;
  const pendingReports = new Map<number, (value: unknown) => void>();
  const askReport = (w: ChildProcess): Promise<unknown> =>
    new Promise((resolve) => {
      const id = ++nextReport;
      const done = (value: unknown) => {
        clearTimeout(timer);
        pendingReports.delete(id);
        resolve(value);
      };
      // A worker that does not answer in time (busy, dying) is left out rather than holding the answer.
      const timer = setTimeout(() => done(undefined), reportTimeoutMs);
      pendingReports.set(id, done);
      if (!w.connected) return done(undefined);
      w.send({ type: "restitch:report?", id } satisfies ReportMessage, (err) => {
        if (err) done(undefined);
      });
    });
  const gather = async (): Promise<unknown> => {
    const reports = await Promise.all(ready.filter((w) => !leaving.has(w)).map(askReport));
    return combineReports(reports.filter((r) => r !== undefined));
  };

  const spawnWorker = (): ChildProcess => {
    // Workers' stdout comes through the supervisor a whole line at a time: several processes writing
    // log records straight to one pipe could interleave a long record with another's.
    const w = fork(process.argv[1]!, process.argv.slice(2), { execArgv: process.execArgv, env: { ...process.env, [WORKER_ENV]: "1" }, stdio: ["inherit", "pipe", "inherit", "ipc"] });
    forwardLines(w.stdout!, process.stdout);
    all.add(w);
    w.on("message", (m) => {
      if (lastHeard.has(w) || m === MSG.ready) lastHeard.set(w, Date.now());
      if (m === MSG.alive) return;
      if (m === MSG.ready) {
        ready.push(w);
        onEvent({ type: "ready", pid: w.pid ?? 0 });
        if (ready.length >= target) allReady();
        for (const s of waiting.splice(0)) dispatch(s);
      } else if (m === MSG.recycleMe) recycle(w, "served its call budget", "calls");
      else if (isReportMessage(m)) {
        if (m.type === "restitch:report") pendingReports.get(m.id)?.(m.value);
        else if (m.type === "restitch:gather") {
          const answer = (reply: Omit<ReportMessage, "type" | "id">) => {
            if (w.connected) w.send({ type: "restitch:gathered", id: m.id, ...reply } satisfies ReportMessage, () => {});
          };
          gather().then(
            (value) => answer({ value }),
            (e: unknown) => answer({ error: e instanceof Error ? e.message : String(e) }),
          );
        }
      } else if (onMessage && typeof m === "object" && m !== null) onMessage(m, w.pid ?? 0);
    });
    w.on("exit", (code, signal) => onExit(w, code, signal));
    return w;
  };

  const forget = (w: ChildProcess) => {
    all.delete(w);
    lastHeard.delete(w);
    const i = ready.indexOf(w);
    if (i >= 0) ready.splice(i, 1);
  };

  const onExit = (w: ChildProcess, code: number | null, signal: string | null) => {
    const expected = leaving.delete(w);
    forget(w);
    onEvent({ type: "exit", pid: w.pid ?? 0, code, signal, expected });
    if (stopping || expected) return;
    // Unexpected death: restart, backing off if workers keep dying right away.
    const now = Date.now();
    recentCrashes = recentCrashes.filter((t) => now - t < 10_000);
    recentCrashes.push(now);
    const delay = recentCrashes.length > 3 ? Math.min(5_000, 250 * 2 ** (recentCrashes.length - 3)) : 0;
    if (delay) onEvent({ type: "restart-delayed", ms: delay });
    setTimeout(() => {
      if (!stopping && all.size - leaving.size < target) spawnWorker();
    }, delay);
  };

  const drain = (w: ChildProcess) => {
    leaving.add(w);
    if (w.exitCode !== null || w.signalCode !== null) return;
    if (w.connected) w.send(MSG.drain);
    const killer = setTimeout(() => w.kill("SIGKILL"), drainTimeoutMs);
    w.once("exit", () => clearTimeout(killer));
  };

  /** Start a replacement first, then let the old worker drain, so capacity never drops to zero. */
  const recycle = (w: ChildProcess, reason: string, cause: "calls" | "memory") => {
    if (leaving.has(w) || stopping) return;
    onEvent({ type: "recycle", pid: w.pid ?? 0, reason, cause });
    leaving.add(w);
    const replacement = spawnWorker();
    const onReady = (m: unknown) => {
      if (m !== MSG.ready) return;
      replacement.off("message", onReady);
      drain(w);
    };
    replacement.on("message", onReady);
  };

  const monitor =
    maxRssMb === undefined
      ? undefined
      : setInterval(() => {
          for (const w of ready) {
            if (leaving.has(w) || !w.pid) continue;
            const rss = rssMb(w.pid);
            if (rss !== undefined && rss > maxRssMb) recycle(w, `resident memory ${rss.toFixed(0)} MB > ${maxRssMb} MB`, "memory");
          }
        }, checkIntervalMs);

  // The watchdog: a draining worker is covered by drainTimeoutMs instead.
  const watchdog =
    hangTimeoutMs > 0
      ? setInterval(() => {
          const now = Date.now();
          for (const [w, heard] of lastHeard) {
            if (leaving.has(w) || now - heard <= hangTimeoutMs) continue;
            lastHeard.delete(w);
            onEvent({ type: "hung", pid: w.pid ?? 0, silentMs: now - heard });
            w.kill("SIGKILL"); // its exit restarts it like any crash
          }
        }, Math.min(HEARTBEAT_MS, hangTimeoutMs))
      : undefined;

  const post = (w: ChildProcess, message: object) => {
    if (w.connected) w.send(message, undefined, {}, () => {});
  };

  for (let i = 0; i < target; i++) spawnWorker();
  const addr = server.address() as net.AddressInfo;
  return {
    address: { host: addr.address, port: addr.port },
    ready: initialReady,
    pids: () => ready.filter((w) => !leaving.has(w)).map((w) => w.pid ?? 0),
    gather,
    send: (pid, message) => {
      const w = ready.find((r) => r.pid === pid);
      if (w) post(w, message);
    },
    broadcast: (message) => {
      for (const w of ready) post(w, message);
    },
    stop: async () => {
      stopping = true;
      allReady(); // nobody waits for workers that will not come
      if (monitor) clearInterval(monitor);
      if (watchdog) clearInterval(watchdog);
      server.close();
      for (const s of waiting.splice(0)) s.destroy();
      await Promise.all(
        [...all].map(
          (w) =>
            new Promise<void>((resolve) => {
              if (w.exitCode !== null || w.signalCode !== null) return resolve();
              w.once("exit", () => resolve());
              drain(w);
            }),
        ),
      );
    },
  };
}

export interface WorkerHooks {
  /** Serve a connection the supervisor accepted (e.g. `httpServer.emit("connection", socket)`). */
  onConnection: (socket: net.Socket) => void;
  /** Drain in-flight calls and close; the worker exits afterwards. */
  drain: () => Promise<void>;
  /** Ask the supervisor to replace this worker after this many calls. */
  recycleAfterCalls?: number;
  /** This worker's answer when the supervisor gathers reports (e.g. its metrics as JSON). */
  report?: () => unknown;
  /** An application message from the supervisor (Supervisor.send / broadcast). */
  onMessage?: (message: object) => void;
}

/**
 * In a worker process: take connections from the supervisor, answer its drain request, and return a
 * function the server calls once per finished call (it asks for recycling when the budget is spent).
 * Outside a worker it does nothing.
 */
export function attachWorker(hooks: WorkerHooks): () => void {
  if (!isWorkerProcess()) return () => {};
  let draining = false;
  const stop = () => {
    if (draining) return;
    draining = true;
    hooks.drain().finally(() => process.exit(0));
  };
  process.on("message", (m, handle) => {
    if (m === MSG.connection && handle instanceof net.Socket) {
      if (draining) handle.destroy();
      else {
        hooks.onConnection(handle);
        handle.resume();
      }
    } else if (m === MSG.drain) stop();
    else if (isReportMessage(m)) {
      if (m.type === "restitch:gathered") gathering.get(m.id)?.(m);
      else if (m.type === "restitch:report?") {
        const answer = (reply: Omit<ReportMessage, "type" | "id">) => {
          if (process.connected) process.send!({ type: "restitch:report", id: m.id, ...reply } satisfies ReportMessage, undefined, {}, () => {});
        };
        Promise.resolve()
          .then(() => hooks.report?.())
          .then(
            (value) => answer({ value }),
            (e: unknown) => answer({ error: e instanceof Error ? e.message : String(e) }),
          );
      }
    } else if (hooks.onMessage && typeof m === "object" && m !== null) hooks.onMessage(m);
  });
  // If the supervisor dies, do not linger as an orphan.
  process.on("disconnect", stop);
  send(MSG.ready);
  // Heartbeats come from the event loop itself, so they stop exactly when something holds it.
  setInterval(() => send(MSG.alive), HEARTBEAT_MS).unref();
  let calls = 0;
  let asked = false;
  return () => {
    calls++;
    if (!asked && hooks.recycleAfterCalls !== undefined && calls >= hooks.recycleAfterCalls) {
      asked = true;
      send(MSG.recycleMe);
    }
  };
}

const gathering = new Map<number, (reply: ReportMessage) => void>();
let nextGather = 0;

/**
 * In a worker: every worker's report (WorkerHooks.report), combined by the supervisor
 * (SuperviseOptions.combineReports). Rejects outside a worker or when the supervisor does not answer.
 */
export function gatherFromSupervisor(timeoutMs = 5_000): Promise<unknown> {
  if (!isWorkerProcess() || !process.connected) return Promise.reject(new Error("not a supervised worker process"));
  return new Promise((resolve, reject) => {
    const id = ++nextGather;
    const timer = setTimeout(() => {
      gathering.delete(id);
      reject(new Error(`the supervisor did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    gathering.set(id, (reply) => {
      clearTimeout(timer);
      gathering.delete(id);
      if (reply.error !== undefined) reject(new Error(reply.error));
      else resolve(reply.value);
    });
    process.send!({ type: "restitch:gather", id } satisfies ReportMessage, undefined, {}, (err) => {
      if (err) gathering.get(id)?.({ type: "restitch:gathered", id, error: err.message });
    });
  });
}

/** A line longer than this is passed on without waiting for its end. */
const MAX_HELD_LINE_BYTES = 1 << 20;

/** Copies `from` to `to` in whole lines (a partial last line waits for its end), with backpressure. */
function forwardLines(from: Readable, to: Writable): void {
  let held: Buffer | undefined;
  watchBrokenPipe(to);
  const write = (chunk: Buffer) => {
    if (brokenPipes.has(to)) return;
    if (!to.write(chunk)) {
      from.pause();
      to.once("drain", () => from.resume());
    }
  };
  from.on("data", (chunk: Buffer) => {
    const end = chunk.lastIndexOf(10);
    if (end < 0) {
      held = held ? Buffer.concat([held, chunk]) : chunk;
      if (held.length > MAX_HELD_LINE_BYTES) {
        write(held);
        held = undefined;
      }
      return;
    }
    const lines = chunk.subarray(0, end + 1);
    write(held ? Buffer.concat([held, lines]) : lines);
    held = end + 1 < chunk.length ? chunk.subarray(end + 1) : undefined;
  });
  from.on("end", () => {
    if (held) write(held);
    held = undefined;
  });
}

/** Outputs whose reader went away (e.g. `restitch serve | head`): later lines are dropped, not fatal. */
const brokenPipes = new WeakSet<Writable>();
const watchedOutputs = new WeakSet<Writable>();
function watchBrokenPipe(to: Writable): void {
  if (watchedOutputs.has(to)) return;
  watchedOutputs.add(to);
  to.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code !== "EPIPE") throw e;
    brokenPipes.add(to);
  });
}

/** In a worker process: sends an application message to the supervisor (SuperviseOptions.onMessage); resolves once sent. */
export function sendToSupervisor(message: object): Promise<void> {
  return send(message);
}

/** Resolves once the message is handed to the channel; messages to a supervisor already gone are dropped. */
function send(message: string | object): Promise<void> {
  return new Promise((resolve) => {
    if (process.connected) process.send!(message, undefined, {}, () => resolve());
    else resolve();
  });
}

function rssMb(pid: number): number | undefined {
  try {
    const pages = Number(readFileSync(`/proc/${pid}/statm`, "utf8").split(" ")[1]);
    return (pages * 4096) / (1024 * 1024);
  } catch {
    return undefined;
  }
}
