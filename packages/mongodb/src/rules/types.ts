/**
 * The rule shapes the engine reads. Structurally the same as @restitch/config's DataSourceDef / Role /
 * Filter (declared here so the engine does not wait on the loader; any DataSourceDef satisfies RulesSource).
 */
import type { Expression } from "@restitch/expressions";

export type Permission = Expression | undefined;

export interface FieldPermission {
  read?: Permission;
  write?: Permission;
  fields?: Record<string, FieldPermission>;
}

export interface RoleDef {
  name: string;
  apply_when?: Expression;
  document_filters?: { read?: Permission; write?: Permission };
  read?: Permission;
  write?: Permission;
  insert?: Permission;
  delete?: Permission;
  search?: Permission;
  fields?: Record<string, FieldPermission>;
  additional_fields?: { read?: Permission; write?: Permission };
}

export interface FilterDef {
  name: string;
  apply_when?: Expression;
  query?: Record<string, unknown>;
  projection?: Record<string, unknown>;
}

export interface RuleSet {
  roles: RoleDef[];
  filters: FilterDef[];
}

/** data_sources/<svc>/: per-collection rules.json keyed "db.coll", and default_rule.json. */
export interface RulesSource {
  rules: Map<string, RuleSet>;
  defaultRule?: RuleSet;
}

// Compile-time proof that the loader's model (@restitch/config) satisfies what the engine reads.
type Expect<T extends true> = T;
export type DataSourceDefIsRulesSource = Expect<import("@restitch/config").DataSourceDef extends RulesSource ? true : false>;
