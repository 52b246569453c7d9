/**
 * Keeps the host's young-generation flags out of the isolates.
 *
 * isolated-vm sizes an isolate's young generation from its memory limit (2 MB for 128 MB). V8's
 * --max-semi-space-size and --min-semi-space-size are process-wide and win over that: started with
 * --max-semi-space-size=16, an isolate churning short-lived objects committed 59 MB of heap where it
 * commits 12 (test/young-generation.test.ts). So while an isolate is made, the flags the process was
 * started with are unset, and put back right after: the host's heap keeps them, the isolates get theirs.
 */
import { setFlagsFromString } from "node:v8";
import { processNodeFlags } from "./node-flags.js";

const FLAG = /^--(max|min)[-_]semi[-_]space[-_]size(?:=(.*))?$/;

/** The young-generation flags in `args` (command line, then NODE_OPTIONS), as `--name=value`. */
export function youngGenerationFlags(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const m = FLAG.exec(args[i]!);
    if (!m) continue;
    // "--max-semi-space-size 16" is accepted too: its value is the next argument.
    const value = m[2] ?? args[++i];
    if (value !== undefined) out.push(`--${m[1]}-semi-space-size=${value}`);
  }
  return out;
}

const HOST_FLAGS = youngGenerationFlags(processNodeFlags());

/** Runs `make` (which creates an isolate) with the host's young-generation flags unset. */
export function withIsolateYoungGeneration<T>(make: () => T): T {
  if (HOST_FLAGS.length === 0) return make();
  setFlagsFromString("--max-semi-space-size=0");
  setFlagsFromString("--min-semi-space-size=0");
  try {
    return make();
  } finally {
    for (const flag of HOST_FLAGS) setFlagsFromString(flag);
  }
}
