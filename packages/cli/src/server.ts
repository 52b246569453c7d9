/**
 * startServer: load the apps, open their data services and auth, start the runtime and the HTTP server.
 * One function, so a worker process (multi-process supervision) can call it exactly as `restitch serve` does.
 * Several apps share one runtime (each in isolates of its own) and one HTTP server; each keeps its own
 * data services, auth and signing key.
 */
import path from "node:path";
import { loadApp, type AppModel } from "@restitch/config";
import { createServer, type CallLogEntry, type CreateServerOptions, type Listening, type ServerLimits, type RestitchServer } from "@restitch/router";
import { observe, type ObserveOptions, type ReadinessCheck } from "@restitch/observe";
import { createRuntime, DEFAULT_POOL, type RuntimeOptions } from "@restitch/runtime";
import { openAppServices, openAuth, SERVICE_CLIENTS, systemFunctionRunner, type AppServices, type DataOptions } from "./services.js";
import { CONSOLE_PATH, createConsole, RunLog, summarizeCall } from "@restitch/console";

export interface StartServerOptions extends DataOptions {
  /** One exported app directory, or several served side by side (each under /app/<its app id>/…). */
  appDir: string | readonly string[];
  port?: number;
  host?: string;
  /** A secrets file (JSON name -> value) read by every app. */
  secretsFile?: string;
  /** HTTP edge limits (body size, headers, slow clients). */
  limits?: Partial<ServerLimits>;
  /** Runtime settings: per-call limits and the isolate pool. */
  runtime?: RuntimeOptions;
  /** Every finished request, and every function run outside a request's own function (see CallLogEntry). */
  onCall?: (entry: CallLogEntry) => void;
  /**
   * Logs, metrics and health endpoints (@restitch/observe): GET /healthz, /readyz and (unless
   * `metrics: false`) /metrics, and a log record per request and run when a `logger` is given.
   * Absent: none of them.
   */
  observe?: ObserveOptions;
  /** Serve the console at /_restitch/ (off when absent). */
  console?: {
    token: string;
    /** Where the console reads runs from; default: a new log that this server's own calls are recorded in. */
    runs?: RunLog;
    /** Facts shown in the console's header. */
    server?: Record<string, string | number | boolean>;
  };
}

export interface RunningServer {
  /** The first app (the only one, unless several app directories were given). */
  app: AppModel;
  apps: AppModel[];
  url: string;
  port: number;
  /** The HTTP server (a supervised worker feeds it the connections its supervisor accepted). */
  server: import("node:http").Server;
  /** The console's URL (without the token) and the runs it shows, when it is on. */
  console?: { url: string; runs: RunLog };
  /** Drains in-flight calls, then stops the runtime and closes data services. Safe to call twice. */
  close(): Promise<void>;
}

/** One callback calling each given one in turn (undefined when none is given). */
function fanOut(...callbacks: (((e: CallLogEntry) => void) | undefined)[]): ((e: CallLogEntry) => void) | undefined {
  const given = callbacks.filter((c) => c !== undefined);
  if (given.length <= 1) return given[0];
  return (e) => {
    for (const c of given) c(e);
  };
}

/** Loads every app directory; two apps with one app id would be ambiguous in URLs, so that is refused. */
export async function loadApps(appDir: string | readonly string[], secretsFile?: string): Promise<AppModel[]> {
  const dirs = typeof appDir === "string" ? [appDir] : [...appDir];
  if (dirs.length === 0) throw new Error("no app directory given");
  const apps: AppModel[] = [];
  for (const dir of dirs) {
    const app = await loadApp(dir, secretsFile ? { secretsFile } : {});
    const twin = apps.find((a) => a.appId === app.appId);
    if (twin) throw new Error(`${dir}: app id '${app.appId}' is already served from ${twin.dir}`);
    apps.push(app);
  }
  return apps;
}

