/** `restitch serve`: start, print the URL, and drain in-flight calls on SIGINT/SIGTERM. */
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { AppModel } from "@restitch/config";
import { acceptRuns, CONSOLE_PATH, generateToken, RunLog, runReporter, summarizeCall, supervisorRelay, tokenProblem } from "@restitch/console";
import { createLogger, createServerMetrics, createSupervisorMetrics, defaultLogFormat, flushLogger, isLogLevel, LOG_FORMATS, LOG_LEVELS, type LogFormat, type Logger } from "@restitch/observe";
import { appIdOfTarget } from "@restitch/router";
import { attachWorker, belongsElsewhere, gatherFromSupervisor, isWorkerProcess, askQuarantine, sendToSupervisor, superviseWorkers, type Supervisor } from "@restitch/runtime";
import { intOption, parse, stringOption, UsageError } from "./args.js";
import { loadApps, startServer } from "./server.js";

/** Set by a supervisor for its workers when the data is "in memory": their shared store's directory. */
const EPHEMERAL_DATA_DIR = "RESTITCH_EPHEMERAL_DATA_DIR";
/** Set by a supervisor for its workers, whose stdout is a pipe to it: the log format and colours it chose for its own stdout. */
const WORKER_LOG_FORMAT = "RESTITCH_WORKER_LOG_FORMAT";
const WORKER_LOG_COLORS = "RESTITCH_WORKER_LOG_COLORS";

/** The console token when not given with --console-token (a supervisor sets it for its workers). */
const CONSOLE_TOKEN_ENV = "RESTITCH_CONSOLE_TOKEN";

/** A worker asks to be replaced after this many calls (native memory creeps over isolate lifetimes). */
const RECYCLE_AFTER_CALLS = intEnv("RESTITCH_WORKER_MAX_CALLS", 200_000);
/** A worker above this resident size is replaced by a fresh one. */
const MAX_WORKER_RSS_MB = intEnv("RESTITCH_WORKER_MAX_RSS_MB", 1_024);
/** A worker whose event loop is held this long (ms) is killed and replaced (its in-flight requests fail). */
const WORKER_HANG_MS = intEnv("RESTITCH_WORKER_HANG_MS", 15_000);
/** An app stays in the quarantine worker this long (ms) after its calls last hit a limit or it last took the CPU from lighter apps. */
const QUARANTINE_HOLD_MS = intEnv("RESTITCH_QUARANTINE_HOLD_MS", 300_000);
/** A quarantined app's new connection waits this long (ms) for the quarantine worker while it boots or is replaced; then 503. */
const QUARANTINE_WAIT_MS = intEnv("RESTITCH_QUARANTINE_WAIT_MS", 30_000);
/**
 * A worker's V8 heaps run a full collection once they have grown by this much (%) since the last one,
 * where V8 lets a heap grow up to 4x first: the worker's RSS then stays near what it holds, instead of
 * climbing with garbage for hundreds of thousands of calls (docs/security.md, "Memory over a long run").
 * 0: V8's own growth. A --heap-growing-percent node was started with wins (SuperviseOptions.workerExecArgv).
 */
const WORKER_HEAP_GROWING_PERCENT = intEnv("RESTITCH_WORKER_HEAP_GROWING_PERCENT", 50, 0);

function intEnv(name: string, fallback: number, min = 1): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`environment variable ${name} must be ${min === 0 ? "a non-negative" : "a positive"} integer, got '${raw}'`);
  return n;
}

