/**
 * The pino logger a server writes its records to: one JSON object per line, or a short human line
 * per record when a person is watching (a TTY). Writes are asynchronous and batched (sonic-boom;
 * flushed on exit): a request never waits on stdout.
 */
import { isatty } from "node:tty";
import pino, { type Level, type LevelWithSilent, type Logger } from "pino";

type SonicBoom = ReturnType<typeof pino.destination>;

export type { Logger } from "pino";

export const LOG_FORMATS = ["json", "pretty"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];
export const LOG_LEVELS: readonly LevelWithSilent[] = ["trace", "debug", "info", "warn", "error", "fatal", "silent"];

/**
 * Records are handed to the destination in batches, one string per batch: sonic-boom measures the
 * byte length of its pending buffer on every write, which made its own minLength batching cost more
 * per record than it saved. A batch goes out at this many characters…
 */
const BATCH_CHARS = 16 * 1024;
/** …or this long (ms) after its first record, so a quiet server's records still show up promptly. */
const FLUSH_AFTER_MS = 50;
/** Beyond this much unwritten output (stdout not keeping up), records are dropped rather than held. */
const MAX_BUFFERED_BYTES = 64 * 1024 * 1024;

export interface LoggerOptions {
  /** Default: pretty when the destination is a terminal, JSON otherwise. */
  format?: LogFormat;
  /** Default "info"; "silent" turns records off. */
  level?: LevelWithSilent;
  /** A file descriptor (default 1, stdout) or any object with write(line) (e.g. for tests). */
  destination?: number | { write(chunk: string): unknown };
  /** ANSI colours in the pretty format. Default: the destination is a colour terminal and NO_COLOR is unset. */
  colors?: boolean;
}

/** pretty for a terminal, json for anything else (files, pipes, log collectors). */
export function defaultLogFormat(fd = 1): LogFormat {
  return isatty(fd) ? "pretty" : "json";
}

export function isLogLevel(value: string): value is LevelWithSilent {
  return (LOG_LEVELS as readonly string[]).includes(value);
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const dest = options.destination ?? 1;
  const format = options.format ?? (typeof dest === "number" ? defaultLogFormat(dest) : "json");
  const level = options.level ?? "info";
  const out = typeof dest === "number" ? batched(pino.destination({ dest, sync: false, maxLength: MAX_BUFFERED_BYTES })) : dest;
  const colors = options.colors ?? (typeof dest === "number" && isatty(dest) && !process.env.NO_COLOR);
  const stream = format === "pretty" ? prettyStream(out, colors) : out;
  return pino(
    {
      level,
      // Level names, not numbers: the JSON is read by people and by collectors alike. The time stays
      // pino's epoch milliseconds (an ISO string costs a Date per record).
      formatters: { level: (label) => ({ level: label }) },
    },
    stream as pino.DestinationStream,
  );
}

/**
 * A writer of one record per call, for the request path: the line pino would write for
 * `logger[level](fields, msg)` (same keys, same order, same destination), built with one native
 * JSON.stringify instead of pino's key-by-key serialisation (measured under load: ~9 -> ~2 µs per record).
 * `fields` must be plain JSON data (no cycles, no Errors): records.ts builds it from chosen fields.
 */
export function recordWriter(logger: Logger): (level: Level, fields: object, msg: string) => void {
  const stream = (logger as unknown as Record<symbol, { write?: (line: string) => unknown }>)[pino.symbols.streamSym];
  const bindings = (logger as unknown as Record<symbol, string>)[pino.symbols.chindingsSym] ?? "";
  if (typeof stream?.write !== "function") return (level, fields, msg) => logger[level](fields, msg);
  const write = stream.write.bind(stream);
  return (level, fields, msg) => {
    const json = JSON.stringify(fields);
    const rest = json.length > 2 ? `,${json.slice(1, -1)}` : "";
    write(`{"level":"${level}","time":${Date.now()}${bindings}${rest},"msg":${JSON.stringify(msg)}}\n`);
  };
}