export async function startServer(options: StartServerOptions): Promise<RunningServer> {
  const apps = await loadApps(options.appDir, options.secretsFile);
  const cleanup: (() => Promise<void>)[] = [];
  const closeAll = async () => {
    for (const c of cleanup.reverse()) await c();
  };
  try {
    // Several apps in one server are several tenants: a continuation (code after an await) then runs on
    // isolated-vm's threads, so no tenant can hold the event loop that serves the others (docs/security.md).
    // One app keeps the faster resumption on the event loop unless told otherwise.
    const pool = { ...(apps.length > 1 ? { asyncContinuations: true } : {}), ...options.runtime?.pool };
    const runtime = createRuntime({ ...options.runtime, pool, serviceClients: { ...SERVICE_CLIENTS, ...options.runtime?.serviceClients } });
    cleanup.push(() => runtime.close());
    let server: RestitchServer | undefined;
    const servicesByApp = new Map<string, AppServices>();
    const auth: NonNullable<CreateServerOptions["auth"]> = new Map();
    for (const app of apps) {
      // Apps never share an embedded store: with several apps each gets a directory of its own.
      const dataOptions: DataOptions = { ...options, ...(options.dataDir && apps.length > 1 ? { dataDir: path.join(options.dataDir, app.appId) } : {}) };
      const services = await openAppServices(app, dataOptions, () => server?.appRuntime(app.appId));
      cleanup.push(() => services.close());
      servicesByApp.set(app.appId, services);
      // Auth runs confirmation / reset / custom-function provider functions as the system user.
      const runFunction = systemFunctionRunner(app, services.provider, () => server?.appRuntime(app.appId));
      const appAuth = await openAuth(app, services, dataOptions, runFunction);
      cleanup.push(() => appAuth.close());
      auth.set(app.appId, appAuth.auth);
    }
    let runtimeClosed = false;
    cleanup.push(async () => void (runtimeClosed = true));
    const observed = options.observe ? observe(options.observe, apps.flatMap((app) => [...app.secrets.values()])) : undefined;
    const maxQueue = options.runtime?.pool?.maxQueue ?? DEFAULT_POOL.maxQueue;
    const readiness: ReadinessCheck[] = [
      {
        name: "server",
        check: () => {
          if (!server || server.draining()) throw new Error("draining: finishing in-flight calls before stopping");
        },
      },
      {
        name: "runtime",
        check: () => {
          for (const app of apps) {
            const stats = server?.appRuntime(app.appId)?.stats();
            if (runtimeClosed || !stats) throw new Error("the runtime is closed");
            if (stats.queued >= maxQueue) throw new Error(`app '${app.appId}': the call queue is full (${stats.queued} calls waiting)`);
          }
        },
      },
      // Reachable = answers a listing of the database Restitch itself keeps the app's users in.
      ...apps.flatMap((app) =>
        [...servicesByApp.get(app.appId)!.dataServices].map(([name, ds]) => ({
          name: `data:${app.appId}/${name}`,
          check: async () => void (await ds.collectionNames(`__restitch_auth_${app.appId}`)),
        })),
      ),
    ];
    // Without a log of its own to read from, the console records this server's calls.
    const consoleRuns = options.console && (options.console.runs ?? new RunLog());
    const recordHere = options.console && !options.console.runs ? consoleRuns : undefined;
    const toConsole = recordHere
      ? (entry: CallLogEntry) => {
          if (entry.kind === "function") return; // a run outside a request: not a call
          const run = summarizeCall(entry);
          if (run) recordHere.add(run);
        }
      : undefined;
    // The console's own requests (it polls) are not the apps' traffic: no record, no count.
    const observedCall =
      observed && options.console
        ? (e: CallLogEntry) => {
            if (!e.path.startsWith(CONSOLE_PATH)) observed.onCall(e);
          }
        : observed?.onCall;
    const onCall = fanOut(observedCall, toConsole, options.onCall);
    server = createServer({
      apps,
      runtime,
      dataServices: (app, identity, request) => servicesByApp.get(app.appId)?.provider(app, identity, request),
      auth,
      ...(options.limits ? { limits: options.limits } : {}),
      ...(onCall ? { onCall } : {}),
      ...(observed ? { probes: observed.probes(readiness) } : {}),
    });
    for (const app of apps) observed?.metrics?.watchPool(app.appId, () => server?.appRuntime(app.appId)?.stats());
    if (options.console && consoleRuns) {
      server.hono.route("/", createConsole({ apps, runs: consoleRuns, token: options.console.token, ...(options.console.server ? { server: options.console.server } : {}) }));
    }
    const listening: Listening = await server.listen(options.port ?? 8080, options.host ?? "127.0.0.1");
    cleanup.push(() => listening.close());
    let closing: Promise<void> | undefined;
    return {
      app: apps[0]!,
      apps,
      url: listening.url,
      port: listening.port,
      server: listening.server,
      ...(consoleRuns ? { console: { url: `${listening.url}${CONSOLE_PATH}/`, runs: consoleRuns } } : {}),
      close: () => (closing ??= closeAll()),
    };
  } catch (e) {
    await closeAll();
    throw e;
  }
}
