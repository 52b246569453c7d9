import type { LoadContext } from "./context.js";
import { Fields, isObj, type Obj } from "./fields.js";

export interface RootInfo {
  file: string;
  appId: string;
  name: string;
  environment: string;
  /** A realm-cli v1 `config.json` app (services/, auth_providers/, functions/<name>/source.js). */
  legacy: boolean;
  /** Legacy config.json custom_user_data_config, read by the auth loader. */
  legacyCustomUserData?: { fields: Fields };
}

// In the order Restitch looks for them: v20210101 exports, newer exports, realm-cli v1.
const ROOT_FILES = ["realm_config.json", "root_config.json", "config.json"] as const;
const COMMON_KEYS = ["config_version", "allowed_request_origins", "deployment_model", "location", "provider_region", "sync", "hosting", "security", "id", "group_id"];
export const ENVIRONMENTS = ["", "development", "testing", "qa", "production"];

export async function loadRoot(ctx: LoadContext): Promise<RootInfo | undefined> {
  let file: string | undefined;
  for (const f of ROOT_FILES) {
    if (await ctx.isFile(f)) {
      file = f;
      break;
    }
  }
  if (!file) {
    ctx.report.problem(".", undefined, `not an App Services app: none of ${ROOT_FILES.join(", ")} found`);
    return undefined;
  }
  const f = (await ctx.readFields(file))?.accept(...COMMON_KEYS);
  if (!f) return undefined;
  const legacy = file === "config.json";
  if (legacy) f.accept("app_id", "name", "custom_user_data_config", "auth_providers", "functions", "values", "services", "custom_resolvers");
  const appIdRaw = f.string("app_id");
  const name = f.string("name");
  const environment = f.string("environment") ?? "";
  if (!ENVIRONMENTS.includes(environment))
    f.warn("environment", `unusual environment ${JSON.stringify(environment)} (App Services uses development, testing, qa, production)`);
  const appId = appIdRaw || name;
  if (!appId) f.problem("app_id", "app_id (or name) is required to address the app");
  const info: RootInfo = { file, appId: appId ?? "", name: name || appId || "", environment, legacy };
  const cud = legacy ? f.raw("custom_user_data_config") : undefined;
  if (cud !== undefined) {
    if (isObj(cud)) info.legacyCustomUserData = { fields: new Fields(ctx.report, file, cud as Obj, "custom_user_data_config") };
    else f.problem("custom_user_data_config", "expected an object");
  }
  f.finish();
  return info;
}
