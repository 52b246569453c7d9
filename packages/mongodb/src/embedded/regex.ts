/**
 * The embedded backend runs queries in the server process, so a tenant's regular expression runs there
 * too, outside any isolate limit: `^(a+)+$` against forty a's and a "!" held the event loop for hours.
 * V8 can fall back to its linear-time engine once a match backtracks too much; that engine cannot run
 * backreferences or lookarounds, so the embedded backend refuses those (MongoDB itself runs them, with
 * its own limits, behind --mongodb-uri).
 */
import v8 from "node:v8";
import { DataServiceError } from "../errors.js";
import type { DataOperation } from "../types.js";
import { bulkEntry } from "../validate.js";

// Process-wide and semantics-preserving: only how a regex that backtracks excessively is executed changes.
v8.setFlagsFromString("--enable-experimental-regexp-engine-on-excessive-backtracks");

const REGEX_EXPRESSIONS = new Set(["$regexMatch", "$regexFind", "$regexFindAll"]);

/** The first construct in `pattern` that only a backtracking engine runs, or undefined. */
export function backtrackingOnly(pattern: string): string | undefined {
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "\\") {
      const next = pattern[i + 1] ?? "";
      if (!inClass && (/[1-9]/.test(next) || next === "k")) return "a backreference";
      i++;
    } else if (inClass) {
      if (c === "]") inClass = false;
    } else if (c === "[") inClass = true;
    else if (c === "(" && /^\?<?[=!]/.test(pattern.slice(i + 1, i + 4))) return "a lookaround";
  }
  return undefined;
}

function check(pattern: string, where: string): void {
  const what = backtrackingOnly(pattern);
  if (what)
    throw new DataServiceError(
      "Unsupported",
      `${where}: the embedded store does not run regular expressions with ${what} (they can take exponential time in the server process); use a MongoDB server (--mongodb-uri) for /${pattern}/`,
    );
}

/** Every regular expression a filter, update or pipeline would run. */
function walk(v: unknown, where: string, parentKey: string): void {
  if (v === null || typeof v !== "object") return;
  if (v instanceof RegExp) return check(v.source, where);
  const tag = (v as { _bsontype?: unknown })._bsontype;
  if (tag === "BSONRegExp") return check(String((v as { pattern?: unknown }).pattern), where);
  if (typeof tag === "string" || ArrayBuffer.isView(v) || v instanceof Date) return;
  for (const [k, x] of Object.entries(v)) {
    if (typeof x === "string" && (k === "$regex" || (k === "regex" && REGEX_EXPRESSIONS.has(parentKey)))) check(x, where);
    else walk(x, where, k);
  }
}

/** Throws DataServiceError("Unsupported") for an operation whose regular expressions need backtracking. */
export function checkRegexes(op: DataOperation): void {
  if (op.kind === "bulkWrite") return op.operations.forEach((e, i) => checkRegexes(bulkEntry(e, i, op)));
  if ("filter" in op) walk(op.filter, "filter", "");
  if ("update" in op) walk(op.update, "update", "");
  if ("pipeline" in op) walk(op.pipeline, "pipeline", "");
}
