import { createRuntime, type AppRuntime, type CallRequest, type FunctionSource, type Runtime, type RuntimeOptions } from "@restitch/runtime";

/** A runtime with one app built from `name -> source` pairs; files are named functions/<name>.js. */
export function appWith(sources: Record<string, string>, options: RuntimeOptions = {}, id = "test-app"): { runtime: Runtime; app: AppRuntime } {
  const runtime = createRuntime(options);
  const functions: Record<string, FunctionSource> = {};
  for (const [name, source] of Object.entries(sources)) functions[name] = { source, file: `functions/${name}.js` };
  return { runtime, app: runtime.app({ id, functions }) };
}

export async function run(app: AppRuntime, functionName: string, args: unknown[] = [], extra: Omit<CallRequest, "functionName" | "args"> = {}) {
  return app.call({ functionName, args, ...extra });
}

/** Counts turns of the event loop (one setImmediate callback per turn) from now until stop(). */
export function countLoopTurns(): { turns: () => number; stop: () => void } {
  let turns = 0;
  let counting = true;
  const tick = () => {
    turns++;
    if (counting) setImmediate(tick);
  };
  setImmediate(tick);
  return { turns: () => turns, stop: () => (counting = false) };
}
