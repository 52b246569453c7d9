import { Fields, isObj, typeName, type Obj } from "./fields.js";
import type { Report } from "./problems.js";
import type { CollectionRules, Expression, FieldPermission, Filter, Role } from "./types.js";

/**
 * MongoDB rules: roles and filters (spec §7). The raw snake_case shape is kept in the model (the
 * rules engine matches the docs), but every field is type-checked here.
 */
export function readRolesAndFilters(report: Report, file: string, f: Fields): { roles: Role[]; filters: Filter[] } {
  const roles: Role[] = [];
  const filters: Filter[] = [];
  f.array("roles")?.forEach((r, i) => {
    const role = readRole(report, file, r, f.path(`roles[${i}]`));
    if (role) roles.push(role);
  });
  f.array("filters")?.forEach((x, i) => {
    const filter = readFilter(report, file, x, f.path(`filters[${i}]`));
    if (filter) filters.push(filter);
  });
  return { roles, filters };
}

/** rules.json: { database, collection, roles, filters } (+ schema-era keys that Restitch ignores). */
export function readCollectionRules(report: Report, file: string, value: unknown): CollectionRules | undefined {
  if (!isObj(value)) {
    report.problem(file, undefined, `expected a JSON object, got ${typeName(value)}`);
    return undefined;
  }
  const f = new Fields(report, file, value).accept("id", "schema", "relationships");
  const database = f.requiredString("database");
  const collection = f.requiredString("collection");
  const { roles, filters } = readRolesAndFilters(report, file, f);
  f.finish();
  if (database === undefined || collection === undefined) return undefined;
  return { database, collection, roles, filters };
}

function permission(f: Fields, key: string): Expression | boolean | undefined {
  return f.expr(key);
}

function readRole(report: Report, file: string, value: unknown, at: string): Role | undefined {
  if (!isObj(value)) {
    report.problem(file, at, `expected a role object, got ${typeName(value)}`);
    return undefined;
  }
  const f = new Fields(report, file, value, at).accept("id");
  const role: Role = { name: f.requiredString("name") ?? "" };
  const set = <K extends keyof Role>(k: K, v: Role[K] | undefined) => {
    if (v !== undefined) role[k] = v;
  };
  set("apply_when", f.expr("apply_when"));
  const df = f.sub("document_filters");
  if (df) {
    const docFilters: Role["document_filters"] = {};
    const read = df.expr("read");
    const write = df.expr("write");
    if (read !== undefined) docFilters.read = read;
    if (write !== undefined) docFilters.write = write;
    df.finish();
    role.document_filters = docFilters;
  }
  for (const k of ["read", "write", "insert", "delete", "search"] as const) set(k, permission(f, k));
  const fields = f.sub("fields");
  if (fields) role.fields = readFieldPermissions(fields);
  const add = f.sub("additional_fields");
  if (add) {
    const extra: NonNullable<Role["additional_fields"]> = {};
    const read = permission(add, "read");
    const write = permission(add, "write");
    if (read !== undefined) extra.read = read;
    if (write !== undefined) extra.write = write;
    add.finish();
    role.additional_fields = extra;
  }
  f.finish();
  return role;
}

/** fields: { "<name>": { read, write, fields: {…} } } — any key is a field name, so nothing is "unknown" at this level. */
function readFieldPermissions(f: Fields): Record<string, FieldPermission> {
  const out: Record<string, FieldPermission> = {};
  for (const name of Object.keys(f.obj)) {
    const sub = f.sub(name);
    if (!sub) continue;
    const p: FieldPermission = {};
    const read = permission(sub, "read");
    const write = permission(sub, "write");
    if (read !== undefined) p.read = read;
    if (write !== undefined) p.write = write;
    const nested = sub.sub("fields");
    if (nested) p.fields = readFieldPermissions(nested);
    sub.finish();
    out[name] = p;
  }
  return out;
}

function readFilter(report: Report, file: string, value: unknown, at: string): Filter | undefined {
  if (!isObj(value)) {
    report.problem(file, at, `expected a filter object, got ${typeName(value)}`);
    return undefined;
  }
  const f = new Fields(report, file, value, at).accept("id");
  const filter: Filter = { name: f.requiredString("name") ?? "" };
  const applyWhen = f.expr("apply_when");
  const query: Obj | undefined = f.object("query");
  const projection: Obj | undefined = f.object("projection");
  if (applyWhen !== undefined) filter.apply_when = applyWhen;
  if (query !== undefined) filter.query = query;
  if (projection !== undefined) filter.projection = projection;
  f.finish();
  return filter;
}
