import type { CallError, CallErrorKind, Limits } from "./types.js";

/**
 * Defaults per call. App Services allowed 300 s and 350 MB per request; a self-hosted multi-tenant
 * engine wants tighter defaults, which apps can raise per call.
 */
export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  wallTimeMs: 60_000,
  cpuTimeMs: 10_000,
  memoryMb: 128,
  maxHostCalls: 10_000,
  maxPendingHostCalls: 1_000,
  maxResultBytes: 16 * 1024 * 1024,
  maxLogBytes: 64 * 1024,
  maxCallDepth: 32,
});

/** Below this an isolate cannot hold the bson library and the prelude. */
export const MIN_MEMORY_MB = 32;

const LIMIT_KEYS = Object.keys(DEFAULT_LIMITS) as (keyof Limits)[];

/** Merge overrides over a base, refusing values that are not positive finite numbers. */
export function resolveLimits(base: Limits, ...overrides: (Partial<Limits> | undefined)[]): Limits {
  const out = { ...base };
  for (const o of overrides) {
    if (!o) continue;
    for (const k of LIMIT_KEYS) {
      const v = o[k];
      if (v === undefined) continue;
      if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) {
        throw new RangeError(`limits.${k} must be a positive number, got ${String(v)}`);
      }
      if (k === "memoryMb" && v < MIN_MEMORY_MB) {
        throw new RangeError(`limits.memoryMb must be at least ${MIN_MEMORY_MB} (the App Services globals need that much), got ${v}`);
      }
      out[k] = v;
    }
  }
  return out;
}

const ERROR_NAMES: Record<CallErrorKind, string> = {
  threw: "Error",
  syntax: "SyntaxError",
  "no-export": "FunctionExportError",
  "not-found": "FunctionNotFound",
  timeout: "ExecutionTimeLimitExceeded",
  cpu: "CpuTimeLimitExceeded",
  memory: "MemoryLimitExceeded",
  "host-calls": "HostCallLimitExceeded",
  "result-size": "ResultTooLarge",
  unserializable: "UnserializableResult",
  overloaded: "Overloaded",
  crashed: "IsolateCrashed",
  closed: "RuntimeClosed",
};

export function callError(kind: CallErrorKind, message: string, extra?: { name?: string; stack?: string }): CallError {
  const err: CallError = { kind, name: extra?.name ?? ERROR_NAMES[kind], message };
  if (extra?.stack) err.stack = extra.stack;
  return err;
}
