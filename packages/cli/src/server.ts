/**
 * startServer: load the app, open its data services and auth, start the runtime and the HTTP server.
 * One function, so a worker process (multi-process supervision) can call it exactly as `restitch serve` does.
 */
import { loadApp, type AppModel } from "@restitch/config";
import { createServer, type CallLogEntry, type Listening, type ServerLimits, type RestitchServer } from "@restitch/router";
import { createRuntime, type RuntimeOptions } from "@restitch/runtime";
import { openAppServices, openAuth, SERVICE_CLIENTS, systemFunctionRunner, type DataOptions } from "./services.js";

export interface StartServerOptions extends DataOptions {
  appDir: string;
  port?: number;
  host?: string;
  secretsFile?: string;
  /** HTTP edge limits (body size, headers, slow clients). */
  limits?: Partial<ServerLimits>;
  /** Runtime settings: per-call limits and the isolate pool. */
  runtime?: RuntimeOptions;
  onCall?: (entry: CallLogEntry) => void;
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
    const services = await openAppServices(app, options, () => server?.appRuntime(app.appId));
    cleanup.push(() => services.close());
    // Auth runs confirmation / reset / custom-function provider functions as the system user.
    const runFunction = systemFunctionRunner(app, services.provider, () => server?.appRuntime(app.appId));
    const auth = await openAuth(app, services, options, runFunction);
    cleanup.push(() => auth.close());
    server = createServer({
      apps: [app],
      runtime,
      dataServices: services.provider,
      auth: new Map([[app.appId, auth.auth]]),
      ...(options.limits ? { limits: options.limits } : {}),
      ...(options.onCall ? { onCall: options.onCall } : {}),
    });
    const listening: Listening = await server.listen(options.port ?? 8080, options.host ?? "127.0.0.1");
    cleanup.push(() => listening.close());
    let closing: Promise<void> | undefined;
    return { app, url: listening.url, port: listening.port, server: listening.server, close: () => (closing ??= closeAll()) };
  } catch (e) {
    await closeAll();
    throw e;
  }
}
