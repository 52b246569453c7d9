/**
 * startServer: load the app, start the runtime and the HTTP server. One function, so a worker process
 * (multi-process supervision) can call it exactly as `restitch serve` does.
 */
import { loadApp } from "@restitch/config";
import type { AppModel } from "@restitch/config";
import { createServer, type CallLogEntry, type Listening, type ServerLimits } from "@restitch/router";
import { createRuntime, type Runtime, type RuntimeOptions } from "@restitch/runtime";

export interface StartServerOptions {
  appDir: string;
  port?: number;
  host?: string;
  secretsFile?: string;
  mongodbUri?: string;
  dataDir?: string;
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
  /** Drains in-flight calls, then stops the runtime. Safe to call twice. */
  close(): Promise<void>;
}

export async function startServer(options: StartServerOptions): Promise<RunningServer> {
  const app = await loadApp(options.appDir, options.secretsFile ? { secretsFile: options.secretsFile } : {});
  const runtime: Runtime = createRuntime(options.runtime ?? {});
  let listening: Listening;
  try {
    const server = createServer({
      apps: [app],
      runtime,
      ...(options.limits ? { limits: options.limits } : {}),
      ...(options.onCall ? { onCall: options.onCall } : {}),
    });
    listening = await server.listen(options.port ?? 8080, options.host ?? "127.0.0.1");
  } catch (e) {
    await runtime.close();
    throw e;
  }
  let closing: Promise<void> | undefined;
  return {
    app,
    url: listening.url,
    port: listening.port,
    close: () =>
      (closing ??= (async () => {
        await listening.close();
        await runtime.close();
      })()),
  };
}
