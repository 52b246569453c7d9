/**
 * `restitch run`: run one function once, as App Services' function editor console did — as the system
 * user, or with `--user <id>` as that application user (rules apply) — and print its logs, how long it
 * took, and its result as EJSON. Logs and timing go to stderr, the result alone to stdout (so it can be
 * piped); a function that fails prints its error and exits 1.
 */
import { loadApp, type AppModel } from "@restitch/config";
import { appContext, appDefinition, hostBridge, systemIdentity, userIdentity, type Identity } from "@restitch/router";
import { createRuntime, type AppRuntime } from "@restitch/runtime";
import { EJSON } from "bson";
import { parse, stringOption, UsageError } from "./args.js";
import { openAppServices, openAuth, SERVICE_CLIENTS, systemFunctionRunner, type AppServices, type DataOptions } from "./services.js";

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {
    secrets: { type: "string" },
    "mongodb-uri": { type: "string" },
    "data-dir": { type: "string" },
    user: { type: "string" },
    canonical: { type: "boolean" },
  });
  if (positionals.length < 2) throw new UsageError("run needs <appDir> <function> [args as EJSON…]");
  const [dir, fn, ...rawArgs] = positionals as [string, string, ...string[]];
  const args = rawArgs.map((text, i) => {
    try {
      return EJSON.parse(text, { relaxed: true });
    } catch (e) {
      throw new UsageError(`argument ${i + 1} is not valid EJSON (${(e as Error).message}): ${text}`);
    }
  });
  const userId = stringOption(values.user);
  if (values.user !== undefined && !userId) throw new UsageError("--user needs a user id");
  const secretsFile = stringOption(values.secrets);
  const app = await loadApp(dir, secretsFile ? { secretsFile } : {});
  if (!app.functions.has(fn)) {
    throw new UsageError(`app '${app.appId}' has no function '${fn}' (functions: ${[...app.functions.keys()].join(", ") || "none"})`);
  }
  const mongodbUri = stringOption(values["mongodb-uri"]);
  const dataDir = stringOption(values["data-dir"]);
  const dataOptions = { ...(mongodbUri ? { mongodbUri } : {}), ...(dataDir ? { dataDir } : {}) };
  const runtime = createRuntime({ serviceClients: SERVICE_CLIENTS });
  let rt: AppRuntime | undefined;
  const services = await openAppServices(app, dataOptions, () => rt);
  try {
    rt = runtime.app(appDefinition(app));
    const ctx = appContext(app, services.provider);
    const identity = userId === undefined ? systemIdentity() : await findUser(app, services, dataOptions, rt, userId);
    if (!identity) {
      console.error(
        `restitch: app '${app.appId}' has no enabled user with id '${userId}' in this data` +
          (mongodbUri || dataDir ? "" : " (users live in the app's store: pass the --data-dir or --mongodb-uri the server uses)"),
      );
      return 1;
    }
    const result = await rt.call({ functionName: fn, args, bridge: hostBridge(ctx, identity) });
    const who = identity.runningAsSystem ? "the system user" : `user ${userId}`;
    console.error(`> ran '${fn}' as ${who} in ${result.wallTimeMs.toFixed(1)} ms (cpu ${result.cpuTimeMs.toFixed(1)} ms)`);
    if (result.logs.length > 0 || result.logsDropped > 0) console.error("> logs:");
    for (const line of result.logs) console.error(line);
    if (result.logsDropped > 0) console.error(`(${result.logsDropped} more lines dropped: the per-call log limit was reached)`);
    if (!result.ok) {
      const err = result.error!;
      console.error(`> error (${err.kind}):\n${err.stack ?? `${err.name}: ${err.message}`}`);
      return 1;
    }
    console.error("> result:");
    console.log(EJSON.stringify(result.value, undefined, 2, { relaxed: values.canonical !== true }) ?? "undefined");
    return 0;
  } finally {
    await services.close();
    await runtime.close();
  }
}

/** The application user `id` as endpoints running as that user see it (custom user data included); undefined when unknown or disabled. */
async function findUser(app: AppModel, services: AppServices, dataOptions: DataOptions, rt: AppRuntime, id: string): Promise<Identity | undefined> {
  const auth = await openAuth(app, services, dataOptions, systemFunctionRunner(app, services.provider, () => rt));
  try {
    const user = await auth.auth.getUser(id, { fetchCustomUserData: true });
    return user ? userIdentity(id, user as unknown as Record<string, unknown>) : undefined;
  } finally {
    await auth.close();
  }
}
