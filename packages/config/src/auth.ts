import type { LoadContext } from "./context.js";
import { Fields, isObj, typeName } from "./fields.js";
import type { AuthProviderDef, CustomUserDataConfig, DataSourceDef, FunctionDef } from "./types.js";

export const PROVIDER_TYPES = ["anon-user", "local-userpass", "api-key", "custom-token", "custom-function", "oauth2-google", "oauth2-facebook", "oauth2-apple"] as const;

/** auth/providers.json (an object keyed by provider name) or, in realm-cli v1 apps, auth_providers/*.json. */
export async function loadAuthProviders(ctx: LoadContext): Promise<Record<string, AuthProviderDef>> {
  const providers: Record<string, AuthProviderDef> = {};
  const add = (p: AuthProviderDef | undefined, f: Fields) => {
    if (!p) return;
    if (providers[p.name]) f.problem("name", `provider "${p.name}" is defined twice`);
    else providers[p.name] = p;
  };
  const file = "auth/providers.json";
  const json = await ctx.readJson(file);
  if (json.kind === "ok") {
    if (!isObj(json.value)) ctx.report.problem(file, undefined, `expected an object keyed by provider name, got ${typeName(json.value)}`);
    else
      for (const [key, value] of Object.entries(json.value)) {
        if (!isObj(value)) {
          ctx.report.problem(file, key, `expected a provider object, got ${typeName(value)}`);
          continue;
        }
        const f = new Fields(ctx.report, file, value, key);
        add(readProvider(ctx, f, key), f);
      }
  }
  for (const e of await ctx.list("auth_providers")) {
    if (e.dir || !e.name.endsWith(".json")) continue;
    const f = await ctx.readFields(`auth_providers/${e.name}`);
    if (f) add(readProvider(ctx, f, e.name.slice(0, -".json".length)), f);
  }
  return providers;
}

function readProvider(ctx: LoadContext, f: Fields, fallbackName: string): AuthProviderDef | undefined {
  f.accept("id", "redirect_uris", "domain_restrictions");
  const name = f.string("name") ?? fallbackName;
  const type = f.oneOf("type", PROVIDER_TYPES);
  if (!f.has("type")) f.problem("type", "is required");
  const disabled = f.bool("disabled") ?? false;
  const config = f.object("config") ?? {};
  const secretConfig = f.object("secret_config") ?? {};
  // secret_config values name secrets (signingKeys: ["name", …], clientSecret: "name"); an enabled provider needs them.
  if (!disabled)
    for (const [k, v] of Object.entries(secretConfig)) {
      const names = typeof v === "string" ? [v] : Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
      for (const n of names) ctx.checkSecret(f.file, f.path(`secret_config.${k}`), n);
    }
  const metadataFields: AuthProviderDef["metadataFields"] = [];
  f.array("metadata_fields")?.forEach((m, i) => {
    const at = f.path(`metadata_fields[${i}]`);
    if (!isObj(m)) {
      ctx.report.problem(f.file, at, `expected an object, got ${typeName(m)}`);
      return;
    }
    const mf = new Fields(ctx.report, f.file, m, at);
    const path = mf.requiredString("name");
    const required = mf.bool("required") ?? false;
    const fieldName = mf.string("field_name") || (path === undefined ? "" : lastPathSegment(path));
    if (fieldName.length > 64) mf.problem("field_name", "must be at most 64 characters");
    mf.finish();
    if (path !== undefined) metadataFields.push({ required, name: path, fieldName });
  });
  f.finish();
  if (type === undefined) return undefined;
  return { name, type, disabled, config, secretConfig, metadataFields };
}

/** Metadata field paths are dotted, with "\." escaping a literal dot; the default field_name is the last segment. */
function lastPathSegment(path: string): string {
  const segments = path.split(/(?<!\\)\./);
  return (segments[segments.length - 1] ?? path).replace(/\\\./g, ".");
}

/**
 * auth/custom_user_data.json, or (realm-cli v1) config.json custom_user_data_config. When enabled, its
 * data source and creation function must exist.
 */
export async function loadCustomUserData(
  ctx: LoadContext,
  legacy: Fields | undefined,
  dataSources: DataSourceDef[],
  functions: Map<string, FunctionDef>,
): Promise<CustomUserDataConfig | undefined> {
  const f = legacy ?? (await ctx.readFields("auth/custom_user_data.json"));
  if (!f) return undefined;
  const enabled = f.bool("enabled") ?? false;
  const read = (key: string) => (enabled ? f.requiredString(key) : f.string(key)) ?? "";
  const cud: CustomUserDataConfig = {
    enabled,
    mongoServiceName: read("mongo_service_name"),
    databaseName: read("database_name"),
    collectionName: read("collection_name"),
    userIdField: read("user_id_field"),
  };
  const onCreate = f.string("on_user_creation_function_name");
  if (onCreate) {
    cud.onUserCreationFunctionName = onCreate;
    if (!functions.has(onCreate)) f.problem("on_user_creation_function_name", `function "${onCreate}" does not exist`);
  }
  if (enabled && cud.mongoServiceName && !dataSources.some((d) => d.name === cud.mongoServiceName))
    f.problem("mongo_service_name", `data source "${cud.mongoServiceName}" does not exist`);
  f.finish();
  return cud;
}
