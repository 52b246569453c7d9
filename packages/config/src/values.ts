import path from "node:path";
import type { LoadContext } from "./context.js";
import { isObj, typeName } from "./fields.js";
import type { ValueDef } from "./types.js";

/**
 * Secrets are never part of an export; Restitch reads them from a flat JSON object
 * { "<secret name>": "<value>" }. Missing default file = no secrets; a missing explicit file is a problem.
 * No message here ever contains a secret value.
 */
export async function loadSecrets(ctx: LoadContext, secretsFile: string | undefined): Promise<void> {
  const abs = secretsFile ? path.resolve(secretsFile) : ctx.abs("secrets.json");
  const rel = path.relative(ctx.dir, abs);
  const file = rel && !rel.startsWith("..") && !path.isAbsolute(rel) ? rel.split(path.sep).join("/") : abs;
  ctx.secretsFile = file;
  const json = await ctx.readJson(file, abs);
  if (json.kind === "missing") {
    if (secretsFile) ctx.report.problem(file, undefined, "secrets file not found");
    return;
  }
  if (json.kind !== "ok") return;
  if (!isObj(json.value)) {
    ctx.report.problem(file, undefined, `expected a JSON object of secret name to string value, got ${typeName(json.value)}`);
    return;
  }
  for (const [name, value] of Object.entries(json.value)) {
    if (typeof value === "string") ctx.secrets.set(name, value);
    else ctx.report.problem(file, name, `secret values must be strings, got ${typeName(value)}`);
  }
}

/** values/<name>.json: { id?, name, value, from_secret }. A from_secret value resolves to the secret's string. */
export async function loadValues(ctx: LoadContext): Promise<Map<string, ValueDef>> {
  const values = new Map<string, ValueDef>();
  const where = new Map<string, string>();
  for (const entry of await ctx.list("values")) {
    if (entry.dir || !entry.name.endsWith(".json")) continue;
    const file = `values/${entry.name}`;
    const f = (await ctx.readFields(file))?.accept("id");
    if (!f) continue;
    const name = f.string("name") ?? entry.name.slice(0, -".json".length);
    const fromSecret = f.bool("from_secret") ?? false;
    let value = f.raw("value");
    if (fromSecret) {
      // The value holds the secret's name; hand consumers the secret itself (context.values.get, C75).
      if (typeof value !== "string") {
        f.problem("value", `from_secret values must name a secret (a string), got ${typeName(value)}`);
        value = undefined;
      } else {
        ctx.checkSecret(file, "value", value);
        value = ctx.secrets.get(value);
      }
    } else if (value === undefined) f.problem("value", "is required");
    f.finish();
    const previous = where.get(name);
    if (previous) {
      ctx.report.problem(file, "name", `value "${name}" is already defined in ${previous}`);
      continue;
    }
    where.set(name, file);
    values.set(name, { name, value, fromSecret });
  }
  return values;
}

/**
 * environments/<tag>.json (no-environment.json for ""): { "values": { … } }. Every environment file is
 * checked (a broken one fails now, not when the app is switched to it); the active tag's values are
 * returned, {} when its file is absent.
 */
export async function loadEnvironmentValues(ctx: LoadContext, tag: string): Promise<Record<string, unknown>> {
  const active = `${tag || "no-environment"}.json`;
  let result: Record<string, unknown> = {};
  for (const entry of await ctx.list("environments")) {
    if (entry.dir || !entry.name.endsWith(".json")) continue;
    const f = await ctx.readFields(`environments/${entry.name}`);
    if (!f) continue;
    const values = f.object("values") ?? {};
    f.finish();
    if (entry.name === active) result = values;
  }
  return result;
}
