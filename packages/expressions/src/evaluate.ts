/**
 * Evaluates an expression to true/false (spec §3): keys are ANDed, `{}` is true, each key is an expansion,
 * a logical operator (%and/%or/%not, also with `$`) or a plain field name.
 */
import { bsonCompare, bsonEquals, isPlainObject } from "./bson.js";
import type { ExpressionContext } from "./context.js";
import { ExpressionError, FunctionCallFailed } from "./errors.js";
import { assertNesting, expandValue as expand, resolveExpansion, VALUE_OPERATORS, walk } from "./expand.js";

/** Comparison operators of a field's value spec, by name without prefix ($in and %in are the same). */
const COMPARISONS = new Set(["exists", "in", "nin", "eq", "ne", "gt", "gte", "lt", "lte", "not"]);

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `${typeof value} ${JSON.stringify(value)}`;
}

/** `$in` → "in"; undefined for anything that is not an operator key (`%%…` expansions are not operators). */
function operatorName(key: string): string | undefined {
  if (key.startsWith("$")) return key.slice(1);
  if (key.startsWith("%") && !key.startsWith("%%")) return key.slice(1);
  return undefined;
}

/** Equal, or one side is an array containing the other (spec §3). */
export function fieldMatches(left: unknown, right: unknown): boolean {
  if (bsonEquals(left, right)) return true;
  if (Array.isArray(left) && left.some((x) => bsonEquals(x, right))) return true;
  return Array.isArray(right) && right.some((y) => bsonEquals(left, y));
}

function isComparisonSpec(spec: unknown, key: string): spec is Record<string, unknown> {
  if (!isPlainObject(spec)) return false;
  const keys = Object.keys(spec);
  const ops = keys.filter((k) => operatorName(k) !== undefined && !VALUE_OPERATORS.has(k));
  if (ops.length === 0) return false;
  if (ops.length !== keys.length) {
    throw new ExpressionError(`'${key}': an operator object cannot mix operators (${ops[0]}) with other keys (${keys.find((k) => !ops.includes(k))})`);
  }
  for (const op of ops) {
    if (!COMPARISONS.has(operatorName(op)!)) throw new ExpressionError(`'${key}': unknown operator '${op}'`);
  }
  return true;
}

async function inList(left: unknown, rawOperand: unknown, key: string, op: string, ctx: ExpressionContext): Promise<boolean> {
  if (!Array.isArray(rawOperand) && !(typeof rawOperand === "string" && rawOperand.startsWith("%%")) && !isPlainObject(rawOperand)) {
    throw new ExpressionError(`'${key}': ${op} needs an array or an expansion, got ${describe(rawOperand)}`);
  }
  const operand = await expand(rawOperand, ctx);
  // An expansion that resolves to one value (or nothing) is a list of one (or none).
  const list = operand === undefined ? [] : Array.isArray(operand) ? operand : [operand];
  const lefts = Array.isArray(left) ? left : [left];
  return lefts.some((l) => list.some((r) => fieldMatches(l, r)));
}

async function applyComparison(left: unknown, op: string, rawOperand: unknown, key: string, ctx: ExpressionContext): Promise<boolean> {
  const name = operatorName(op)!;
  switch (name) {
    case "exists": {
      const want = await expand(rawOperand, ctx);
      return (left !== undefined) === Boolean(want);
    }
    case "in":
      return inList(left, rawOperand, key, op, ctx);
    case "nin":
      return !(await inList(left, rawOperand, key, op, ctx));
    case "eq":
      return fieldMatches(left, await expand(rawOperand, ctx));
    case "ne":
      return !fieldMatches(left, await expand(rawOperand, ctx));
    case "not":
      return !(await matchValue(left, rawOperand, key, ctx));
    default: {
      const right = await expand(rawOperand, ctx);
      const lefts = Array.isArray(left) ? left : [left];
      return lefts.some((l) => {
        const c = bsonCompare(l, right);
        if (c === undefined) return false;
        return name === "gt" ? c > 0 : name === "gte" ? c >= 0 : name === "lt" ? c < 0 : c <= 0;
      });
    }
  }
}

/** Does `left` (a resolved key) satisfy `spec` (a literal, an expansion, a value operator or an operator object)? */
async function matchValue(left: unknown, spec: unknown, key: string, ctx: ExpressionContext): Promise<boolean> {
  if (isComparisonSpec(spec, key)) {
    for (const [op, operand] of Object.entries(spec)) {
      if (!(await applyComparison(left, op, operand, key, ctx))) return false;
    }
    return true;
  }
  return fieldMatches(left, await expand(spec, ctx));
}

function resolveKey(key: string, ctx: ExpressionContext): unknown {
  if (key.startsWith("%%")) return resolveExpansion(key, ctx);
  if (ctx.plainKeysRefer === "root") return walk(ctx.root, key.split("."));
  if (ctx.plainKeysRefer === "args") return walk(ctx.args, key.split("."));
  throw new ExpressionError(`field name '${key}' has no meaning here: plain names refer to %%root in MongoDB rules and %%args in service rules`);
}

async function evalExpression(expression: unknown, ctx: ExpressionContext, where: string): Promise<boolean> {
  if (expression === true || expression === false) return expression;
  if (!isPlainObject(expression)) throw new ExpressionError(`${where}: an expression must be true, false or an object, got ${describe(expression)}`);
  for (const [key, value] of Object.entries(expression)) {
    if (!(await evalKey(key, value, ctx))) return false;
  }
  return true;
}

async function evalKey(key: string, value: unknown, ctx: ExpressionContext): Promise<boolean> {
  const op = key.startsWith("%%") ? undefined : operatorName(key);
  if (op === "and" || op === "or") {
    if (!Array.isArray(value)) throw new ExpressionError(`'${key}' needs an array of expressions, got ${describe(value)}`);
    for (const [i, sub] of value.entries()) {
      const result = await evalExpression(sub, ctx, `${key}[${i}]`);
      if (op === "and" && !result) return false;
      if (op === "or" && result) return true;
    }
    return op === "and";
  }
  if (op === "not") return !(await evalExpression(value, ctx, key));
  if (op !== undefined) {
    const hint = VALUE_OPERATORS.has(key) ? ` (write {"%%true": {"${key}": …}})` : "";
    throw new ExpressionError(`unknown operator '${key}' at the top of an expression${hint}`);
  }
  return matchValue(resolveKey(key, ctx), value, key, ctx);
}

/**
 * True or false for `expression` in `ctx`. An undefined expression is true (an absent apply_when or
 * can_evaluate allows). A %function that throws makes the whole expression false (C104); malformed
 * expressions throw ExpressionError.
 */
export async function evaluate(expression: unknown, ctx: ExpressionContext): Promise<boolean> {
  if (expression === undefined) return true;
  assertNesting(expression, "the expression");
  try {
    return await evalExpression(expression, ctx, "expression");
  } catch (e) {
    if (e instanceof FunctionCallFailed) return false;
    throw e;
  }
}
