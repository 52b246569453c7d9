import type { LoadContext } from "./context.js";
import { defined, Fields, isObj, readRunAs, RETURN_TYPES, typeName, VALIDATION_METHODS } from "./fields.js";
import type { DataApiConfig, EndpointDef, FunctionDef, HttpMethod, RunAs, ValidationMethod } from "./types.js";

const HTTP_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "*"] as const satisfies readonly (HttpMethod | "*")[];
// Newer exports name the directory https_endpoints; the v20210101 format http_endpoints.
const ENDPOINT_DIRS = ["https_endpoints", "http_endpoints"] as const;

/** The first of https_endpoints/<name>, http_endpoints/<name> that exists (a warning if both do). */
async function endpointFile(ctx: LoadContext, name: string): Promise<string | undefined> {
  const present: string[] = [];
  for (const d of ENDPOINT_DIRS) if (await ctx.isFile(`${d}/${name}`)) present.push(`${d}/${name}`);
  if (present.length > 1) ctx.report.warn(present[1]!, undefined, `ignored: ${present[0]} takes precedence`);
  return present[0];
}

/** Validation method + secret, shared by endpoints and the Data API. */
function readValidation(ctx: LoadContext, f: Fields): { validationMethod: ValidationMethod; secretName?: string } {
  // The docs show both spellings of the key (spec §5.1); validation_method wins when both are present.
  const key = f.has("validation_method") ? "validation_method" : f.has("verification_method") ? "verification_method" : "validation_method";
  f.accept("validation_method", "verification_method");
  const validationMethod = f.oneOf(key, VALIDATION_METHODS) ?? "NO_VALIDATION";
  const secretName = f.string("secret_name") || undefined;
  if (validationMethod !== "NO_VALIDATION") {
    if (secretName === undefined) f.problem("secret_name", `is required when ${key} is ${validationMethod}`);
    else ctx.checkSecret(f.file, f.path("secret_name"), secretName);
  }
  const out: { validationMethod: ValidationMethod; secretName?: string } = { validationMethod };
  return defined(out, { secretName });
}

export async function loadEndpoints(ctx: LoadContext, functions: Map<string, FunctionDef>): Promise<EndpointDef[]> {
  const file = await endpointFile(ctx, "config.json");
  if (!file) return [];
  const json = await ctx.readJson(file);
  if (json.kind !== "ok") return [];
  if (!Array.isArray(json.value)) {
    ctx.report.problem(file, undefined, `expected an array of endpoint configurations, got ${typeName(json.value)}`);
    return [];
  }
  const endpoints: EndpointDef[] = [];
  const byRoute = new Map<string, { method: string; field: string }[]>();
  json.value.forEach((entry, i) => {
    if (!isObj(entry)) {
      ctx.report.problem(file, `[${i}]`, `expected an object, got ${typeName(entry)}`);
      return;
    }
    const f = new Fields(ctx.report, file, entry, `[${i}]`).accept("function_id", "id");
    const route = f.requiredString("route");
    const httpMethod = f.oneOf("http_method", HTTP_METHODS, { caseInsensitive: true });
    if (httpMethod === undefined && !f.has("http_method")) f.problem("http_method", "is required");
    const functionName = f.requiredString("function_name");
    const fn = functionName === undefined ? undefined : functions.get(functionName);
    if (functionName !== undefined && !fn) f.problem("function_name", `function "${functionName}" does not exist`);
    if (route !== undefined && !route.startsWith("/")) f.problem("route", `must start with "/" (got ${JSON.stringify(route.slice(0, 60))})`);

    const own = readRunAs(f);
    const canEvaluate = f.expr("can_evaluate");
    const def: EndpointDef = {
      route: route ?? "",
      httpMethod: httpMethod ?? "*",
      functionName: functionName ?? "",
      ...readValidation(ctx, f),
      respondResult: f.bool("respond_result") ?? false,
      fetchCustomUserData: f.bool("fetch_custom_user_data") ?? false,
      createUserOnAuth: f.bool("create_user_on_auth") ?? false,
      disabled: f.bool("disabled") ?? false,
      returnType: f.oneOf("return_type", RETURN_TYPES) ?? "JSON",
    };
    // Execution settings usually live on the function (spec §5.1): the endpoint's own value wins, field by field.
    const runAs = resolveRunAs(own, fn ?? {});
    if (runAs.runAsUserId !== undefined && runAs.runAsUserIdScriptSource !== undefined && !(own.runAsUserId && own.runAsUserIdScriptSource))
      f.problem("run_as_user_id", `resolves to both run_as_user_id and run_as_user_id_script_source (one from function "${functionName}")`);
    defined(def, { ...runAs, canEvaluate: canEvaluate ?? fn?.canEvaluate });
    f.finish();
    endpoints.push(def);

    if (route !== undefined && httpMethod !== undefined) {
      const seen = byRoute.get(route) ?? [];
      const here = f.path("http_method");
      for (const other of seen) {
        if (other.method === httpMethod) f.problem("route", `duplicate endpoint ${httpMethod} ${route} (also at ${other.field})`);
        else if (other.method === "*" || httpMethod === "*")
          f.problem("http_method", `route ${route} has both "*" and a specific method (${other.method === "*" ? httpMethod : other.method} at ${other.field})`);
      }
      seen.push({ method: httpMethod, field: here });
      byRoute.set(route, seen);
    }
  });
  return endpoints;
}

function resolveRunAs(own: RunAs, fromFunction: RunAs): RunAs {
  return {
    runAsSystem: own.runAsSystem ?? fromFunction.runAsSystem,
    runAsUserId: own.runAsUserId ?? fromFunction.runAsUserId,
    runAsUserIdScriptSource: own.runAsUserIdScriptSource ?? fromFunction.runAsUserIdScriptSource,
  };
}

/** http_endpoints/data_api_config.json. Absent file = no Data API. */
export async function loadDataApi(ctx: LoadContext): Promise<DataApiConfig | undefined> {
  const file = await endpointFile(ctx, "data_api_config.json");
  if (!file) return undefined;
  const f = (await ctx.readFields(file))?.accept("log_function_arguments", "id");
  if (!f) return undefined;
  const versions = f.stringArray("versions") ?? ["v1"];
  for (const v of versions) if (v !== "v1" && v !== "beta") f.warn("versions", `unknown Data API version ${JSON.stringify(v)} (Restitch serves v1)`);
  const def: DataApiConfig = {
    // Documented inverted in the seeds (S002); implemented the obvious way: disabled:true = off.
    disabled: f.bool("disabled") ?? false,
    versions,
    returnType: f.oneOf("return_type", RETURN_TYPES) ?? "JSON",
    createUserOnAuth: f.bool("create_user_on_auth") ?? false,
    ...readValidation(ctx, f),
    fetchCustomUserData: f.bool("fetch_custom_user_data") ?? false,
  };
  defined(def, { ...readRunAs(f), canEvaluate: f.expr("can_evaluate") });
  f.finish();
  return def;
}
