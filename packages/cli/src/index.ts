/** The restitch command. bin/restitch.js calls main(argv) with --no-node-snapshot in place. */
import { AppConfigError, formatProblem } from "@restitch/config";
import { USAGE, UsageError } from "./args.js";
import { bench } from "./bench.js";
import { check } from "./check.js";
import { run } from "./run.js";
import { serve } from "./serve.js";

export { startServer, type StartServerOptions, type RunningServer } from "./server.js";
// What startServer's `observe` option takes, for library users.
export { createLogger, createServerMetrics, flushLogger, type LogRecord, type Logger, type ObserveOptions } from "@restitch/observe";
export { endpointTable } from "./check.js";
export { benchTable, load, median, processTree, startServe, stopServe, treeUsage, watchServer, type BenchRow, type LoadOptions, type LoadResult } from "./bench.js";

const COMMANDS: Record<string, (argv: string[]) => Promise<number>> = { serve, check, run, bench };

/** Runs one command and sets process.exitCode: 0 ok, 1 failure (invalid app, function error), 2 usage error. */
export async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "help" || command === "--help" || command === "-h") {
    console.log(USAGE);
    process.exitCode = command === undefined ? 2 : 0;
    return;
  }
  const handler = COMMANDS[command];
  try {
    if (!handler) throw new UsageError(`unknown command '${command}'`);
    process.exitCode = await handler(rest);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`restitch: ${e.message}\n${USAGE}`);
      process.exitCode = 2;
    } else if (e instanceof AppConfigError) {
      const n = e.problems.length;
      console.error(`restitch: the app is invalid (${n} problem${n === 1 ? "" : "s"}):`);
      for (const p of e.problems) console.error(`  ${formatProblem(p)}`);
      process.exitCode = 1;
    } else {
      console.error(`restitch: ${(e as Error).message ?? e}`);
      process.exitCode = 1;
    }
  }
}
