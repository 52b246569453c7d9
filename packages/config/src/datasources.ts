import type { LoadContext } from "./context.js";
import { readCollectionRules, readRolesAndFilters } from "./rules.js";
import { readServiceDir, type ServiceDir } from "./services.js";
import type { CollectionRules, DataSourceDef } from "./types.js";

/** data_sources/<svc>/ plus legacy services/<svc> of a MongoDB type. */
export async function loadDataSources(ctx: LoadContext, legacyMongo: ServiceDir[]): Promise<DataSourceDef[]> {
  const dirs: ServiceDir[] = [];
  for (const e of await ctx.list("data_sources")) {
    if (!e.dir) continue;
    const svc = await readServiceDir(ctx, `data_sources/${e.name}`, false);
    if (svc) dirs.push(svc);
  }
  dirs.push(...legacyMongo);

  const out: DataSourceDef[] = [];
  const names = new Map<string, string>();
  for (const svc of dirs) {
    if (svc.type === undefined) continue; // already reported: data source without type
    const previous = names.get(svc.name);
    if (previous) {
      ctx.report.problem(`${svc.dir}/config.json`, "name", `data source "${svc.name}" is already defined in ${previous}`);
      continue;
    }
    names.set(svc.name, svc.dir);
    const def: DataSourceDef = { name: svc.name, type: svc.type, config: svc.config, dir: svc.dir, rules: svc.legacy ? await legacyRules(ctx, svc.dir) : await collectionRules(ctx, svc.dir) };
    const defaultRule = await readDefaultRule(ctx, `${svc.dir}/default_rule.json`);
    if (defaultRule) def.defaultRule = defaultRule;
    out.push(def);
  }
  return out;
}

/** <svc>/<db>/<coll>/rules.json; database and collection must match the directory path. */
async function collectionRules(ctx: LoadContext, dir: string): Promise<Map<string, CollectionRules>> {
  const rules = new Map<string, CollectionRules>();
  for (const db of await ctx.list(dir)) {
    if (!db.dir) continue;
    for (const coll of await ctx.list(`${dir}/${db.name}`)) {
      if (!coll.dir) continue;
      const file = `${dir}/${db.name}/${coll.name}/rules.json`;
      const json = await ctx.readJson(file);
      if (json.kind !== "ok") continue;
      const r = readCollectionRules(ctx.report, file, json.value);
      if (!r) continue;
      if (r.database !== db.name) ctx.report.problem(file, "database", `"${r.database}" does not match the directory "${db.name}"`);
      if (r.collection !== coll.name) ctx.report.problem(file, "collection", `"${r.collection}" does not match the directory "${coll.name}"`);
      if (r.database === db.name && r.collection === coll.name) rules.set(`${r.database}.${r.collection}`, r);
    }
  }
  return rules;
}

/** realm-cli v1: services/<svc>/rules/<db>.<coll>.json. */
async function legacyRules(ctx: LoadContext, dir: string): Promise<Map<string, CollectionRules>> {
  const rules = new Map<string, CollectionRules>();
  for (const e of await ctx.list(`${dir}/rules`)) {
    if (e.dir || !e.name.endsWith(".json")) continue;
    const file = `${dir}/rules/${e.name}`;
    const json = await ctx.readJson(file);
    if (json.kind !== "ok") continue;
    const r = readCollectionRules(ctx.report, file, json.value);
    if (!r) continue;
    const ns = `${r.database}.${r.collection}`;
    if (e.name !== `${ns}.json`) ctx.report.problem(file, "database", `namespace "${ns}" does not match the file name "${e.name}"`);
    else if (rules.has(ns)) ctx.report.problem(file, undefined, `rules for "${ns}" are defined twice`);
    else rules.set(ns, r);
  }
  return rules;
}

async function readDefaultRule(ctx: LoadContext, file: string): Promise<DataSourceDef["defaultRule"]> {
  const f = (await ctx.readFields(file))?.accept("id");
  if (!f) return undefined;
  const rule = readRolesAndFilters(ctx.report, file, f);
  f.finish();
  return rule;
}
