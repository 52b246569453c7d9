/**
 * Everything behind `context` for one call: built from the AppModel once per app (app info, environment,
 * values) and combined per call with who the call runs as and the request metadata.
 */
import type { AppModel } from "@restitch/config";
import type { AppDefinition, HostBridge, ServiceBinding } from "@restitch/runtime";

/** Who a call runs as. `user` is what context.user shows; `runningAsSystem` what context.runningAsSystem() says. */
export interface Identity {
  user: Record<string, unknown>;
  runningAsSystem: boolean;
}

/** The system user has no id or data (spec §2.2; exact shape unconfirmed). */
export function systemIdentity(): Identity {
  return { user: { id: "", type: "system", data: {}, identities: [], custom_data: {} }, runningAsSystem: true };
}

/** A user known only by id (run_as_user_id / script auth when no user store can say more). */
export function userIdentity(id: string, user?: Record<string, unknown>): Identity {
  return { user: user ?? { id, type: "normal", data: {}, identities: [], custom_data: {} }, runningAsSystem: false };
}

/**
 * Hands a call the services it may reach, bound to the call's identity (the data service applies rules;
 * `request` is context.request, which rule expressions may read).
 */
export type ServiceProvider = (
  app: AppModel,
  identity: Identity,
  request: Record<string, unknown> | undefined,
) => Record<string, ServiceBinding> | undefined;

/** Per-app parts of the bridge, computed once. */
export interface AppContext {
  app: AppModel;
  info: Record<string, unknown>;
  environment: { tag: string; values: Record<string, unknown> };
  values: (name: string) => unknown;
  services?: ServiceProvider;
}

export function appDefinition(app: AppModel): AppDefinition {
  const functions: AppDefinition["functions"] = {};
  for (const [name, fn] of app.functions) functions[name] = { source: fn.source, file: fn.file };
  return { id: app.appId, functions };
}

export function appContext(app: AppModel, services?: ServiceProvider): AppContext {
  const startedAt = new Date().toISOString();
  const values = new Map<string, unknown>();
  // from_secret values arrive already resolved to the secret's string (config); never from process.env.
  for (const [name, v] of app.values) values.set(name, v.value);
  const ctx: AppContext = {
    app,
    info: {
      id: app.appId,
      clientAppId: app.appId,
      name: app.name,
      projectId: "",
      deployment: { model: "LOCAL", providerRegion: "local" },
      lastDeployed: startedAt,
      hostingUri: "",
    },
    environment: { tag: app.environment, values: app.environmentValues },
    values: (name) => values.get(name),
  };
  if (services) ctx.services = services;
  return ctx;
}

export function hostBridge(ctx: AppContext, identity: Identity, request?: Record<string, unknown>): HostBridge {
  const bridge: HostBridge = {
    app: ctx.info,
    user: identity.user,
    runningAsSystem: identity.runningAsSystem,
    environment: ctx.environment,
    values: ctx.values,
  };
  if (request) bridge.request = request;
  const services = ctx.services?.(ctx.app, identity, request);
  if (services) bridge.services = services;
  return bridge;
}
