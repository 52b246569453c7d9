import type { LoadContext } from "./context.js";
import { defined, type Fields, readRunAs, VALIDATION_METHODS } from "./fields.js";
import { readServiceDir, type ServiceDir } from "./services.js";
import type { HttpServiceDef, ServiceRule, WebhookDef, WebhookHttpMethod } from "./types.js";

const WEBHOOK_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "ANY"] as const satisfies readonly WebhookHttpMethod[];
const HTTP_ACTIONS = new Set(["get", "post", "put", "patch", "delete", "head"]);
const RULE_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Legacy HTTP services: http_endpoints/<Service>/{config.json, rules/, incoming_webhooks/} (S002/S003),
 * plus realm-cli v1 services/<svc> that are not data sources (their incoming webhooks are served the same way).
 */
export async function loadHttpServices(ctx: LoadContext, legacyOther: ServiceDir[]): Promise<HttpServiceDef[]> {
  const dirs: ServiceDir[] = [];
  for (const root of ["http_endpoints", "https_endpoints"]) {
    for (const e of await ctx.list(root)) {
      if (!e.dir) continue;
      const svc = await readServiceDir(ctx, `${root}/${e.name}`, false);
      if (svc) dirs.push(svc);
    }
  }
  dirs.push(...legacyOther);

  const out: HttpServiceDef[] = [];
  const names = new Map<string, string>();
  for (const svc of dirs) {
    if (svc.type !== undefined && svc.type !== "http")
      ctx.report.warn(`${svc.dir}/config.json`, "type", `service type "${svc.type}" is not emulated; only its incoming webhooks are served`);
    const previous = names.get(svc.name);
    if (previous) {
      ctx.report.problem(`${svc.dir}/config.json`, "name", `service "${svc.name}" is already defined in ${previous}`);
      continue;
    }
    names.set(svc.name, svc.dir);
    out.push({ name: svc.name, rules: await loadServiceRules(ctx, svc.dir), webhooks: await loadWebhooks(ctx, svc) });
  }
  return out;
}

async function loadServiceRules(ctx: LoadContext, dir: string): Promise<ServiceRule[]> {
  const rules: ServiceRule[] = [];
  for (const e of await ctx.list(`${dir}/rules`)) {
    if (e.dir || !e.name.endsWith(".json")) continue;
    const f = (await ctx.readFields(`${dir}/rules/${e.name}`))?.accept("id");
    if (!f) continue;
    const name = f.string("name") ?? e.name.slice(0, -".json".length);
    if (!RULE_NAME.test(name)) f.warn("name", "rule names are at most 64 ASCII letters, digits, '_' or '-'");
    const actions = f.stringArray("actions") ?? [];
    if (!f.has("actions")) f.problem("actions", "is required");
    actions.forEach((a, i) => {
      if (!HTTP_ACTIONS.has(a)) f.warn(`actions[${i}]`, `"${a}" is not an HTTP service action`);
    });
    // A rule without a condition always applies, as `when: {}` does.
    const when = f.expr("when") ?? {};
    f.finish();
    rules.push({ name, actions, when });
  }
  return rules;
}

async function loadWebhooks(ctx: LoadContext, svc: ServiceDir): Promise<WebhookDef[]> {
  const hooks: WebhookDef[] = [];
  for (const e of await ctx.list(`${svc.dir}/incoming_webhooks`)) {
    if (!e.dir) continue;
    const dir = `${svc.dir}/incoming_webhooks/${e.name}`;
    const f = await ctx.readFields(`${dir}/config.json`, { missing: "missing webhook configuration file" });
    if (!f) continue;
    const sourceFile = `${dir}/source.js`;
    const source = await ctx.readText(sourceFile);
    if (source === undefined) ctx.report.problem(sourceFile, undefined, `webhook "${e.name}" has no source.js`);
    const hook = readWebhook(f, svc.name, e.name);
    if (source === undefined) continue;
    hooks.push({ ...hook, source, file: sourceFile });
  }
  return hooks;
}

function readWebhook(f: Fields, service: string, dirName: string): Omit<WebhookDef, "source" | "file"> {
  f.accept("id", "disable_arg_logs", "function_name");
  const name = f.string("name") ?? dirName;
  if (name !== dirName) f.warn("name", `webhook name "${name}" differs from its directory "${dirName}"; "${name}" is used`);
  const runAs = readRunAs(f);
  const runAsAuthedUser = f.bool("run_as_authed_user") ?? false;
  if (runAsAuthedUser && (runAs.runAsUserId || runAs.runAsUserIdScriptSource))
    f.problem("run_as_authed_user", "cannot be used together with run_as_user_id or run_as_user_id_script_source");
  // A webhook with no run-as setting runs as the system user (spec §8, C66).
  if (!runAsAuthedUser && !runAs.runAsUserId && !runAs.runAsUserIdScriptSource && runAs.runAsSystem === undefined) runAs.runAsSystem = true;

  const opts = f.sub("options");
  const httpMethod = opts?.oneOf("httpMethod", WEBHOOK_METHODS, { caseInsensitive: true }) ?? "ANY";
  const validationMethod = opts?.oneOf("validationMethod", VALIDATION_METHODS) ?? "NO_VALIDATION";
  const secret = opts?.string("secret") || undefined;
  if (validationMethod !== "NO_VALIDATION" && secret === undefined)
    (opts ?? f).problem(opts ? "secret" : "options", `a secret is required when validationMethod is ${validationMethod}`);
  opts?.finish();

  const hook: Omit<WebhookDef, "source" | "file"> = {
    service,
    name,
    runAsAuthedUser,
    fetchCustomUserData: f.bool("fetch_custom_user_data") ?? false,
    createUserOnAuth: f.bool("create_user_on_auth") ?? false,
    respondResult: f.bool("respond_result") ?? false,
    httpMethod,
    validationMethod,
  };
  defined(hook, { ...runAs, canEvaluate: f.expr("can_evaluate"), secret });
  f.finish();
  return hook;
}
