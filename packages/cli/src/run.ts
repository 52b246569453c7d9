/** `restitch run`: run one function as the system user and print its logs and result (EJSON). */
import { loadApp } from "@restitch/config";
import { appContext, appDefinition, hostBridge, systemIdentity } from "@restitch/router";
import { createRuntime, type AppRuntime } from "@restitch/runtime";
import { EJSON } from "bson";
import { parse, stringOption, UsageError } from "./args.js";
import { openAppServices, SERVICE_CLIENTS } from "./services.js";

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {
    secrets: { type: "string" },
    "mongodb-uri": { type: "string" },
    "data-dir": { type: "string" },
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
  const secretsFile = stringOption(values.secrets);
  const app = await loadApp(dir, secretsFile ? { secretsFile } : {});
  if (!app.functions.has(fn)) {
    throw new UsageError(`app '${app.appId}' has no function '${fn}' (functions: ${[...app.functions.keys()].join(", ") || "none"})`);
  }
  const mongodbUri = stringOption(values["mongodb-uri"]);
  const dataDir = stringOption(values["data-dir"]);
  const runtime = createRuntime({ serviceClients: SERVICE_CLIENTS });
  let rt: AppRuntime | undefined;
  const services = await openAppServices(app, { ...(mongodbUri ? { mongodbUri } : {}), ...(dataDir ? { dataDir } : {}) }, () => rt);
  try {
    rt = runtime.app(appDefinition(app));
    const result = await rt.call({ functionName: fn, args, bridge: hostBridge(appContext(app, services.provider), systemIdentity()) });
    for (const line of result.logs) console.error(`log: ${line}`);
    if (result.logsDropped > 0) console.error(`log: (${result.logsDropped} more lines dropped)`);
    if (!result.ok) {
      const err = result.error!;
      console.error(`error (${err.kind}): ${err.stack ?? `${err.name}: ${err.message}`}`);
      return 1;
    }
    console.log(EJSON.stringify(result.value, undefined, 2, { relaxed: true }) ?? "undefined");
    return 0;
  } finally {
    await services.close();
    await runtime.close();
  }
}
