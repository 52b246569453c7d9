/** `restitch serve`: start, print the URL, and drain in-flight calls on SIGINT/SIGTERM. */
import { intOption, parse, stringOption, UsageError } from "./args.js";
import { startServer } from "./server.js";

export async function serve(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {
    port: { type: "string" },
    host: { type: "string" },
    secrets: { type: "string" },
    "mongodb-uri": { type: "string" },
    "data-dir": { type: "string" },
    workers: { type: "string" },
  });
  if (positionals.length !== 1) throw new UsageError("serve needs exactly one <appDir>");
  const port = intOption(values.port, "port", 0, 65535, 8080);
  const workers = intOption(values.workers, "workers", 1, 256, 1);
  if (workers > 1) console.error(`restitch: --workers ${workers}: multi-process workers are not available yet; serving from one process`);
  const secretsFile = stringOption(values.secrets);
  const mongodbUri = stringOption(values["mongodb-uri"]);
  const dataDir = stringOption(values["data-dir"]);
  const running = await startServer({
    appDir: positionals[0]!,
    port,
    host: stringOption(values.host) ?? "127.0.0.1",
    ...(secretsFile ? { secretsFile } : {}),
    ...(mongodbUri ? { mongodbUri } : {}),
    ...(dataDir ? { dataDir } : {}),
    onCall: (e) => {
      if (e.error) console.error(`${e.method} ${e.route} -> ${e.status}: ${e.error.kind}: ${e.error.stack ?? e.error.message}`);
    },
  });
  const n = running.app.endpoints.length;
  console.log(`restitch: app '${running.app.appId}' (${n} endpoint${n === 1 ? "" : "s"}) listening on ${running.url}`);

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        console.error(`restitch: ${signal} again, exiting without draining`);
        process.exit(1);
      }
      stopping = true;
      console.error(`restitch: ${signal}: draining in-flight calls…`);
      running.close().then(
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
