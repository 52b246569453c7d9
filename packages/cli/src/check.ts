/**
 * `restitch check`: validate an app directory and explain every problem at once — the loader's
 * configuration problems and the syntax errors of every function and webhook source — with the file and
 * field at fault (exit 1); a valid app prints its endpoint table (exit 0). Warnings never fail the check.
 */
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import ivm from "isolated-vm";
import { AuthConfigError, parseProviders } from "@restitch/auth";
import { AppConfigError, formatProblem, loadApp, type AppModel, type ConfigProblem } from "@restitch/config";
import { runsAs } from "@restitch/console";
import { parse, stringOption, UsageError } from "./args.js";

export async function check(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { secrets: { type: "string" } });
  if (positionals.length !== 1) throw new UsageError("check needs exactly one <appDir>");
  const dir = positionals[0]!;
  const secretsFile = stringOption(values.secrets);
  let app: AppModel | undefined;
  let problems: ConfigProblem[] = [];
  let warnings: ConfigProblem[];
  try {
    app = await loadApp(dir, secretsFile ? { secretsFile } : {});
    warnings = app.warnings;
  } catch (e) {
    if (!(e instanceof AppConfigError)) throw e;
    problems = [...e.problems];
    warnings = e.warnings;
  }
  // Syntax is checked even when the configuration is broken, so one run lists everything.
  problems.push(...syntaxProblems(await sourcesToCompile(dir, app)));
  if (app) {
    const auth = authProblems(app);
    problems.push(...auth.problems);
    warnings = [...warnings, ...auth.warnings];
  }
  warnings = [...warnings, ...(await unservedParts(dir))];

  for (const w of warnings) console.log(`warning: ${formatProblem(w)}`);
  if (problems.length > 0 || !app) {
    const n = problems.length;
    console.error(`restitch: the app is invalid (${n} problem${n === 1 ? "" : "s"}):`);
    for (const p of problems) console.error(`  ${formatProblem(p)}`);
    return 1;
  }
  console.log(`app '${app.appId}' (${app.name}) is valid: ${app.functions.size} functions, ${app.endpoints.length} endpoints`);
  if (app.endpoints.length > 0) console.log("\n" + endpointTable(app));
  return 0;
}

// ---- what the loader leaves to later stages -----------------------------------------------------------

