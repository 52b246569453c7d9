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

export interface SuperviseOptions {
  /** Worker processes to keep running. */
  workers: number;
  port: number;
  host: string;
  /** Recycle a worker whose resident memory exceeds this (MB). */
  maxRssMb?: number;
  /** How often the supervisor checks workers' memory (ms). */
  checkIntervalMs?: number;
  /** How long a stopping worker may drain its in-flight calls before it is killed (ms). */
  drainTimeoutMs?: number;
  /** Connections held while no worker is ready (e.g. during a restart); beyond this they are closed. */
  maxWaitingConnections?: number;
  /** Supervisor events, for logs. */
  onEvent?: (event: SupervisorEvent) => void;
  /** An application message a worker sent with sendToSupervisor(). */
  onMessage?: (message: object, pid: number) => void;
}

export type SupervisorEvent =
  | { type: "ready"; pid: number }
  | { type: "exit"; pid: number; code: number | null; signal: string | null; expected: boolean }
  | { type: "recycle"; pid: number; reason: string }
  | { type: "restart-delayed"; ms: number };

export interface Supervisor {
  /** Where the supervisor listens. */
  address: { host: string; port: number };
  /** Resolves when the initial workers are ready (connections wait until then). */
  ready: Promise<void>;
  /** Pids of the workers that are ready. */
  pids(): number[];
  /** Stop accepting, ask every worker to drain and stop; resolves when all have exited. */
  stop(): Promise<void>;
  /** Sends an application message to one ready worker (its WorkerHooks.onMessage); dropped if it is gone. */
  send(pid: number, message: object): void;
  /** Sends an application message to every ready worker, in order after anything sent to it before. */
  broadcast(message: object): void;
}

const WORKER_ENV = "RESTITCH_WORKER_PROCESS";
/** The supervision protocol is strings; object messages belong to the application (send / onMessage). */
const MSG = { ready: "restitch:ready", recycleMe: "restitch:recycle-me", drain: "restitch:drain", connection: "restitch:connection" } as const;

export function isWorkerProcess(): boolean {
  return process.env[WORKER_ENV] === "1" && typeof process.send === "function";
}

/**
 * In the supervising process: listen, fork the workers (each re-runs this program with the same
 * arguments and execArgv) and keep them running. Resolves once listening; `ready` once the workers are.
 */
export async function superviseWorkers(options: SuperviseOptions): Promise<Supervisor> {
  if (isWorkerProcess()) throw new Error("superviseWorkers() runs in the supervising process only");
  const { workers: target, maxRssMb, checkIntervalMs = 2_000, drainTimeoutMs = 30_000, maxWaitingConnections = 1_024, onEvent = () => {}, onMessage } = options;
  const ready: ChildProcess[] = [];
  const all = new Set<ChildProcess>();
  const leaving = new Set<ChildProcess>(); // asked to stop: no new connections, exit is expected
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

  const spawnWorker = (): ChildProcess => {
    const w = fork(process.argv[1]!, process.argv.slice(2), { execArgv: process.execArgv, env: { ...process.env, [WORKER_ENV]: "1" }, stdio: "inherit" });
    all.add(w);
    w.on("message", (m) => {
      if (m === MSG.ready) {
        ready.push(w);
        onEvent({ type: "ready", pid: w.pid ?? 0 });
        if (ready.length >= target) allReady();
        for (const s of waiting.splice(0)) dispatch(s);
      } else if (m === MSG.recycleMe) recycle(w, "served its call budget");
      else if (onMessage && typeof m === "object" && m !== null) onMessage(m, w.pid ?? 0);
    });
    w.on("exit", (code, signal) => onExit(w, code, signal));
    return w;
  };

  const forget = (w: ChildProcess) => {
    all.delete(w);
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
  const recycle = (w: ChildProcess, reason: string) => {
    if (leaving.has(w) || stopping) return;
    onEvent({ type: "recycle", pid: w.pid ?? 0, reason });
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
            if (rss !== undefined && rss > maxRssMb) recycle(w, `resident memory ${rss.toFixed(0)} MB > ${maxRssMb} MB`);
          }
        }, checkIntervalMs);

  const post = (w: ChildProcess, message: object) => {
    if (w.connected) w.send(message, undefined, {}, () => {});
  };

  for (let i = 0; i < target; i++) spawnWorker();
  const addr = server.address() as net.AddressInfo;
  return {
    address: { host: addr.address, port: addr.port },
    ready: initialReady,
    pids: () => ready.filter((w) => !leaving.has(w)).map((w) => w.pid ?? 0),
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
    else if (hooks.onMessage && typeof m === "object" && m !== null) hooks.onMessage(m);
  });
  // If the supervisor dies, do not linger as an orphan.
  process.on("disconnect", stop);
  send(MSG.ready);
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