/** Resolves once everything logged so far is written. */
export function flushLogger(logger: Logger): Promise<void> {
  return new Promise((resolve) => logger.flush(() => resolve()));
}

// ---- batching -----------------------------------------------------------------------------------------

interface Destination {
  write(chunk: string): unknown;
  flush?: (cb: (err?: Error) => void) => void;
}

const pendingAtExit = new Set<() => void>();
let exitHookInstalled = false;

/** Collects records and hands them to `out` as one string per batch; on exit, writes what is left synchronously. */
function batched(out: SonicBoom): Destination {
  let parts: string[] = [];
  let chars = 0;
  let timer: NodeJS.Timeout | undefined;
  const handOver = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (parts.length === 0) return;
    const chunk = parts.length === 1 ? parts[0]! : parts.join("");
    parts = [];
    chars = 0;
    out.write(chunk);
  };
  pendingAtExit.add(() => {
    handOver();
    try {
      out.flushSync();
    } catch {
      // stdout already closed: nothing more can be written
    }
  });
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once("exit", () => {
      for (const flush of pendingAtExit) flush();
    });
  }
  return {
    write(line: string) {
      parts.push(line);
      chars += line.length;
      if (chars >= BATCH_CHARS) handOver();
      else if (!timer) timer = setTimeout(handOver, FLUSH_AFTER_MS).unref();
      return true;
    },
    flush(cb) {
      handOver();
      out.flush(cb);
    },
  };
}

// ---- the pretty format ----------------------------------------------------------------------------------

const LEVEL_COLOURS: Record<string, string> = { trace: "90", debug: "36", info: "32", warn: "33", error: "31", fatal: "35" };

/** A pino destination that turns each JSON line into "HH:MM:SS.mmm LEVEL message key=value…" plus indented console/stack lines. */
function prettyStream(out: Destination, colors: boolean) {
  const paint = (code: string, s: string) => (colors ? `\x1b[${code}m${s}\x1b[0m` : s);
  return {
    write(line: string) {
      let rec: Record<string, unknown>;
      try {
        rec = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return out.write(line);
      }
      return out.write(formatPretty(rec, paint));
    },
    flush(cb: (err?: Error) => void) {
      if (out.flush) out.flush(cb);
      else cb();
    },
  };
}

const SHOWN_APART = new Set(["time", "level", "msg", "pid", "hostname", "console", "error", "consoleDropped"]);
const SHORT_KEYS: Record<string, string> = { requestId: "req", function: "fn", userId: "user", durationMs: "ms", hostCalls: "hostCalls" };

export function formatPretty(rec: Record<string, unknown>, paint: (code: string, s: string) => string = (_c, s) => s): string {
  const level = String(rec.level ?? "info") as Level;
  const time = typeof rec.time === "number" ? clockTime(new Date(rec.time)) : "";
  let s = `${paint("90", time)} ${paint(LEVEL_COLOURS[level] ?? "0", level.toUpperCase().padEnd(5))} ${String(rec.msg ?? "")}`;
  for (const [k, v] of Object.entries(rec)) {
    if (SHOWN_APART.has(k) || v === undefined || k === "status" || k === "method" || k === "path" || k === "durationMs") continue;
    if (k === "kind" && v === "endpoint") continue; // the usual case; the others are worth a word
    s += ` ${paint("90", `${SHORT_KEYS[k] ?? k}=`)}${typeof v === "string" ? v : JSON.stringify(v)}`;
  }
  s += "\n";
  const error = rec.error as { kind?: string; message?: string; stack?: string } | undefined;
  if (error) s += indent(paint("31", error.stack ?? `${error.kind}: ${error.message}`), "  ! ");
  if (Array.isArray(rec.console)) for (const line of rec.console) s += indent(String(line), "  | ");
  if (typeof rec.consoleDropped === "number") s += `  | … ${rec.consoleDropped} more console line(s) not shown\n`;
  return s;
}

/** HH:MM:SS.mmm in local time. */
function clockTime(d: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

function indent(text: string, prefix: string): string {
  return text
    .split("\n")
    .map((l) => `${prefix}${l}\n`)
    .join("");
}
