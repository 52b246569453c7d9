import type { Report } from "./problems.js";
import type { Expression, RunAs } from "./types.js";

export type Obj = Record<string, unknown>;

export function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "object") return "an object";
  return `a ${typeof v}`;
}

/**
 * Typed, checked access to one JSON object of a config file. Every read marks the key as known;
 * finish() warns about the keys nobody read. Wrong types and unknown enum values become problems
 * naming the file and the field path; the offending value is never echoed for type errors.
 */
export class Fields {
  private readonly known = new Set<string>();

  constructor(
    private readonly report: Report,
    readonly file: string,
    readonly obj: Obj,
    /** Field path prefix for messages, e.g. "[2]" or "options". */
    readonly prefix = "",
  ) {}

  /** Field path for messages. */
  path(key: string): string {
    return this.prefix ? `${this.prefix}.${key}` : key;
  }

  problem(key: string | undefined, message: string): void {
    this.report.problem(this.file, key === undefined ? this.prefix || undefined : this.path(key), message);
  }

  warn(key: string | undefined, message: string): void {
    this.report.warn(this.file, key === undefined ? this.prefix || undefined : this.path(key), message);
  }

  /** Keys that are valid but not read (documented, ignored by Restitch). */
  accept(...keys: string[]): this {
    for (const k of keys) this.known.add(k);
    return this;
  }

  has(key: string): boolean {
    this.known.add(key);
    return this.obj[key] !== undefined && this.obj[key] !== null;
  }

  raw(key: string): unknown {
    this.known.add(key);
    return this.obj[key];
  }

  private typed<T>(key: string, want: string, ok: (v: unknown) => v is T): T | undefined {
    const v = this.raw(key);
    if (v === undefined || v === null) return undefined;
    if (ok(v)) return v;
    this.problem(key, `expected ${want}, got ${typeName(v)}`);
    return undefined;
  }

  string(key: string): string | undefined {
    return this.typed(key, "a string", (v): v is string => typeof v === "string");
  }

  requiredString(key: string): string | undefined {
    const v = this.string(key);
    if (v === undefined && !this.has(key)) this.problem(key, "is required");
    else if (v === "") {
      this.problem(key, "must not be empty");
      return undefined;
    }
    return v;
  }

  bool(key: string): boolean | undefined {
    return this.typed(key, "a boolean", (v): v is boolean => typeof v === "boolean");
  }

  object(key: string): Obj | undefined {
    return this.typed(key, "an object", isObj);
  }

  array(key: string): unknown[] | undefined {
    return this.typed(key, "an array", (v): v is unknown[] => Array.isArray(v));
  }

  stringArray(key: string): string[] | undefined {
    const arr = this.array(key);
    if (!arr) return undefined;
    const bad = arr.findIndex((x) => typeof x !== "string");
    if (bad >= 0) {
      this.problem(`${key}[${bad}]`, `expected a string, got ${typeName(arr[bad])}`);
      return undefined;
    }
    return arr as string[];
  }

  /** A JSON expression: `true`/`false` or an object. */
  expr(key: string): Expression | undefined {
    return this.typed(key, "an expression (a boolean or an object)", (v): v is Expression => typeof v === "boolean" || isObj(v));
  }

  oneOf<T extends string>(key: string, allowed: readonly T[], opts: { caseInsensitive?: boolean } = {}): T | undefined {
    const v = this.string(key);
    if (v === undefined) return undefined;
    const found = allowed.find((a) => (opts.caseInsensitive ? a.toUpperCase() === v.toUpperCase() : a === v));
    if (found === undefined) this.problem(key, `unknown value ${JSON.stringify(v.slice(0, 40))}; expected one of ${allowed.map((a) => `"${a}"`).join(", ")}`);
    return found;
  }

  /** Nested object read with its own Fields (unknown keys warned under the nested path). */
  sub(key: string): Fields | undefined {
    const o = this.object(key);
    return o ? new Fields(this.report, this.file, o, this.path(key)) : undefined;
  }

  /** Warns about every key no one read or accepted. */
  finish(): void {
    for (const k of Object.keys(this.obj)) if (!this.known.has(k)) this.warn(k, "unknown field (ignored)");
  }
}

/** The run_as_* trio shared by functions, endpoints, the Data API and webhooks. */
export function readRunAs(f: Fields): RunAs {
  const out: RunAs = {};
  const system = f.bool("run_as_system");
  const userId = f.string("run_as_user_id");
  const script = f.string("run_as_user_id_script_source");
  if (system !== undefined) out.runAsSystem = system;
  if (userId !== undefined && userId !== "") out.runAsUserId = userId;
  if (script !== undefined && script !== "") out.runAsUserIdScriptSource = script;
  if (out.runAsUserId !== undefined && out.runAsUserIdScriptSource !== undefined)
    f.problem("run_as_user_id", "cannot be used together with run_as_user_id_script_source");
  return out;
}

export const VALIDATION_METHODS = ["NO_VALIDATION", "SECRET_AS_QUERY_PARAM", "VERIFY_PAYLOAD"] as const;
export const RETURN_TYPES = ["JSON", "EJSON"] as const;

/** Adds the optional keys of `extra` whose value is not undefined (keeps models free of `key: undefined`). */
export function defined<T extends object>(base: T, extra: Partial<T>): T {
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) (base as Record<string, unknown>)[k] = v;
  return base;
}
