/**
 * startServer: load the app, open its data services and auth, start the runtime and the HTTP server.
 * One function, so a worker process (multi-process supervision) can call it exactly as `restitch serve` does.
 */
import { loadApp, type AppModel } from "@restitch/config";
import { createServer, systemIdentity, hostBridge, appContext, type CallLogEntry, type Listening, type ServerLimits, type RestitchServer } from "@restitch/router";
import { observe, type ObserveOptions, type ReadinessCheck } from "@restitch/observe";
import { createRuntime, DEFAULT_POOL, type RuntimeOptions } from "@restitch/runtime";
import { openAppServices, openAuth, SERVICE_CLIENTS, type DataOptions } from "./services.js";

export interface StartServerOptions extends DataOptions {
  appDir: string;
  port?: number;
  host?: string;
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
}

export interface RunningServer {
  app: AppModel;
  url: string;
  port: number;
  /** The HTTP server (a supervised worker feeds it the connections its supervisor accepted). */
  server: import("node:http").Server;
  /** Drains in-flight calls, then stops the runtime and closes data services. Safe to call twice. */
  close(): Promise<void>;
}

function fanOut(a: ((e: CallLogEntry) => void) | undefined, b: ((e: CallLogEntry) => void) | undefined): ((e: CallLogEntry) => void) | undefined {
  return a && b
    ? (e) => {
        a(e);
        b(e);
      }
    : (a ?? b);
}

export async function startServer(options: StartServerOptions): Promise<RunningServer> {
  const app = await loadApp(options.appDir, options.secretsFile ? { secretsFile: options.secretsFile } : {});
  const cleanup: (() => Promise<void>)[] = [];
  const closeAll = async () => {
    for (const c of cleanup.reverse()) await c();
  };
  try {
    const runtime = createRuntime({ ...options.runtime, serviceClients: { ...SERVICE_CLIENTS, ...options.runtime?.serviceClients } });
    cleanup.push(() => runtime.close());
    let server: RestitchServer | undefined;
    let runtimeClosed = false;
    cleanup.push(async () => void (runtimeClosed = true));
    const services = await openAppServices(app, options, () => server?.appRuntime(app.appId));
    cleanup.push(() => services.close());
    // Auth runs confirmation / reset / custom-function provider functions as the system user.
    const systemCtx = appContext(app, services.provider);
    const runFunction = async (name: string, args: unknown[]) => {
      const rt = server?.appRuntime(app.appId);
      if (!rt) throw new Error("the server is not started yet");
      const r = await rt.call({ functionName: name, args, bridge: hostBridge(systemCtx, systemIdentity()) });
      if (!r.ok) throw new Error(r.error!.message);
      return r.value;
    };
    const auth = await openAuth(app, services, options, runFunction);
    cleanup.push(() => auth.close());
    const observed = options.observe ? observe(options.observe, app.secrets.values()) : undefined;
    const onCall = fanOut(observed?.onCall, options.onCall);
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
          const stats = server?.appRuntime(app.appId)?.stats();
          if (runtimeClosed || !stats) throw new Error("the runtime is closed");
          if (stats.queued >= maxQueue) throw new Error(`the call queue is full (${stats.queued} calls waiting)`);
        },
      },
      // Reachable = answers a listing of the database Restitch itself keeps the app's users in.
      ...[...services.dataServices].map(([name, ds]) => ({ name: `data:${name}`, check: async () => void (await ds.collectionNames(`__restitch_auth_${app.appId}`)) })),
    ];
    server = createServer({
      apps: [app],
      runtime,
      dataServices: services.provider,
      auth: new Map([[app.appId, auth.auth]]),
      ...(options.limits ? { limits: options.limits } : {}),
      ...(onCall ? { onCall } : {}),
      ...(observed ? { probes: observed.probes(readiness) } : {}),
    });
    observed?.metrics?.watchPool(app.appId, () => server?.appRuntime(app.appId)?.stats());
    const listening: Listening = await server.listen(options.port ?? 8080, options.host ?? "127.0.0.1");
    cleanup.push(() => listening.close());
    let closing: Promise<void> | undefined;
    return { app, url: listening.url, port: listening.port, server: listening.server, close: () => (closing ??= closeAll()) };
  } catch (e) {
    await closeAll();
    throw e;
  }
}