export async function serve(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {
    port: { type: "string" },
    host: { type: "string" },
    secrets: { type: "string" },
    "mongodb-uri": { type: "string" },
    "data-dir": { type: "string" },
    workers: { type: "string" },
    "log-format": { type: "string" },
    "log-level": { type: "string" },
    console: { type: "boolean" },
    "console-token": { type: "string" },
    quarantine: { type: "string" },
  });
  if (positionals.length === 0) throw new UsageError("serve needs at least one <appDir>");
  const port = intOption(values.port, "port", 0, 65535, 8080);
  const host = stringOption(values.host) ?? "127.0.0.1";
  // --workers 0 serves from this process (no crash containment; for debugging and embedding).
  const workers = intOption(values.workers, "workers", 0, 256, 1);
  const logLevel = stringOption(values["log-level"]) ?? "info";
  if (!isLogLevel(logLevel)) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(", ")} (got '${logLevel}')`);
  const logFormat = logFormatOption(stringOption(values["log-format"]));
  const quarantine = stringOption(values.quarantine) ?? "on";
  if (quarantine !== "on" && quarantine !== "off") throw new UsageError(`--quarantine must be on or off (got '${quarantine}')`);
  const consoleAccess = consoleToken(values);
  if (consoleAccess && !isWorkerProcess()) {
    // Workers re-run these arguments: a generated token reaches them through the environment.
    process.env[CONSOLE_TOKEN_ENV] = consoleAccess.token;
    if (!isLoopback(host)) console.error(`restitch: warning: the console is reachable from the network on ${host}; only its token protects it (see docs/console.md)`);
  }
  if (workers > 0 && !isWorkerProcess()) {
    // Validate once here, so a broken app lists its problems and exits instead of crash-looping workers.
    const apps = await loadApps(positionals, stringOption(values.secrets));
    // Without --data-dir or --mongodb-uri the data must still outlive any one worker (restarts,
    // recycling) and be the same in every worker: they share a store in a directory this process
    // owns, in memory where /dev/shm exists, removed when the server stops.
    const ephemeral = !stringOption(values["data-dir"]) && !stringOption(values["mongodb-uri"]) ? await mkdtemp(path.join(existsSync("/dev/shm") ? "/dev/shm" : tmpdir(), "restitch-data-")) : undefined;
    if (ephemeral) process.env[EPHEMERAL_DATA_DIR] = ephemeral;
    process.env[WORKER_LOG_FORMAT] = logFormat;
    if (process.stdout.isTTY && !process.env.NO_COLOR) process.env[WORKER_LOG_COLORS] = "1";
    try {
      return await supervise(workers, apps, port, host, consoleAccess, quarantine === "on");
    } finally {
      if (ephemeral) await rm(ephemeral, { recursive: true, force: true });
    }
  }
  const worker = isWorkerProcess();
  const quarantining = worker && quarantine === "on";
  const secretsFile = stringOption(values.secrets);
  const mongodbUri = stringOption(values["mongodb-uri"]);
  const dataDir = stringOption(values["data-dir"]) ?? (worker ? process.env[EPHEMERAL_DATA_DIR] : undefined);
  const logger = createLogger({
    format: worker ? (process.env[WORKER_LOG_FORMAT] as LogFormat) : logFormat,
    level: logLevel,
    ...(worker ? { colors: process.env[WORKER_LOG_COLORS] === "1" } : {}),
  });
  const metrics = createServerMetrics();
  // A worker's console reads the runs its supervisor collects from every worker; it reports its own.
  const workerRuns = consoleAccess && worker ? new RunLog() : undefined;
  const reporter = workerRuns ? runReporter(sendToSupervisor) : undefined;
  const running = await startServer({
    appDir: positionals,
    // A worker's connections come from its supervisor; its own listener is a private loopback port.
    port: worker ? 0 : port,
    host: worker ? "127.0.0.1" : host,
    ...(secretsFile ? { secretsFile } : {}),
    ...(mongodbUri ? { mongodbUri } : {}),
    ...(dataDir ? { dataDir } : {}),
    ...(consoleAccess ? { console: { token: consoleAccess.token, server: { workers }, ...(workerRuns ? { runs: workerRuns } : {}) } } : {}),
    // An app whose calls hit limits, or that takes the CPU from the others, moves to the supervisor's quarantine worker.
    ...(quarantining ? { runtime: { onLimitHit: askQuarantine, onCpuHog: askQuarantine } } : {}),
    onCall: (e) => {
      if (e.kind === "function") return; // a run outside a request: logged and counted, not a call
      callDone();
      const run = reporter && summarizeCall(e, process.pid);
      if (run) reporter!.report(run);
    },
    observe: {
      logger,
      metrics,
      // A worker answers /metrics for the whole server: the supervisor sums every worker's registry.
      ...(worker ? { metricsText: async () => String(await gatherFromSupervisor()) } : {}),
    },
  });
  if (quarantining) {
    // A request whose app is served by the other kind of worker closes its connection after the answer:
    // the client's next connection is placed by the supervisor. Asked as the answer starts, not as the
    // request comes: an app quarantined while its call ran leaves with this answer, not after one more
    // call (measured: a log-flooding app's next calls, 200 ms of CPU each, ran here for 0.5 s after its move).
    running.server.prependListener("request", (req, res) => {
      const writeHead = res.writeHead;
      res.writeHead = function (this: typeof res, ...args: Parameters<typeof res.writeHead>) {
        if (belongsElsewhere(() => (req.url === undefined ? undefined : appIdOfTarget(req.url)))) this.shouldKeepAlive = false;
        return writeHead.apply(this, args);
      } as typeof res.writeHead;
    });
  }
  const callDone = attachWorker({
    onConnection: (socket) => running.server.emit("connection", socket),
    // The last calls' runs go to the supervisor before the worker exits (a recycle keeps them).
    drain: () => stopServing(running, logger).finally(() => reporter?.flush()),
    recycleAfterCalls: RECYCLE_AFTER_CALLS,
    report: () => metrics.registry.getMetricsAsJSON(),
    ...(workerRuns ? { onMessage: (m: object) => acceptRuns(workerRuns, m) } : {}),
  });
  if (!worker) {
    console.log(`restitch: ${describeApps(running.apps)} listening on ${running.url}`);
    if (consoleAccess) printConsoleUrl(running.url, consoleAccess);
  }

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        console.error(`restitch: ${signal} again, exiting without draining`);
        process.exit(1);
      }
      stopping = true;
      console.error(`restitch: ${signal}: draining in-flight calls…`);
      stopServing(running, logger).then(
        () => resolve(0),
        (e) => {
          console.error("restitch: error while shutting down:", e);
          resolve(1);
        },
      );
    };
    process.on("SIGINT", () => stop("SIGINT"));
    process.on("SIGTERM", () => stop("SIGTERM"));
  });
}

function logFormatOption(value: string | undefined): LogFormat {
  if (value === undefined) return defaultLogFormat();
  if (!(LOG_FORMATS as readonly string[]).includes(value)) throw new UsageError(`--log-format must be one of ${LOG_FORMATS.join(", ")} (got '${value}')`);
  return value as LogFormat;
}

/** Drain and close the server, then wait for the log records still buffered. */
async function stopServing(running: { close(): Promise<void> }, logger: Logger): Promise<void> {
  try {
    await running.close();
  } finally {
    await flushLogger(logger);
  }
}

/** "app 'a' (2 endpoints)" or "apps 'a' (2 endpoints), 'b' (1 endpoint)". */
function describeApps(apps: AppModel[]): string {
  const one = (app: AppModel) => `'${app.appId}' (${app.endpoints.length} endpoint${app.endpoints.length === 1 ? "" : "s"})`;
  return `app${apps.length === 1 ? "" : "s"} ${apps.map(one).join(", ")}`;
}

/** The primary process: keep `workers` server processes running on one shared socket. */
async function supervise(workers: number, apps: AppModel[], port: number, host: string, consoleAccess: ConsoleAccess | undefined, quarantine: boolean): Promise<number> {
  const metrics = createSupervisorMetrics();
  let supervisor: Supervisor | undefined;
  // With the console on, this process keeps the one log of recent runs the workers show.
  const relay = consoleAccess ? supervisorRelay(new RunLog(), (m) => supervisor?.broadcast(m)) : undefined;
  supervisor = await superviseWorkers({
    workers,
    port,
    host,
    maxRssMb: MAX_WORKER_RSS_MB,
    workerExecArgv: WORKER_HEAP_GROWING_PERCENT === 0 ? [] : [`--heap-growing-percent=${WORKER_HEAP_GROWING_PERCENT}`],
    hangTimeoutMs: WORKER_HANG_MS,
    ...(relay ? { onMessage: relay.onMessage } : {}),
    // Request line "GET /app/<appId>/… HTTP/1.1": its target names the app.
    ...(quarantine ? { quarantine: { keyOf: (line: string) => appIdOfTarget(line.split(" ")[1] ?? ""), holdMs: QUARANTINE_HOLD_MS, waitMs: QUARANTINE_WAIT_MS } } : {}),
    onEvent: (e) => {
      metrics.onEvent(e);
      if (e.type === "ready" && relay) supervisor?.send(e.pid, relay.snapshot());
      // Until this line, quarantined apps' new connections wait (RESTITCH_QUARANTINE_WAIT_MS).
      if (e.type === "ready" && e.role === "quarantine") console.error(`restitch: quarantine worker ${e.pid} ready`);
      if (e.type === "exit" && !e.expected) console.error(`restitch: worker ${e.pid} died (${e.signal ?? `exit ${e.code}`}); starting a new one`);
      else if (e.type === "recycle") console.error(`restitch: recycling worker ${e.pid}: ${e.reason}`);
      else if (e.type === "hung") console.error(`restitch: worker ${e.pid} held its event loop for ${e.silentMs} ms; killing it`);
      else if (e.type === "restart-delayed") console.error(`restitch: workers keep dying; next restart in ${e.ms} ms`);
      else if (e.type === "quarantine") console.error(`restitch: quarantine worker serves ${e.keys.length ? e.keys.map((k) => `'${k}'`).join(", ") : "no app"}`);
    },
    combineReports: (reports) => metrics.combine(reports),
  });
  metrics.watchWorkers(() => supervisor?.pids().length ?? 0);
  const a = supervisor.address;
  const url = `http://${a.host.includes(":") ? `[${a.host}]` : a.host}:${a.port}`;
  const stopped = new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return; // the same signal may come from the bin wrapper and from the terminal
      stopping = true;
      console.error(`restitch: ${signal}: draining workers…`);
      supervisor.stop().then(() => resolve(0));
    };
    process.on("SIGINT", () => stop("SIGINT"));
    process.on("SIGTERM", () => stop("SIGTERM"));
  });
  // Signals are handled from here on, even while the workers are still starting.
  await Promise.race([supervisor.ready, stopped]);
  console.log(`restitch: ${describeApps(apps)} listening on ${url} (${workers} worker process${workers === 1 ? "" : "es"}, pids ${supervisor.pids().join(", ")})`);
  if (consoleAccess) printConsoleUrl(url, consoleAccess);
  return stopped;
}

interface ConsoleAccess {
  token: string;
  /** Generated at start (so printed once), not given by the user. */
  generated: boolean;
}

/** --console: the token from --console-token, else RESTITCH_CONSOLE_TOKEN, else a new one. */
function consoleToken(values: Record<string, string | boolean | undefined>): ConsoleAccess | undefined {
  const flag = stringOption(values["console-token"]);
  if (!values.console) {
    if (flag !== undefined) throw new UsageError("--console-token needs --console");
    return undefined;
  }
  const env = process.env[CONSOLE_TOKEN_ENV];
  const given = flag ?? (env ? env : undefined);
  if (given === undefined) return { token: generateToken(), generated: true };
  const problem = tokenProblem(given, flag !== undefined ? "--console-token" : `environment variable ${CONSOLE_TOKEN_ENV}`);
  if (problem) throw new UsageError(problem);
  return { token: given, generated: false };
}

function printConsoleUrl(serverUrl: string, access: ConsoleAccess): void {
  const url = `${serverUrl}${CONSOLE_PATH}/`;
  if (access.generated) console.log(`restitch: console at ${url}?token=${access.token}`);
  else console.log(`restitch: console at ${url} (token from --console-token or ${CONSOLE_TOKEN_ENV})`);
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host);
}
