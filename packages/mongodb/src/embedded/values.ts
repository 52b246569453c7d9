/**
 * Value helpers for the embedded backend: canonical key bytes for _id and unique indexes, and the
 * normalization mingo needs (it compares JS numbers and RegExps, not BSON Int32/Long/Double/BSONRegExp).
 */
import { serialize, ObjectId } from "bson";
import { isPlainObject } from "../validate.js";

type BsonTagged = { _bsontype?: string };

/** Int32/Double/safe Long → number and BSONRegExp → RegExp, recursively; other values untouched. */
export function normalizeForQuery(v: unknown, depth = 0): unknown {
  if (depth > 120) return v; // BSON itself caps nesting at 100; the guard rejects deeper input earlier.
  if (Array.isArray(v)) return v.map((x) => normalizeForQuery(x, depth + 1));
  if (v === null || typeof v !== "object") return v;
  const tag = (v as BsonTagged)._bsontype;
  if (tag === "Int32" || tag === "Double") return (v as { valueOf(): number }).valueOf();
  if (tag === "Long") {
    const n = (v as { toNumber(): number }).toNumber();
    return Number.isSafeInteger(n) ? n : v;
  }
  if (tag === "BSONRegExp") {
    const r = v as { pattern: string; options: string };
    // JS RegExp lacks the x/l/u BSON flags; keep the ones it understands.
    return new RegExp(r.pattern, [...r.options].filter((f) => "imsu".includes(f)).join(""));
  }
  if (!isPlainObject(v)) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = normalizeForQuery(x, depth + 1);
  return out;
}

/** Canonical bytes of a value, equal for values MongoDB treats as equal keys (1, Int32(1), Long(1), 1.0). */
export function keyBytes(v: unknown): Uint8Array {
  return serialize({ k: normalizeForQuery(v === undefined ? null : v) });
}

/** Value at a dotted path; arrays along the way fan out (MongoDB multikey semantics). */
export function valuesAtPath(doc: unknown, path: string): unknown[] {
  const parts = path.split(".");
  const out: unknown[] = [];
  const walk = (cur: unknown, i: number): void => {
    if (i === parts.length) return void out.push(cur);
    if (Array.isArray(cur)) {
      const idx = Number(parts[i]);
      if (Number.isInteger(idx) && /^\d+$/.test(parts[i]!)) return walk(cur[idx], i + 1);
      for (const el of cur) if (el !== null && typeof el === "object") walk(el, i);
      return;
    }
    if (cur === null || typeof cur !== "object") return void out.push(undefined);
    walk((cur as Record<string, unknown>)[parts[i]!], i + 1);
  };
  walk(doc, 0);
  return out;
}

/** Puts _id first (as mongod does), generating an ObjectId when absent. */
export function withId(doc: Record<string, unknown>): Record<string, unknown> {
  if (doc._id === undefined) return { _id: new ObjectId(), ...doc };
  const { _id, ...rest } = doc;
  return { _id, ...rest };
}

/** The document an upsert starts from: the filter's equality conditions (top level, $eq, $and). */
export function upsertSeed(filter: Record<string, unknown>): Record<string, unknown> {
  const seed: Record<string, unknown> = {};
  const take = (f: Record<string, unknown>): void => {
    for (const [k, v] of Object.entries(f)) {
      if (k === "$and" && Array.isArray(v)) {
        v.forEach((x) => isPlainObject(x) && take(x));
        continue;
      }
      if (k.startsWith("$")) continue;
      if (isPlainObject(v) && Object.keys(v).some((x) => x.startsWith("$"))) {
        if ("$eq" in v) setPath(seed, k, v.$eq);
        continue;
      }
      if (v instanceof RegExp || (v as BsonTagged | null)?._bsontype === "BSONRegExp") continue;
      setPath(seed, k, v);
    }
  };
  take(filter);
  return seed;
}

function setPath(doc: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split(".");
  let cur = doc;
  for (const p of parts.slice(0, -1)) {
    if (!isPlainObject(cur[p])) cur[p] = {};
    cur = cur[p] as Record<string, unknown>;
  }
  cur[parts[parts.length - 1]!] = value;
}
