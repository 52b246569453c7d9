/** The Node and V8 flags this process was started with: its command line's, then NODE_OPTIONS'. */
export function processNodeFlags(): string[] {
  return [...process.execArgv, ...(process.env.NODE_OPTIONS ?? "").split(/\s+/).filter(Boolean)];
}

/** A flag's name without its value, spelled with dashes (V8 takes `--max_semi_space_size` too). */
export function flagName(arg: string): string {
  return arg.split("=")[0]!.replaceAll("_", "-");
}
