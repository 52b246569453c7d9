/**
 * What a non-system caller may not send (spec §2.3, LIM): system-only query operators, and aggregation
 * stages that would read or write around the rules (other collections, $out/$merge, admin stages).
 */
import { DataServiceError } from "../errors.js";
import { isPlainObject } from "../validate.js";

const SYSTEM_ONLY_QUERY_OPERATORS = new Set([
  "$where", "$expr", "$jsonSchema", "$text", "$regex",
  "$near", "$nearSphere", "$geoWithin", "$geoIntersects", "$within", "$box", "$center", "$centerSphere", "$polygon",
  "$bitsAllSet", "$bitsAnySet", "$bitsAllClear", "$bitsAnyClear",
  "$function", "$accumulator",
]);

const SYSTEM_ONLY_STAGES = new Set([
  "$out", "$merge", "$currentOp", "$indexStats", "$collStats", "$listSessions", "$listLocalSessions", "$planCacheStats",
  // Other collections would be read without their own rules.
  "$lookup", "$graphLookup", "$unionWith", "$documents",
  // Must be the first stage, so the rules cannot narrow the input before them.
  "$search", "$searchMeta", "$vectorSearch", "$listSearchIndexes", "$changeStream",
]);

function isRegex(v: unknown): boolean {
  return v instanceof RegExp || (v as { _bsontype?: unknown } | null)?._bsontype === "BSONRegExp";
}

/** Throws Forbidden when `value` (a filter, or part of a pipeline) uses a system-only operator. */
export function checkUserQuery(value: unknown, what: string): void {
  if (Array.isArray(value)) return value.forEach((v, i) => checkUserQuery(v, `${what}[${i}]`));
  if (isRegex(value)) throw new DataServiceError("Forbidden", `${what}: regular expressions ($regex) are only available to system users`);
  if (!isPlainObject(value)) return;
  for (const [k, v] of Object.entries(value)) {
    if (SYSTEM_ONLY_QUERY_OPERATORS.has(k)) throw new DataServiceError("Forbidden", `${what}: ${k} is only available to system users`);
    checkUserQuery(v, `${what}.${k}`);
  }
}

/** Throws Forbidden for stages a non-system caller may not run (also inside $facet). */
export function checkUserPipeline(pipeline: unknown[], what = "pipeline"): void {
  pipeline.forEach((stage, i) => {
    if (!isPlainObject(stage)) return;
    for (const [name, body] of Object.entries(stage)) {
      if (SYSTEM_ONLY_STAGES.has(name)) throw new DataServiceError("Forbidden", `${what}[${i}]: the ${name} stage is only available to system users`);
      if (name === "$facet" && isPlainObject(body)) {
        for (const [facet, sub] of Object.entries(body)) if (Array.isArray(sub)) checkUserPipeline(sub, `${what}[${i}].$facet.${facet}`);
        continue;
      }
      if (name === "$match") checkUserQuery(body, `${what}[${i}].$match`);
      else checkServerScript(body, `${what}[${i}].${name}`);
    }
  });
}

/** Server-side JavaScript in aggregation expressions ($function, $accumulator) is system-only too. */
function checkServerScript(value: unknown, what: string): void {
  if (Array.isArray(value)) return value.forEach((v, i) => checkServerScript(v, `${what}[${i}]`));
  if (!isPlainObject(value)) return;
  for (const [k, v] of Object.entries(value)) {
    if (k === "$function" || k === "$accumulator" || k === "$where") throw new DataServiceError("Forbidden", `${what}: ${k} is only available to system users`);
    checkServerScript(v, `${what}.${k}`);
  }
}
