/** Argument parsing for the restitch command: strict, with errors that name the argument at fault. */
import { parseArgs, type ParseArgsConfig } from "node:util";

export class UsageError extends Error {
  override readonly name = "UsageError";
}

export const USAGE = `usage:
  restitch serve <appDir>... [--port 8080] [--host 127.0.0.1] [--secrets file] [--mongodb-uri uri] [--data-dir dir] [--workers N] [--quarantine on|off] [--console [--console-token t]]
                    [--log-format json|pretty] [--log-level trace|debug|info|warn|error|fatal|silent]
  restitch check <appDir> [--secrets file]
  restitch run <appDir> <function> [args as EJSON…] [--user id] [--canonical] [--secrets file] [--mongodb-uri uri] [--data-dir dir]
  restitch bench <appDir> [--endpoint route]… [--connections 50] [--duration 5] [--workers N] [--body json|@file] [--query a=1&b=2] [--secrets file] [--data-dir dir] [--mongodb-uri uri]
  restitch help`;

type Options = NonNullable<ParseArgsConfig["options"]>;

/** parseArgs with node's messages turned into UsageErrors. */
export function parse(argv: string[], options: Options): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  try {
    const r = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    return { values: r.values as Record<string, string | boolean | undefined>, positionals: r.positionals };
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

export function intOption(value: string | boolean | undefined, name: string, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (typeof value !== "string" || !/^\d+$/.test(value) || n < min || n > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max} (got '${String(value)}')`);
  }
  return n;
}

export function stringOption(value: string | boolean | undefined): string | undefined {
  return typeof value === "string" ? value : undefined;
}