/** Provider settings @restitch/auth checks when the server starts (algorithms, keys, function names). */
function authProblems(app: AppModel): { problems: ConfigProblem[]; warnings: ConfigProblem[] } {
  const file = existsSync(path.join(app.dir, "auth", "providers.json")) ? "auth/providers.json" : "auth_providers";
  const problems: ConfigProblem[] = [];
  const warnings: ConfigProblem[] = [];
  try {
    const { unsupported } = parseProviders(app);
    for (const p of unsupported) warnings.push({ file, field: p.replace(/ \(.*$/, ""), message: `provider type ${p.replace(/^.* \((.*)\)$/, "$1")} is not implemented: its logins are refused` });
  } catch (e) {
    if (!(e instanceof AuthConfigError)) throw e;
    // Each is "<provider>.<field path>: why".
    for (const p of e.problems) {
      const at = p.indexOf(": ");
      problems.push(at > 0 ? { file, field: p.slice(0, at), message: p.slice(at + 2) } : { file, message: p });
    }
  }
  return { problems, warnings };
}

/** Parts of an export Restitch reads nothing from: said once each, so a migration knows what will not run. */
const UNSERVED: Record<string, string> = {
  triggers: "triggers (database, scheduled, authentication) are not run by Restitch",
  graphql: "the GraphQL API is not served by Restitch",
  hosting: "static hosting is not served by Restitch (serve the files from any web server)",
  sync: "Device Sync is not supported by Restitch",
  log_forwarders: "log forwarders are not run by Restitch (see docs/operating.md for its logs)",
};

async function unservedParts(dir: string): Promise<ConfigProblem[]> {
  const out: ConfigProblem[] = [];
  for (const [d, message] of Object.entries(UNSERVED)) {
    const entries = await readdir(path.join(dir, d), { recursive: true, withFileTypes: true }).catch(() => []);
    // Exports carry some of these directories empty, or with only default settings; an empty one says nothing.
    if (entries.some((e) => e.isFile())) out.push({ file: `${d}/`, message: `ignored: ${message}` });
  }
  return out;
}

// ---- syntax -------------------------------------------------------------------------------------------

interface SourceToCompile {
  /** Where the source lives, relative to the app dir (for messages). */
  file: string;
  /** Set for inline sources kept in a config field. */
  field?: string;
  source: string;
}

/** Directories under which the loader reads legacy incoming webhooks (<root>/<Service>/incoming_webhooks/<W>/source.js). */
const WEBHOOK_ROOTS = ["http_endpoints", "https_endpoints", "services"];

/**
 * Every source the runtime would compile: functions/**\/*.js (node_modules skipped, as the loader does),
 * webhook source.js files, and — when the configuration loaded — the run_as_user_id_script_source
 * snippets. Read from disk rather than from the model so that a broken configuration still gets its
 * sources checked.
 */
async function sourcesToCompile(dir: string, app: AppModel | undefined): Promise<SourceToCompile[]> {
  const out: SourceToCompile[] = [];
  const read = async (rel: string) => {
    const source = await readFile(path.join(dir, rel), "utf8").catch(() => undefined);
    if (source !== undefined) out.push({ file: rel, source });
  };
  for (const rel of await jsFiles(dir, "functions")) await read(rel);
  for (const root of WEBHOOK_ROOTS) {
    for (const svc of await subdirs(dir, root)) {
      for (const hook of await subdirs(dir, `${root}/${svc}/incoming_webhooks`)) await read(`${root}/${svc}/incoming_webhooks/${hook}/source.js`);
    }
  }
  if (app) {
    const script = (file: string, field: string, source: string | undefined) => source && out.push({ file, field, source });
    // The loader prefers https_endpoints/ over http_endpoints/ for both files.
    const endpointsDir = existsSync(path.join(dir, "https_endpoints", "config.json")) ? "https_endpoints" : "http_endpoints";
    const dataApiDir = existsSync(path.join(dir, "https_endpoints", "data_api_config.json")) ? "https_endpoints" : "http_endpoints";
    for (const ep of app.endpoints) script(`${endpointsDir}/config.json`, `${ep.httpMethod} ${ep.route}: run_as_user_id_script_source`, ep.runAsUserIdScriptSource);
    if (app.dataApi) script(`${dataApiDir}/data_api_config.json`, "run_as_user_id_script_source", app.dataApi.runAsUserIdScriptSource);
    for (const svc of app.httpServices)
      for (const hook of svc.webhooks) script(hook.file.replace(/source\.js$/, "config.json"), "run_as_user_id_script_source", hook.runAsUserIdScriptSource);
  }
  return out;
}

async function subdirs(dir: string, rel: string): Promise<string[]> {
  const entries = await readdir(path.join(dir, rel), { withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
}

async function jsFiles(dir: string, rel: string): Promise<string[]> {
  const entries = await readdir(path.join(dir, rel), { withFileTypes: true }).catch(() => []);
  const out: string[] = [];
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (e.isDirectory() && e.name !== "node_modules") out.push(...(await jsFiles(dir, `${rel}/${e.name}`)));
    else if (e.isFile() && e.name.endsWith(".js")) out.push(`${rel}/${e.name}`);
  }
  return out;
}

/**
 * The runtime compiles each source inside this function wrapper (packages/runtime/src/sandbox.ts), so its
 * parameters are in scope: `const console = …` at the top level is a redeclaration there, and here too.
 */
const WRAPPER_HEAD = "(function (exports, module, require, context, utils, console, globalThis, global, setTimeout, clearTimeout, setImmediate) {";

/** Compiles (never runs) each source in a throwaway isolate; one problem per syntax error. */
function syntaxProblems(sources: SourceToCompile[]): ConfigProblem[] {
  if (sources.length === 0) return [];
  const isolate = new ivm.Isolate({ memoryLimit: 64 });
  const problems: ConfigProblem[] = [];
  try {
    for (const s of sources) {
      try {
        isolate.compileScriptSync(`${WRAPPER_HEAD}\n${s.source}\n;})`, { filename: s.file, lineOffset: -1 });
      } catch (e) {
        const err = e as Error;
        if (err.name !== "SyntaxError") throw e;
        problems.push({ file: s.file, ...(s.field ? { field: s.field } : {}), message: describeSyntaxError(err.message, s) });
      }
    }
  } finally {
    isolate.dispose();
  }
  return problems;
}

/** "Unexpected token ')' [functions/a.js:3:1]" -> "SyntaxError at line 3:1: Unexpected token ')'". */
function describeSyntaxError(message: string, s: SourceToCompile): string {
  const m = /^(.*) \[[^\]]*:(\d+):(\d+)\]$/.exec(message);
  if (!m) return `SyntaxError: ${message}`;
  const line = Number(m[2]);
  // Past the last line means the wrapper's closing: the source ended inside something still open.
  if (line > s.source.split("\n").length) return "SyntaxError: the source ends early (an unclosed brace, bracket, parenthesis or string?)";
  return `SyntaxError at line ${line}:${m[3]}: ${m[1]}`;
}

// ---- the endpoint table -------------------------------------------------------------------------------

export function endpointTable(app: AppModel): string {
  const rows = [["METHOD", "URL", "FUNCTION", "RUNS AS", "VALIDATION", "RETURN", "NOTES"]];
  for (const ep of app.endpoints) {
    const notes = [ep.disabled ? "disabled" : "", ep.respondResult ? "" : "no result", ep.canEvaluate !== undefined ? "can_evaluate" : ""];
    rows.push([
      ep.httpMethod,
      `/app/${app.appId}/endpoint${ep.route}`,
      ep.functionName,
      runsAs(ep),
      ep.validationMethod,
      ep.returnType,
      notes.filter(Boolean).join(", "),
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()).join("\n");
}
