/**
 * Property-based fuzzing settings shared by test/fuzz: a fixed seed and a moderate number of runs in CI
 * (each property well under 10 s on a 2-core machine), more on demand:
 *
 *   RESTITCH_FUZZ_RUNS=5000 pnpm vitest run test/fuzz        # more runs per property (same seed)
 *   RESTITCH_FUZZ_SEED=random RESTITCH_FUZZ_RUNS=5000 …       # a new seed each time (printed on failure)
 *
 * A failure prints the seed and the counterexample path; replay it with RESTITCH_FUZZ_SEED=<seed>.
 */
import fc from "fast-check";

const FIXED_SEED = 20261121;

function envRuns(): number | undefined {
  const raw = process.env.RESTITCH_FUZZ_RUNS;
  if (!raw) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`RESTITCH_FUZZ_RUNS must be a positive integer, got '${raw}'`);
  return n;
}

function envSeed(): number | undefined {
  const raw = process.env.RESTITCH_FUZZ_SEED;
  if (raw === "random") return undefined;
  if (!raw) return FIXED_SEED;
  const n = Number(raw);
  if (!Number.isInteger(n)) throw new Error(`RESTITCH_FUZZ_SEED must be an integer or 'random', got '${raw}'`);
  return n;
}

/** fc.assert parameters: `ciRuns` runs unless RESTITCH_FUZZ_RUNS says otherwise. */
export function fuzzParams<T>(ciRuns: number): fc.Parameters<T> {
  const seed = envSeed();
  return { numRuns: envRuns() ?? ciRuns, ...(seed === undefined ? {} : { seed }), endOnFailure: true };
}

/** A test timeout that grows with the number of runs asked for (the CI default stays at `ms`). */
export function fuzzTimeout(ms: number, ciRuns: number): number {
  return Math.ceil(ms * Math.max(1, (envRuns() ?? ciRuns) / ciRuns));
}

/** Rejects when `work` takes longer than `ms`: "never a hang" made checkable. */
export async function within<T>(ms: number, what: string, work: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Keys that have tripped JavaScript code before: prototype names, dots, dollar and percent signs, empty. */
export const weirdKey = fc.oneof(
  fc.constantFrom("__proto__", "constructor", "prototype", "toString", "hasOwnProperty", "", ".", "a.b", "$", "%", "%%", "$where", "\u0000", "😀"),
  fc.string({ maxLength: 8 }),
);

/** An object with own (not inherited) properties, also for keys like "__proto__". */
export function ownObject(entries: [string, unknown][]): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const [k, v] of entries) Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  return o;
}
