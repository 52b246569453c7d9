import { stat } from "node:fs/promises";
import path from "node:path";
import { loadAuthProviders, loadCustomUserData } from "./auth.js";
import { LoadContext } from "./context.js";
import { loadDataSources } from "./datasources.js";
import { loadDataApi, loadEndpoints } from "./endpoints.js";
import { loadFunctions } from "./functions.js";
import { AppConfigError, Report } from "./problems.js";
import { loadRoot } from "./root.js";
import { MONGODB_TYPES, readLegacyServices } from "./services.js";
import type { AppModel } from "./types.js";
import { loadEnvironmentValues, loadSecrets, loadValues } from "./values.js";
import { loadHttpServices } from "./webhooks.js";

export interface LoadOptions {
  /** JSON file { "<secret name>": "<value>" }; default <dir>/secrets.json (absent = no secrets). Relative paths resolve against the cwd. */
  secretsFile?: string;
}

/**
 * Loads an exported App Services app directory into a typed, validated model. Every step runs even
 * after earlier ones found problems, so one AppConfigError lists everything wrong at once.
 */
export async function loadApp(dir: string, options: LoadOptions = {}): Promise<AppModel> {
  const abs = path.resolve(dir);
  const report = new Report();
  const st = await stat(abs).catch(() => undefined);
  if (!st?.isDirectory()) {
    report.problem(".", undefined, st ? `${abs} is not a directory` : `app directory ${abs} does not exist`);
    throw new AppConfigError(abs, report.problems);
  }
  const ctx = new LoadContext(abs, report);

  const root = await loadRoot(ctx);
  await loadSecrets(ctx, options.secretsFile);
  const environment = root?.environment ?? "";
  const environmentValues = await loadEnvironmentValues(ctx, environment);
  const values = await loadValues(ctx);
  const functions = await loadFunctions(ctx);
  const endpoints = await loadEndpoints(ctx, functions);
  const dataApi = await loadDataApi(ctx);
  const legacy = await readLegacyServices(ctx);
  const dataSources = await loadDataSources(ctx, legacy.filter((s) => s.type !== undefined && MONGODB_TYPES.has(s.type)));
  const httpServices = await loadHttpServices(ctx, legacy.filter((s) => s.type !== undefined && !MONGODB_TYPES.has(s.type)));
  const authProviders = await loadAuthProviders(ctx);
  const customUserData = await loadCustomUserData(ctx, root?.legacyCustomUserData?.fields, dataSources, functions);

  if (report.problems.length > 0 || !root) throw new AppConfigError(abs, report.problems, report.warnings);
  const app: AppModel = {
    dir: abs,
    appId: root.appId,
    name: root.name,
    environment,
    environmentValues,
    functions,
    values,
    secrets: ctx.secrets,
    endpoints,
    dataSources,
    httpServices,
    authProviders,
    warnings: report.warnings,
  };
  if (dataApi) app.dataApi = dataApi;
  if (customUserData) app.customUserData = customUserData;
  return app;
}
