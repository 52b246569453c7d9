import type { ConfigProblem } from "./types.js";

/** Thrown by loadApp when the app is invalid; `problems` lists every problem found, not only the first. */
export class AppConfigError extends Error {
  override readonly name = "AppConfigError";
  readonly problems: ConfigProblem[];
  readonly warnings: ConfigProblem[];

  constructor(dir: string, problems: ConfigProblem[], warnings: ConfigProblem[] = []) {
    const n = problems.length;
    super(`invalid App Services app at ${dir} (${n} problem${n === 1 ? "" : "s"}):\n` + problems.map((p) => "  " + formatProblem(p)).join("\n"));
    this.problems = problems;
    this.warnings = warnings;
  }
}

/** "file: field: why" (the field part is left out when the problem concerns the whole file). */
export function formatProblem(p: ConfigProblem): string {
  return p.field ? `${p.file}: ${p.field}: ${p.message}` : `${p.file}: ${p.message}`;
}

/** Collects problems and warnings while the loader walks the app; nothing here throws. */
export class Report {
  readonly problems: ConfigProblem[] = [];
  readonly warnings: ConfigProblem[] = [];

  problem(file: string, field: string | undefined, message: string): void {
    this.problems.push(field === undefined ? { file, message } : { file, field, message });
  }

  warn(file: string, field: string | undefined, message: string): void {
    this.warnings.push(field === undefined ? { file, message } : { file, field, message });
  }
}
