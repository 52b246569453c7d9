/**
 * %% expansions and the value operators (%function, %stringToOid, %oidToString, %stringToUuid,
 * %uuidToString). expand() replaces them anywhere inside a value, e.g. a filter's query.
 */
import { Binary, ObjectId, UUID } from "bson";
import { bsonTypeOf, isPlainObject } from "./bson.js";
import type { ExpressionContext } from "./context.js";
import { ExpressionError, FunctionCallFailed } from "./errors.js";

export const VALUE_OPERATORS = new Set(["%function", "%stringToOid", "%oidToString", "%stringToUuid", "%uuidToString"]);

/** Walks a dotted path; a non-numeric segment over an array collects that field from every element. */
export function walk(value: unknown, segments: readonly string[]): unknown {
  let current = value;
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i]!;
    if (current === null || current === undefined) return undefined;
    if (Array.isArray(current)) {
      if (/^\d+$/.test(seg)) {
        current = current[Number(seg)];
        continue;
      }
      const rest = segments.slice(i);
      return current.flatMap((el) => {
        const v = walk(el, rest);
        return v === undefined ? [] : [v];
      });
    }
    if (typeof current !== "object" || bsonTypeOf(current) !== undefined) return undefined;
    current = Object.hasOwn(current, seg) ? (current as Record<string, unknown>)[seg] : undefined;
  }
  return current;
}

function headerLookup(headers: unknown, name: string | undefined, rest: string[]): unknown {
  if (name === undefined) return headers;
  if (headers === null || typeof headers !== "object") return undefined;
  const lower = name.toLowerCase();
  const key = Object.keys(headers).find((k) => k.toLowerCase() === lower);
  return key === undefined ? undefined : walk((headers as Record<string, unknown>)[key], rest);
}

/** The value of one %% expansion, e.g. "%%user.custom_data.team". */
export function resolveExpansion(expansion: string, ctx: ExpressionContext): unknown {
  const [head, ...rest] = expansion.slice(2).split(".");
  switch (head) {
    case "true":
    case "false":
      if (rest.length > 0) throw new ExpressionError(`expansion '${expansion}' has no fields`);
      return head === "true";
    case "values": {
      const [name, ...path] = rest;
      if (name === undefined) throw new ExpressionError(`expansion '${expansion}' needs a value name (%%values.<name>)`);
      return walk(ctx.values?.(name), path);
    }
    case "environment":
      return walk(ctx.environment, rest);
    case "request": {
      const [field, name, ...path] = rest;
      // Older docs spell it %%request.headers.<name> (spec §3).
      if (field === "requestHeaders" || field === "headers") return headerLookup(ctx.request?.requestHeaders, name, path);
      return walk(ctx.request, rest);
    }
    case "user":
      return walk(ctx.user, rest);
    case "root":
      return walk(ctx.root, rest);
    case "prevRoot":
      return walk(ctx.prevRoot, rest);
    case "this":
      return walk("this" in ctx ? ctx.this : ctx.root, rest);
    case "prev":
      return walk("prev" in ctx ? ctx.prev : ctx.prevRoot, rest);
    case "args":
      return walk(ctx.args, rest);
    case "partition":
      throw new ExpressionError(`expansion '${expansion}' belongs to Device Sync, which Restitch does not serve`);
    default:
      throw new ExpressionError(`unknown expansion '${expansion}'`);
  }
}

/** Operands of the conversion operators take expansions but no nested operators (spec §3). */
function conversionOperand(op: string, operand: unknown, ctx: ExpressionContext): unknown {
  if (typeof operand === "string" && operand.startsWith("%%")) return resolveExpansion(operand, ctx);
  if (isPlainObject(operand)) throw new ExpressionError(`${op} takes a value or an expansion, not an object`);
  return operand;
}

function mapMaybeArray(value: unknown, fn: (v: unknown) => unknown): unknown {
  if (value === undefined || value === null) return value;
  return Array.isArray(value) ? value.map(fn) : fn(value);
}

function toOid(v: unknown): unknown {
  if (bsonTypeOf(v) === "ObjectId") return v;
  if (typeof v === "string" && (/^[0-9a-fA-F]{24}$/.test(v) || v.length === 12)) return new ObjectId(v);
  throw new ExpressionError(`%stringToOid: ${JSON.stringify(v)} is not a 24-character hex string or a 12-byte string`);
}

function fromOid(v: unknown): unknown {
  if (typeof v === "string") return v;
  if (bsonTypeOf(v) === "ObjectId") return (v as ObjectId).toHexString();
  throw new ExpressionError(`%oidToString: ${JSON.stringify(v)} is not an ObjectId`);
}

