/**
 * Opens what an app's functions reach besides the runtime: one DataService per mongodb-atlas data source
 * (the official driver with --mongodb-uri, else the embedded backend, durable under --data-dir) and the
 * app's auth service (users live in the first data source, or an embedded store of their own).
 */
import type { AppModel } from "@restitch/config";
import { createAuth, type RestitchAuthService } from "@restitch/auth";
import {
  createDriverDataService,
  createEmbeddedDataService,
  createRulesEngine,
  createServiceBinding,
  MONGODB_SERVICE_TYPE,
  mongodbGuestClient,
  type DataService,
  type EmbeddedOptions,
} from "@restitch/mongodb";
import { appContext, hostBridge, systemIdentity, type ServiceProvider } from "@restitch/router";
import type { AppRuntime, ServiceBinding } from "@restitch/runtime";

export interface DataOptions {
  /** Serve data sources from this MongoDB server (driver backend). */
  mongodbUri?: string;
  /** Embedded backend: keep data in SQLite files here; omitted = in memory. */
  dataDir?: string;
  /**
   * Embedded backend: bounds of an operation that evaluates aggregation expressions (deadline, heap of
   * its process) and evaluator processes per data source; omitted: the defaults (5000 ms, 256 MB, 2).
   */
  embedded?: Pick<EmbeddedOptions, "operationTimeMs" | "operationMemoryMb" | "evaluatorProcesses">;
}

export interface AppServices {
  dataServices: Map<string, DataService>;
  /** Bindings for one call, fixed to the identity it runs as. */
  provider: ServiceProvider;
  close(): Promise<void>;
}

/** Guest-side clients the runtime installs in every isolate, by service type. */
export const SERVICE_CLIENTS: Record<string, string> = { [MONGODB_SERVICE_TYPE]: mongodbGuestClient };

function openDataService(name: string, options: DataOptions): Promise<DataService> {
  if (options.mongodbUri) return createDriverDataService({ name, uri: options.mongodbUri });
  return createEmbeddedDataService({ name, ...(options.dataDir ? { dataDir: options.dataDir } : {}), ...options.embedded });
}

/** `appRuntime` gives the app's runtime once the server exists (rule expressions may call %function). */
export async function openAppServices(app: AppModel, options: DataOptions, appRuntime: () => AppRuntime | undefined): Promise<AppServices> {
  const dataServices = new Map<string, DataService>();
  try {
    for (const ds of app.dataSources) {
      if (ds.type === MONGODB_SERVICE_TYPE) dataServices.set(ds.name, await openDataService(ds.name, options));
    }
  } catch (e) {
    await Promise.all([...dataServices.values()].map((s) => s.close()));
    throw e;
  }
  const sources = new Map(app.dataSources.map((ds) => [ds.name, ds]));
  const ctx = appContext(app);
  const provider: ServiceProvider = (_app, identity, request) => {
    if (dataServices.size === 0) return undefined;
    const out: Record<string, ServiceBinding> = {};
    if (identity.runningAsSystem) {
      for (const [name, service] of dataServices) out[name] = createServiceBinding(service, { system: true });
      return out;
    }
    // Rule expressions see values, environment and the request; %function runs as the same user.
    const callFunction = async (name: string, args: unknown[]) => {
      const rt = appRuntime();
      if (!rt) throw new Error("the app runtime is not started");
      const r = await rt.call({ functionName: name, args, bridge: hostBridge(ctx, identity, request) });
      if (!r.ok) throw new Error(r.error!.message);
      return r.value;
    };
    for (const [name, service] of dataServices) {
      const rules = createRulesEngine(sources.get(name)!, {
        values: ctx.values,
        environment: ctx.environment,
        callFunction,
        ...(request ? { request } : {}),
      });
      out[name] = createServiceBinding(service, { system: false, user: identity.user }, { rules });
    }
    return out;
  };
  return {
    dataServices,
    provider,
    close: async () => {
      await Promise.all([...dataServices.values()].map((s) => s.close()));
    },
  };
}

/** Runs app functions as the system user: what auth's confirmation / reset / custom-function providers call. */
export function systemFunctionRunner(app: AppModel, provider: ServiceProvider, appRuntime: () => AppRuntime | undefined): (name: string, args: unknown[]) => Promise<unknown> {
  const ctx = appContext(app, provider);
  return async (name, args) => {
    const rt = appRuntime();
    if (!rt) throw new Error("the app runtime is not started yet");
    const r = await rt.call({ functionName: name, args, bridge: hostBridge(ctx, systemIdentity()) });
    if (!r.ok) throw new Error(r.error!.message);
    return r.value;
  };
}

/**
 * The app's auth service. Its users live in the first data source (database "__restitch_auth_<appId>"),
 * or in an embedded store of their own when the app has none. `runFunction` runs app functions as system.
 */
export async function openAuth(
  app: AppModel,
  services: AppServices,
  options: DataOptions,
  runFunction: (name: string, args: unknown[]) => Promise<unknown>,
): Promise<{ auth: RestitchAuthService; close(): Promise<void> }> {
  let store = services.dataServices.values().next().value as DataService | undefined;
  const own = store ? undefined : await openDataService("__restitch_auth", options);
  store ??= own!;
  try {
    const auth = await createAuth({
      app,
      store,
      customUserDataService: (name) => services.dataServices.get(name),
      runFunction,
    });
    return {
      auth,
      close: async () => {
        await auth.close();
        await own?.close();
      },
    };
  } catch (e) {
    await own?.close();
    throw e;
  }
}
