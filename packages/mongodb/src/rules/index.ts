/**
 * The rules engine: roles, filters and field permissions for every non-system call (spec §7). The data
 * service calls execute() instead of its backend for non-system callers; system callers bypass it.
 */
import type { ExpressionContext } from "@restitch/expressions";
import { DataServiceError } from "../errors.js";
import type { Caller, DataOperation, DataService, RulesEngine } from "../types.js";
import { bulkEntry, checkOperation } from "../validate.js";
import { activeFilters } from "./filters.js";
import { checkUserQuery } from "./guard.js";
import { Permissions } from "./permissions.js";
import { aggregate, count, distinct, find } from "./reads.js";
import type { RuleRun } from "./run.js";
import type { RuleSet, RulesSource } from "./types.js";
import { findOneAnd, insert, remove, update } from "./writes.js";

export type { FieldPermission, FilterDef, RoleDef, RuleSet, RulesSource } from "./types.js";

/** The expression context shared by every call: values, environment, request, %function. Not the user or document. */
export type RulesContext = Omit<ExpressionContext, "root" | "prevRoot" | "user" | "this" | "prev" | "plainKeysRefer">;

/**
 * A collection's rules.json shadows default_rule.json entirely (C134, C135); neither → undefined.
 */
export function rulesFor(source: RulesSource, database: string, collection: string): RuleSet | undefined {
  return source.rules.get(`${database}.${collection}`) ?? source.defaultRule;
}

export function createRulesEngine(source: RulesSource, ctx: RulesContext = {}): RulesEngine {
  return {
    async execute(op: DataOperation, caller: Caller & { system: false }, service: DataService): Promise<unknown> {
      checkOperation(op); // the same errors, in the same words, as the backends give
      const ruleSet = rulesFor(source, op.database, op.collection);
      const ns = `${op.database}.${op.collection}`;
      if (ruleSet === undefined) throw new DataServiceError("NoMatchingRuleFound", `no rule exists for namespace '${ns}'`);
      if (op.kind === "createIndex") throw new DataServiceError("Forbidden", "createIndex is only available to system users");
      if ("filter" in op) checkUserQuery(op.filter, "filter");
      const base: ExpressionContext = { ...ctx, user: caller.user, plainKeysRefer: "root" };
      const perms = new Permissions(ruleSet.roles ?? [], base, ns);
      const run: RuleRun = {
        service,
        database: op.database,
        collection: op.collection,
        perms,
        filters: await activeFilters(ruleSet.filters ?? [], perms, base, ns),
        uniform: await perms.uniformRole(),
      };
      return dispatch(run, op, (entry) => this.execute(entry, caller, service));
    },
  };
}

async function dispatch(run: RuleRun, op: DataOperation, again: (op: DataOperation) => Promise<unknown>): Promise<unknown> {
  switch (op.kind) {
    case "find":
      return find(run, op);
    case "findOne":
      return (await find(run, op))[0] ?? null;
    case "count":
      return count(run, op);
    case "distinct":
      return distinct(run, op);
    case "aggregate":
      return aggregate(run, op);
    case "insertOne":
    case "insertMany":
      return insert(run, op);
    case "updateOne":
    case "updateMany":
    case "replaceOne":
      return update(run, op);
    case "deleteOne":
    case "deleteMany":
      return remove(run, op);
    case "findOneAndUpdate":
    case "findOneAndReplace":
    case "findOneAndDelete":
      return findOneAnd(run, op);
    case "bulkWrite": {
      // Each entry is checked and applied in turn, like the backends apply them: earlier entries stay
      // written when a later one is denied (ordered stops there; unordered goes on, then reports the first).
      let firstError: unknown;
      for (const [i, entry] of op.operations.entries()) {
        try {
          await again(bulkEntry(entry, i, op));
        } catch (e) {
          firstError ??= e;
          if (op.ordered) break;
        }
      }
      if (firstError !== undefined) throw firstError;
      return null;
    }
    default:
      throw new DataServiceError("InvalidOperation", `operation '${(op as { kind: string }).kind}' is not supported for non-system users`);
  }
}