function toUuid(v: unknown): unknown {
  const t = bsonTypeOf(v);
  if (t === "UUID" || (t === "Binary" && (v as Binary).sub_type === Binary.SUBTYPE_UUID)) return v;
  if (typeof v === "string" && UUID.isValid(v)) return new UUID(v);
  throw new ExpressionError(`%stringToUuid: ${JSON.stringify(v)} is not a UUID string`);
}

function fromUuid(v: unknown): unknown {
  if (typeof v === "string") return v;
  const t = bsonTypeOf(v);
  if (t === "UUID" || (t === "Binary" && (v as Binary).sub_type === Binary.SUBTYPE_UUID)) return (v as Binary).toUUID().toHexString(true);
  throw new ExpressionError(`%uuidToString: ${JSON.stringify(v)} is not a UUID`);
}

async function callFunctionOperator(spec: unknown, ctx: ExpressionContext): Promise<unknown> {
  if (!isPlainObject(spec) || typeof spec.name !== "string" || spec.name === "") {
    throw new ExpressionError(`%function needs {"name": "<function name>", "arguments": [...]}`);
  }
  const unknownKeys = Object.keys(spec).filter((k) => k !== "name" && k !== "arguments");
  if (unknownKeys.length > 0) throw new ExpressionError(`%function has unknown field '${unknownKeys[0]}' (allowed: name, arguments)`);
  const rawArgs = spec.arguments ?? [];
  if (!Array.isArray(rawArgs)) throw new ExpressionError(`%function '${spec.name}': arguments must be an array`);
  if (ctx.callFunction === undefined) throw new ExpressionError(`%function '${spec.name}': functions cannot be called here (no host callFunction)`);
  const args = (await expandValue(rawArgs, ctx)) as unknown[];
  try {
    return await ctx.callFunction(spec.name, args);
  } catch (e) {
    throw new FunctionCallFailed(spec.name, e);
  }
}

async function applyValueOperator(op: string, operand: unknown, ctx: ExpressionContext): Promise<unknown> {
  switch (op) {
    case "%function":
      return callFunctionOperator(operand, ctx);
    case "%stringToOid":
      return mapMaybeArray(conversionOperand(op, operand, ctx), toOid);
    case "%oidToString":
      return mapMaybeArray(conversionOperand(op, operand, ctx), fromOid);
    case "%stringToUuid":
      return mapMaybeArray(conversionOperand(op, operand, ctx), toUuid);
    default:
      return mapMaybeArray(conversionOperand(op, operand, ctx), fromUuid);
  }
}

/** A one-key object whose key is a value operator, e.g. {"%stringToOid": "%%user.id"}. */
export function valueOperatorOf(value: unknown): string | undefined {
  if (!isPlainObject(value)) return undefined;
  const keys = Object.keys(value);
  if (keys.length !== 1 || !VALUE_OPERATORS.has(keys[0]!)) {
    const op = keys.find((k) => VALUE_OPERATORS.has(k));
    if (op !== undefined) throw new ExpressionError(`${op} must be the only key of its object`);
    return undefined;
  }
  return keys[0];
}

/**
 * Replaces every %%expansion string and value operator inside `value`; object keys and everything else
 * stay as they are (so a filter query like {owner_id: "%%user.id", n: {$gt: 1}} keeps its operators).
 */
export async function expand(value: unknown, ctx: ExpressionContext): Promise<unknown> {
  assertNesting(value, "the value");
  return expandValue(value, ctx);
}

/** expand() without the nesting check, for values already checked as part of a whole expression. */
export async function expandValue(value: unknown, ctx: ExpressionContext): Promise<unknown> {
  if (typeof value === "string") return value.startsWith("%%") ? resolveExpansion(value, ctx) : value;
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    for (const item of value) out.push(await expandValue(item, ctx));
    return out;
  }
  if (!isPlainObject(value)) return value;
  const op = valueOperatorOf(value);
  if (op !== undefined) return applyValueOperator(op, value[op], ctx);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = await expandValue(v, ctx);
  return out;
}

/**
 * MongoDB's own limit on document nesting. Evaluation recurses once per level, so a deeper expression
 * would overflow the stack (a RangeError instead of a clear error); it is refused before it is walked.
 */
export const MAX_NESTING = 100;

/** Whether `value` has more than `levels` levels of arrays and objects (stops as soon as it knows). */
export function deeperThan(value: unknown, levels: number): boolean {
  if (Array.isArray(value)) return levels === 0 || value.some((v) => deeperThan(v, levels - 1));
  if (!isPlainObject(value)) return false;
  if (levels === 0) return true;
  for (const v of Object.values(value)) if (deeperThan(v, levels - 1)) return true;
  return false;
}

export function assertNesting(value: unknown, what: string): void {
  if (deeperThan(value, MAX_NESTING)) throw new ExpressionError(`${what} is nested deeper than ${MAX_NESTING} levels`);
}
