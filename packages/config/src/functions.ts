import type { LoadContext } from "./context.js";
import { defined, Fields, isObj, readRunAs, typeName } from "./fields.js";
import type { Expression, FunctionDef, RunAs } from "./types.js";

/** What functions/config.json (or a legacy functions/<name>/config.json) says about one function. */
interface FunctionSettings extends RunAs {
  file: string;
  /** Field path of the entry's name, for messages. */
  field: string;
  private?: boolean;
  canEvaluate?: Expression;
  disableArgLogs?: boolean;
}

const SKIP_DIRS = new Set(["node_modules"]);

/**
 * Functions come from two layouts: functions/<name>.js (names may contain "/") with settings in
 * functions/config.json, and the older functions/<name>/source.js with functions/<name>/config.json.
 * A source without settings gets the defaults (public, application auth).
 */
export async function loadFunctions(ctx: LoadContext): Promise<Map<string, FunctionDef>> {
  const settings = await readFunctionsConfig(ctx);
  const sources = new Map<string, string>(); // name -> file
  await walk(ctx, "functions", "", settings, sources);

  const functions = new Map<string, FunctionDef>();
  for (const [name, file] of sources) {
    const source = await ctx.readText(file);
    if (source === undefined) continue;
    const s = settings.get(name);
    const def: FunctionDef = { name, source, file, private: s?.private ?? false };
    if (s) defined(def, { canEvaluate: s.canEvaluate, disableArgLogs: s.disableArgLogs, runAsSystem: s.runAsSystem, runAsUserId: s.runAsUserId, runAsUserIdScriptSource: s.runAsUserIdScriptSource });
    functions.set(name, def);
  }
  for (const [name, s] of settings) {
    if (!sources.has(name)) ctx.report.problem(s.file, s.field, `function "${name}" has no source file (functions/${name}.js)`);
  }
  return functions;
}

async function walk(ctx: LoadContext, root: string, relDir: string, settings: Map<string, FunctionSettings>, sources: Map<string, string>): Promise<void> {
  const dirPath = relDir ? `${root}/${relDir}` : root;
  for (const entry of await ctx.list(dirPath)) {
    const rel = relDir ? `${relDir}/${entry.name}` : entry.name;
    if (entry.dir) {
      if (!SKIP_DIRS.has(entry.name)) await walk(ctx, root, rel, settings, sources);
      continue;
    }
    if (!entry.name.endsWith(".js")) continue;
    const file = `${root}/${rel}`;
    let name = rel.slice(0, -".js".length);
    // Legacy layout: functions/<name>/source.js, unless config.json really names a "<dir>/source" function.
    if (entry.name === "source.js" && relDir && !settings.has(name)) {
      name = relDir;
      const legacyConfig = `${root}/${relDir}/config.json`;
      if (await ctx.isFile(legacyConfig)) {
        const parsed = await readSettingsFile(ctx, legacyConfig);
        if (parsed && !settings.has(name)) settings.set(name, parsed.settings);
      }
    }
    const previous = sources.get(name);
    if (previous) {
      // Only the two layouts can collide; name the newer-layout file first, report on the legacy one.
      const [first, second] = file.endsWith("/source.js") ? [previous, file] : [file, previous];
      ctx.report.problem(second, undefined, `function "${name}" is defined twice: ${first} and ${second}`);
      continue;
    }
    sources.set(name, file);
  }
}

async function readFunctionsConfig(ctx: LoadContext): Promise<Map<string, FunctionSettings>> {
  const file = "functions/config.json";
  const settings = new Map<string, FunctionSettings>();
  const json = await ctx.readJson(file);
  if (json.kind !== "ok") return settings;
  if (!Array.isArray(json.value)) {
    ctx.report.problem(file, undefined, `expected an array of function configurations, got ${typeName(json.value)}`);
    return settings;
  }
  json.value.forEach((entry, i) => {
    if (!isObj(entry)) {
      ctx.report.problem(file, `[${i}]`, `expected an object, got ${typeName(entry)}`);
      return;
    }
    const f = new Fields(ctx.report, file, entry, `[${i}]`);
    const name = f.requiredString("name");
    const s = readSettings(f, file, f.path("name"));
    if (name === undefined) return;
    if (settings.has(name)) f.problem("name", `function "${name}" is configured twice`);
    else settings.set(name, s);
  });
  return settings;
}

async function readSettingsFile(ctx: LoadContext, file: string): Promise<{ settings: FunctionSettings } | undefined> {
  const f = await ctx.readFields(file);
  if (!f) return undefined;
  f.string("name");
  return { settings: readSettings(f, file, "name") };
}

function readSettings(f: Fields, file: string, field: string): FunctionSettings {
  f.accept("id", "source", "dependencies");
  const s: FunctionSettings = { file, field, ...readRunAs(f) };
  defined(s, { private: f.bool("private"), canEvaluate: f.expr("can_evaluate"), disableArgLogs: f.bool("disable_arg_logs") });
  f.finish();
  return s;
}
