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
 *
 * Quarantine (SuperviseOptions.quarantine): tenants that misbehave (hit limits, take the CPU from lighter
 * ones) are served by a worker of their own at the lowest CPU priority, so their slices and garbage
 * collections stop stalling the event loop that answers everyone else. Workers ask for such keys (apps,
 * askQuarantine); while any is quarantined, the supervisor reads each new connection's request line to
 * choose its worker, and a worker closes a keep-alive connection after answering a request that belongs
 * in the other kind of worker, so the client's next connection is placed anew. A quarantined key's
 * connections wait while its worker boots or is replaced (up to QuarantineOptions.waitMs): killing or
 * crashing that worker must not bring a tenant back next to the others.
 */
import { fork, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { niceEveryThread } from "./thread-priority.js";
import { flagName, processNodeFlags } from "./node-flags.js";
import net from "node:net";
import { setPriority } from "node:os";
import type { Readable, Writable } from "node:stream";

export interface SuperviseOptions {
  /** Worker processes to keep running. */
  workers: number;
  port: number;
  host: string;
  /** Recycle a worker whose resident memory exceeds this (MB). */
  maxRssMb?: number;
  /**
   * Node and V8 flags for the workers, beyond the supervisor's own execArgv (which they inherit). A flag
   * the supervisor was started with (command line or NODE_OPTIONS) wins over the same flag here.
   */
  workerExecArgv?: string[];
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
  /** Serve misbehaving tenants from a low-priority worker of their own (see above). */
  quarantine?: QuarantineOptions;
}

export interface QuarantineOptions {
  /** The key (e.g. app id) of a connection's first request, from its request line ("GET /app/x/… HTTP/1.1"); undefined: any worker. */
  keyOf: (requestLine: string) => string | undefined;
  /** A key stays quarantined this long after a worker last asked for it (ms). Default 5 minutes. */
  holdMs?: number;
  /** Nice value (Linux) of every thread of the quarantine worker. Default 19, the lowest priority. */
  nice?: number;
  /**
   * How long a quarantined key's new connection waits for the quarantine worker while it boots or is
   * replaced (ms); then it is answered 503 and closed. Default 30 s (it booted in 10 s at nice 19 under attack).
   */
  waitMs?: number;
}

export type SupervisorEvent =
  | { type: "ready"; pid: number; role: Role }
  | { type: "exit"; pid: number; code: number | null; signal: string | null; expected: boolean }
  | { type: "recycle"; pid: number; reason: string; cause: "calls" | "memory" }
  | { type: "hung"; pid: number; silentMs: number }
  | { type: "restart-delayed"; ms: number }
  | { type: "quarantine"; keys: string[] };

export interface Supervisor {
  /** Where the supervisor listens. */
  address: { host: string; port: number };
  /** Resolves when the initial workers are ready (connections wait until then). */
  ready: Promise<void>;
  /** Pids of the workers that are ready (the quarantine worker's too, while it runs). */
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
/** Set to "quarantine" for the quarantine worker, with its nice value in QUARANTINE_NICE_ENV. */
const ROLE_ENV = "RESTITCH_WORKER_ROLE";
const QUARANTINE_NICE_ENV = "RESTITCH_QUARANTINE_NICE";
/** Nice value a quarantine worker boots at (see bootNice): that of tenants' threads in the normal workers. */
const BOOT_NICE = 10;
type Role = "normal" | "quarantine";
/** The supervision protocol is strings (and the report messages below); other object messages belong to the application (send / onMessage). */
const MSG = { ready: "restitch:ready", recycleMe: "restitch:recycle-me", drain: "restitch:drain", connection: "restitch:connection", alive: "restitch:alive" } as const;
/** How often a worker's event loop says it is alive (one tiny IPC message; the watchdog's resolution). */
const HEARTBEAT_MS = 500;

/** Quarantine messages: a worker asks for a key; the supervisor tells every worker the keys in force. */
interface QuarantineAsk {
  type: "restitch:quarantine-key";
  key: string;
}
interface QuarantineMessage {
  type: "restitch:quarantine";
  keys: string[];
}
/** A connection handed over with the bytes the supervisor read to place it (base64). */
interface ConnectionMessage {
  type: "restitch:connection";
  head: string;
}
const isTyped = <T extends { type: string }>(m: unknown, type: T["type"]): m is T => typeof m === "object" && m !== null && (m as T).type === type;
/** Longest request-line read to place a connection; a client slower than this goes to any worker. */
const PEEK_TIMEOUT_MS = 1_000;
const PEEK_MAX_BYTES = 8_192;
/** A worker asks for the same key at most this often (ms). */
const QUARANTINE_ASK_EVERY_MS = 1_000;

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
    workerExecArgv = [],
    checkIntervalMs = 2_000,
    drainTimeoutMs = 30_000,
    hangTimeoutMs = 15_000,
    maxWaitingConnections = 1_024,
    onEvent = () => {},
    combineReports = (reports: unknown[]) => reports,
    reportTimeoutMs = 2_000,
    onMessage,
    quarantine,
  } = options;
  const ownFlags = new Set(processNodeFlags().map(flagName));
  const extraExecArgv = workerExecArgv.filter((a) => !ownFlags.has(flagName(a)));
  const ready: ChildProcess[] = [];
  const all = new Set<ChildProcess>();
  const roles = new Map<ChildProcess, Role>();
  const leaving = new Set<ChildProcess>(); // asked to stop: no new connections, exit is expected
  const lastHeard = new Map<ChildProcess, number>(); // a ready worker's last message (heartbeat or other)
  // Connections waiting for a worker: any, or (with `expires`) a quarantine worker (QuarantineOptions.waitMs).
  const waiting: { socket: net.Socket; head: Buffer | undefined; expires?: NodeJS.Timeout }[] = [];
  let next = 0;
  let stopping = false;
  let recentCrashes: number[] = [];
  let allReady: () => void = () => {};
  const initialReady = new Promise<void>((r) => (allReady = r));
  // Quarantined keys, each until when (Date.now()); the keys last told to the workers.
  const quarantined = new Map<string, number>();
  let published: string[] = [];

  const roleOf = (w: ChildProcess): Role => roles.get(w) ?? "normal";
  const live = (role: Role) => ready.filter((w) => roleOf(w) === role && !leaving.has(w) && w.connected);
  const running = (role: Role) => [...all].filter((w) => roleOf(w) === role && !leaving.has(w)).length;

  /** Hands the socket (and the bytes read from it, if any) to a worker of `role`, or waits for one. */
  const handOver = (socket: net.Socket, role: Role, head: Buffer | undefined) => {
    if (socket.destroyed) return;
    const candidates = live(role);
    if (candidates.length === 0) {
      if (waiting.length >= maxWaitingConnections) socket.destroy();
      else if (role === "normal") waiting.push({ socket, head });
      else {
        const entry = { socket, head, expires: setTimeout(() => giveUp(entry), quarantineWaitMs) };
        waiting.push(entry);
      }
      return;
    }
    const w = candidates[next++ % candidates.length]!;
    const message = head ? ({ type: "restitch:connection", head: head.toString("base64") } satisfies ConnectionMessage) : MSG.connection;
    w.send(message, socket, (err) => {
      if (err) socket.destroy();
    });
  };

  /** A quarantined key's connection waited too long for its worker: a clear 503, not a hang. */
  const giveUp = (entry: (typeof waiting)[number]) => {
    const i = waiting.indexOf(entry);
    if (i < 0) return;
    waiting.splice(i, 1);
    const { socket } = entry;
    if (socket.destroyed) return;
    const body = JSON.stringify({ error: "this app's worker is starting; try again shortly", error_code: "ServiceUnavailable" });
    socket.end(`HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nRetry-After: 5\r\nConnection: close\r\n\r\n${body}`);
    // Its reading was stopped to hand it over, so the client's close would go unseen: let it read the
    // answer, then close (closing at once, with the rest of a request unread, would reset the connection).
    setTimeout(() => socket.destroy(), 1_000).unref();
  };
  /**
   * Places waiting connections again (a worker became ready, or the quarantined keys changed). One that
   * still waits for a quarantine worker keeps its place and its deadline.
   */
  const placeWaiting = () => {
    for (const entry of waiting.splice(0)) {
      const role = roleFor(entry.head);
      if (role === "quarantine" && entry.expires && live(role).length === 0) waiting.push(entry);
      else {
        clearTimeout(entry.expires);
        handOver(entry.socket, role, entry.head);
      }
    }
  };

  /** The role whose worker should serve a connection opening with these bytes. */
  const roleFor = (head: Buffer | undefined): Role => {
    if (!quarantine || !head || published.length === 0) return "normal";
    const end = head.indexOf(10);
    const line = head.toString("latin1", 0, end < 0 ? head.length : end).trimEnd();
    let key: string | undefined;
    try {
      key = quarantine.keyOf(line);
    } catch {
      key = undefined;
    }
    return key !== undefined && published.includes(key) ? "quarantine" : "normal";
  };

  const dispatch = (socket: net.Socket) => {
    // Only while some key is quarantined (and its worker runs) does a connection's first line matter.
    if (!quarantine || published.length === 0) return handOver(socket, "normal", undefined);
    readRequestLine(socket, (head) => handOver(socket, roleFor(head), head));
  };

  /**
   * Tells every worker the keys in force, from the moment they are quarantined: a quarantine worker is
   * then running or about to run (quarantineAsked, onExit), and their connections wait for it.
   */
  const publish = () => {
    const keys = [...quarantined.keys()].sort();
    if (keys.join("\n") === published.join("\n")) return;
    published = keys;
    onEvent({ type: "quarantine", keys });
    for (const w of ready) tellQuarantine(w);
    placeWaiting(); // a released key's waiting connections go to the normal workers
  };
  const tellQuarantine = (w: ChildProcess) => {
    if (w.connected) w.send({ type: "restitch:quarantine", keys: published } satisfies QuarantineMessage, undefined, {}, () => {});
  };

  const holdMs = quarantine?.holdMs ?? 300_000;
  const quarantineNice = quarantine?.nice ?? 19;
  const quarantineWaitMs = quarantine?.waitMs ?? 30_000;
  const quarantineAsked = (key: string) => {
    if (!quarantine || stopping) return;
    quarantined.set(key, Date.now() + holdMs);
    if (running("quarantine") === 0) spawnWorker("quarantine");
    publish();
  };

  const releaser = quarantine
    ? setInterval(() => {
        const now = Date.now();
        for (const [key, until] of quarantined) if (until <= now) quarantined.delete(key);
        publish();
        if (quarantined.size > 0) return;
        // Nobody left in quarantine: its worker drains (its keep-alive connections close after their answers).
        for (const w of all) if (roleOf(w) === "quarantine" && !leaving.has(w)) drain(w);
      }, Math.max(10, Math.min(5_000, holdMs / 4)))
    : undefined;
  releaser?.unref();

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

  /**
   * A quarantine worker boots at nice 10 (or its own value, if lower), and goes to its nice value once it
   * runs (attachWorker). Its boot, about a second of CPU on both cores, took the cores from the normal
   * workers as an attack began (hostile test, first contact: normal p99 57-107 ms; booting at nice 10,
   * 18-42 ms). At nice 19 from the start it waited behind tenants' nice-10 threads and was ready 10 s
   * later instead of 3; quarantined apps' connections wait for it meanwhile.
   */
  const bootNice = (w: ChildProcess) => {
    try {
      if (w.pid !== undefined) setPriority(w.pid, Math.min(BOOT_NICE, quarantineNice));
    } catch {
      // not permitted (or already gone): it lowers itself once it runs
    }
  };

  const spawnWorker = (role: Role): ChildProcess => {
    const env: NodeJS.ProcessEnv = { ...process.env, [WORKER_ENV]: "1", [ROLE_ENV]: role };
    if (role === "quarantine") env[QUARANTINE_NICE_ENV] = String(quarantineNice);
    // Workers' stdout comes through the supervisor a whole line at a time: several processes writing
    // log records straight to one pipe could interleave a long record with another's.
    const w = fork(process.argv[1]!, process.argv.slice(2), { execArgv: [...process.execArgv, ...extraExecArgv], env, stdio: ["inherit", "pipe", "inherit", "ipc"] });
    forwardLines(w.stdout!, process.stdout);
    if (role === "quarantine") bootNice(w);
    all.add(w);
    roles.set(w, role);
    w.on("message", (m) => {
      if (lastHeard.has(w) || m === MSG.ready) lastHeard.set(w, Date.now());
      if (m === MSG.alive) return;
      if (m === MSG.ready) {
        ready.push(w);
        onEvent({ type: "ready", pid: w.pid ?? 0, role: roleOf(w) });
        if (live("normal").length >= target) allReady();
        if (published.length > 0) tellQuarantine(w);
        placeWaiting();
      } else if (m === MSG.recycleMe) recycle(w, "served its call budget", "calls");
      else if (isTyped<QuarantineAsk>(m, "restitch:quarantine-key")) quarantineAsked(String(m.key));
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
    roles.delete(w);
    lastHeard.delete(w);
    const i = ready.indexOf(w);
    if (i >= 0) ready.splice(i, 1);
  };

  const onExit = (w: ChildProcess, code: number | null, signal: string | null) => {
    const expected = leaving.delete(w);
    const role = roleOf(w);
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
      if (stopping) return;
      if (role === "normal" ? running("normal") < target : quarantined.size > 0 && running("quarantine") === 0) spawnWorker(role);
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
    const replacement = spawnWorker(roleOf(w));
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

  for (let i = 0; i < target; i++) spawnWorker("normal");
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
      if (releaser) clearInterval(releaser);
      server.close();
      for (const { socket, expires } of waiting.splice(0)) {
        clearTimeout(expires);
        socket.destroy();
      }
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
  if (workerRole === "quarantine") niceEveryThread(Number(process.env[QUARANTINE_NICE_ENV] ?? 19));
  process.on("message", (m, handle) => {
    const withHead = isTyped<ConnectionMessage>(m, "restitch:connection");
    if ((m === MSG.connection || withHead) && handle instanceof net.Socket) {
      if (draining) handle.destroy();
      else {
        hooks.onConnection(handle);
        // The bytes the supervisor read to place the connection, as if they had just arrived.
        if (withHead) handle.emit("data", Buffer.from(m.head, "base64"));
        handle.resume();
      }
    } else if (isTyped<QuarantineMessage>(m, "restitch:quarantine")) quarantinedKeys = new Set(m.keys);
    else if (m === MSG.drain) stop();
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

const workerRole: Role = process.env[ROLE_ENV] === "quarantine" ? "quarantine" : "normal";
/** In a worker: the keys the quarantine worker serves (SuperviseOptions.quarantine), as last told. */
let quarantinedKeys = new Set<string>();
const quarantineAskedAt = new Map<string, number>();

/**
 * In a worker: this key (app) misbehaves (RuntimeOptions.onLimitHit, onCpuHog); the supervisor
 * quarantines it (if configured) and keeps it there while asks come. One key is asked for at most once
 * a second.
 */
export function askQuarantine(key: string): void {
  if (!isWorkerProcess()) return;
  const now = Date.now();
  if (now - (quarantineAskedAt.get(key) ?? -Infinity) < QUARANTINE_ASK_EVERY_MS) return;
  quarantineAskedAt.set(key, now);
  void send({ type: "restitch:quarantine-key", key } satisfies QuarantineAsk);
}

/**
 * In a worker: whether a request belongs in the other kind of worker (its key quarantined, and this is a
 * normal worker; or released, and this is the quarantine worker). Its connection should close after the
 * answer, so the client's next one is placed by the supervisor. `keyOf` runs only when placement matters
 * (some key is quarantined, or this is the quarantine worker): every request of a worker asks.
 */
export function belongsElsewhere(keyOf: () => string | undefined): boolean {
  if (workerRole === "normal" && quarantinedKeys.size === 0) return false;
  const key = keyOf();
  return key !== undefined && isWorkerProcess() && quarantinedKeys.has(key) !== (workerRole === "quarantine");
}

/**
 * Reads a new connection's first bytes, up to its first line feed (PEEK_MAX_BYTES, PEEK_TIMEOUT_MS at
 * most), and stops reading before `done`, so nothing more is read here that the worker would miss.
 */
function readRequestLine(socket: net.Socket, done: (head: Buffer | undefined) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  const finish = () => {
    clearTimeout(timer);
    socket.off("data", onData);
    socket.off("end", finish);
    socket.off("error", onError);
    socket.on("error", () => socket.destroy()); // until it is handed over
    socket.pause();
    // pause() alone lets the handle go on reading into the stream's buffer, which is lost when the
    // handle is sent: stop libuv reading (what node's http server does before an upgrade).
    (socket as unknown as { _handle?: { readStop?: () => unknown } })._handle?.readStop?.();
    done(size > 0 ? Buffer.concat(chunks) : undefined);
  };
  const onData = (chunk: Buffer) => {
    chunks.push(chunk);
    size += chunk.length;
    if (chunk.includes(10) || size >= PEEK_MAX_BYTES) finish();
  };
  const onError = () => {
    clearTimeout(timer);
    socket.destroy();
  };
  const timer = setTimeout(finish, PEEK_TIMEOUT_MS);
  socket.on("data", onData);
  socket.once("end", finish);
  socket.once("error", onError);
  socket.resume(); // accepted paused (pauseOnConnect): a data listener alone does not start it
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
