/**
 * Writes small App Services exports for the end-to-end tests and serves them with the real server
 * (startServer from the `restitch` package) on 127.0.0.1, port 0.
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { startServer, type RunningServer, type StartServerOptions } from "restitch";

export interface FunctionSpec {
  source: string;
  private?: boolean;
  /** Extra functions/config.json fields (snake_case, as exported). */
  config?: Record<string, unknown>;
}

export interface AppSpec {
  appId?: string;
  environment?: string;
  functions: Record<string, string | FunctionSpec>;
  /** http_endpoints/config.json entries; missing fields get the test defaults below (system user, JSON, respond_result). */
  endpoints: Record<string, unknown>[];
  values?: Record<string, { value: unknown; from_secret?: boolean }>;
  environments?: Record<string, Record<string, unknown>>;
  secrets?: Record<string, string>;
  /** data_sources/<name>/ of type mongodb-atlas, with rules.json per "db.coll". */
  dataSources?: Record<string, { rules?: Record<string, Record<string, unknown>> }>;
  /** auth/providers.json, keyed by provider name. */
  authProviders?: Record<string, Record<string, unknown>>;
}

const ENDPOINT_DEFAULTS = {
  validation_method: "NO_VALIDATION",
  respond_result: true,
  fetch_custom_user_data: false,
  create_user_on_auth: false,
  disabled: false,
  return_type: "JSON",
  run_as_system: true,
};

async function put(file: string, content: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, content);
}

export async function writeApp(spec: AppSpec): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "restitch-e2e-"));
  const json = (v: unknown) => JSON.stringify(v, null, 2);
  await put(
    path.join(dir, "realm_config.json"),
    json({ app_id: spec.appId ?? "e2e-abcde", name: "e2e", config_version: 20210101, environment: spec.environment ?? "" }),
  );
  const fnConfig = [];
  for (const [name, f] of Object.entries(spec.functions)) {
    const def = typeof f === "string" ? { source: f } : f;
    await put(path.join(dir, "functions", `${name}.js`), def.source);
    fnConfig.push({ name, private: def.private ?? false, ...def.config });
  }
  await put(path.join(dir, "functions", "config.json"), json(fnConfig));
  await put(path.join(dir, "http_endpoints", "config.json"), json(spec.endpoints.map((e) => ({ ...ENDPOINT_DEFAULTS, ...e }))));
  for (const [name, v] of Object.entries(spec.values ?? {})) {
    await put(path.join(dir, "values", `${name}.json`), json({ name, value: v.value, from_secret: v.from_secret ?? false }));
  }
  for (const [tag, values] of Object.entries(spec.environments ?? {})) {
    await put(path.join(dir, "environments", `${tag}.json`), json({ values }));
  }
  for (const [name, ds] of Object.entries(spec.dataSources ?? {})) {
    const base = path.join(dir, "data_sources", name);
    await put(path.join(base, "config.json"), json({ name, type: "mongodb-atlas", config: { clusterName: "Cluster0" } }));
    for (const [ns, rules] of Object.entries(ds.rules ?? {})) {
      const [database, collection] = ns.split(".") as [string, string];
      await put(path.join(base, database, collection, "rules.json"), json({ database, collection, filters: [], ...rules }));
    }
  }
  if (spec.authProviders) await put(path.join(dir, "auth", "providers.json"), json(spec.authProviders));
  if (spec.secrets) await put(path.join(dir, "secrets.json"), json(spec.secrets));
  return dir;
}

export interface TestServer extends RunningServer {
  dir: string;
  /** http://127.0.0.1:<port>/app/<appId>/endpoint */
  base: string;
  /** Closes the server and removes the app directory. */
  stop(): Promise<void>;
}

export async function serveApp(spec: AppSpec, options: Partial<StartServerOptions> = {}): Promise<TestServer> {
  const dir = await writeApp(spec);
  const running = await startServer({ appDir: dir, port: 0, host: "127.0.0.1", ...options });
  return {
    ...running,
    dir,
    base: `${running.url}/app/${running.app.appId}/endpoint`,
    stop: async () => {
      await running.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** GET/POST… and read the body as text, keeping status and headers. */
export async function call(url: string, init: RequestInit = {}): Promise<{ status: number; headers: Headers; text: string; json: () => any }> {
  const res = await fetch(url, init);
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) };
}
