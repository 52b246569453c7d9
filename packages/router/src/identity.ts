/**
 * Who an endpoint call runs as (spec §5.1): run_as_system, run_as_user_id, run_as_user_id_script_source,
 * else application authentication through @restitch/auth.
 */
import type { EndpointDef } from "@restitch/config";
import type { AppRuntime } from "@restitch/runtime";
import { hostBridge, systemIdentity, userIdentity, type AppContext, type Identity } from "./bridge.js";
import { callErrorToHttp, errors, HttpError } from "./errors.js";

/** The part of @restitch/auth's AuthService the router uses (structural, so either side can move). */
export interface RequestAuthenticator {
  authenticateRequest(input: {
    headers: Record<string, string[]>;
    createUserOnAuth: boolean;
    fetchCustomUserData: boolean;
    remoteAddress?: string;
    /** Legacy webhooks (run_as_authed_user): credentials sent as JSON body fields. */
    bodyCredentials?: Record<string, unknown>;
  }): Promise<{ ok: true; user: object } | { ok: false; status: number; error: string; errorCode: string }>;
  getUser(id: string, options?: { fetchCustomUserData?: boolean }): Promise<object | null>;
}

/** The run-as settings resolveIdentity reads: an endpoint's, or a webhook's / the Data API's shaped alike. */
export type RunAsSettings = Pick<EndpointDef, "route" | "runAsSystem" | "runAsUserId" | "runAsUserIdScriptSource" | "createUserOnAuth" | "fetchCustomUserData">;

export interface IdentityInput {
  endpoint: RunAsSettings;
  ctx: AppContext;
  runtime: AppRuntime;
  auth: RequestAuthenticator | undefined;
  /** Lower-case header name -> values (what auth reads). */
  headers: Record<string, string[]>;
  remoteAddress: string;
  /** The function's request argument: the script auth function receives it too. */
  requestArg: unknown;
  contextRequest: Record<string, unknown>;
  /** Legacy webhooks: the JSON body, where credentials may be sent instead of headers. */
  bodyCredentials?: Record<string, unknown>;
}

export async function resolveIdentity(input: IdentityInput): Promise<Identity> {
  const ep = input.endpoint;
  if (ep.runAsSystem) return systemIdentity();
  if (ep.runAsUserId) return runAsUser(input, ep.runAsUserId);
  if (ep.runAsUserIdScriptSource) {
    const result = await input.runtime.call({
      source: { source: ep.runAsUserIdScriptSource, file: "run_as_user_id_script_source.js" },
      args: [input.requestArg],
      bridge: hostBridge(input.ctx, systemIdentity(), input.contextRequest),
    });
    if (!result.ok) throw callErrorToHttp(result.error!);
    const v = result.value;
    if (typeof v === "string" && v !== "") return runAsUser(input, v);
    if (v && typeof v === "object" && (v as { runAsSystem?: unknown }).runAsSystem === true) return systemIdentity();
    throw errors.badRunAs(`run_as_user_id_script_source of endpoint '${ep.route}' must return a user id string or { runAsSystem: true }`);
  }
  if (!input.auth) throw errors.authUnavailable();
  const r = await input.auth.authenticateRequest({
    headers: input.headers,
    createUserOnAuth: ep.createUserOnAuth,
    fetchCustomUserData: ep.fetchCustomUserData,
    remoteAddress: input.remoteAddress,
    ...(input.bodyCredentials ? { bodyCredentials: input.bodyCredentials } : {}),
  });
  if (!r.ok) throw new HttpError(r.status, r.errorCode, r.error);
  return userIdentity("", r.user as Record<string, unknown>);
}

/** A fixed user: looked up through auth when it is configured (C52), else known by id alone. */
async function runAsUser(input: IdentityInput, id: string): Promise<Identity> {
  if (!input.auth) return userIdentity(id);
  const user = await input.auth.getUser(id, { fetchCustomUserData: input.endpoint.fetchCustomUserData });
  if (!user) throw new HttpError(401, "InvalidSession", "invalid session: error finding user for endpoint");
  return userIdentity(id, user as Record<string, unknown>);
}
