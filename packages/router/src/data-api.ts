/**
 * The Data API v1 (spec §4): POST /app/<appId>/endpoint/data/<version>/action/<action>, configured by
 * http_endpoints/data_api_config.json. Per request: config (disabled, versions) -> action -> body
 * (bounded) -> validation (Endpoint-Signature / ?secret=) -> who runs (run_as_* or application auth) ->
 * can_evaluate -> the EJSON body -> the data source's service binding (its guard and, for non-system
 * callers, its rules) -> JSON or canonical EJSON by Accept, else return_type.
 */
import type { DataApiConfig } from "@restitch/config";
import type { ServiceBinding } from "@restitch/runtime";
import { hostBridge } from "./bridge.js";
import { checkCanEvaluate } from "./can-evaluate.js";
import { dataApiCall, dataApiResult, isDataApiAction, parseEjsonBody, DATA_API_ACTIONS, type DataApiAction } from "./data-api-body.js";
import { errorResponse, errors, HttpError } from "./errors.js";
import { resolveIdentity, type RunAsSettings } from "./identity.js";
import { contextRequest, requestArgument } from "./request.js";
import { responseFormat } from "./respond.js";
import { serialize } from "./serialize.js";
import { validateRequest } from "./validation.js";
import { userIdOf } from "./call-log.js";
import { readIncoming, restoreQuerySecret, servedApp, type HonoContext, type Serving } from "./webhook-incoming.js";

/** The data service's error codes (DataServiceError.code in @restitch/mongodb) as HTTP statuses. */
const DATA_ERROR_STATUS: Record<string, number> = {
  NoMatchingRuleFound: 403, // spec §5.7 (OBS)
  Forbidden: 403,
  DuplicateKey: 409,
  BadQuery: 400,
  InvalidOperation: 400,
  InvalidParameter: 400,
  Unsupported: 400,
  // The caller's own query ran past its time or memory bound: its fault, described (MongoDB's codes 50, 146/292).
  MaxTimeMSExpired: 400,
  ExceededMemoryLimit: 400,
};

/** A DataServiceError (matched by shape, so a second copy of the package still maps) as the caller's error. */
export function dataErrorToHttp(e: unknown): HttpError {
  const err = e as { name?: unknown; code?: unknown; message?: unknown } | null;
  if (err && err.name === "DataServiceError" && typeof err.code === "string" && typeof err.message === "string") {
    const status = DATA_ERROR_STATUS[err.code];
    // Internal failures (storage, lost connection) are logged, not described to the caller.
    if (status !== undefined) return new HttpError(status, err.code, err.message);
  }
  console.error("restitch: Data API call failed:", e);
  return new HttpError(500, "InternalServerError", "the data source failed to run the request");
}

/** Config whose run-as fields resolveIdentity reads; no run-as setting = application authentication. */
function dataApiRunAs(cfg: DataApiConfig, route: string): RunAsSettings {
  return {
    route,
    runAsSystem: cfg.runAsSystem === true,
    createUserOnAuth: cfg.createUserOnAuth,
    fetchCustomUserData: cfg.fetchCustomUserData,
    ...(cfg.runAsUserId ? { runAsUserId: cfg.runAsUserId } : {}),
    ...(cfg.runAsUserIdScriptSource ? { runAsUserIdScriptSource: cfg.runAsUserIdScriptSource } : {}),
  };
}

function checkRoute(cfg: DataApiConfig | undefined, appId: string, version: string, action: string, method: string): asserts action is DataApiAction {
  if (!cfg) throw new HttpError(404, "DataApiNotEnabled", `app '${appId}' has no Data API (http_endpoints/data_api_config.json)`);
  if (cfg.disabled) throw new HttpError(404, "DataApiNotEnabled", `the Data API of app '${appId}' is disabled`);
  if (!cfg.versions.includes(version)) {
    throw new HttpError(404, "DataApiVersionNotFound", `Data API version '${version}' is not enabled (enabled: ${cfg.versions.join(", ") || "none"})`);
  }
  if (!isDataApiAction(action)) {
    throw new HttpError(404, "ActionNotFound", `unknown Data API action '${action}' (one of: ${DATA_API_ACTIONS.join(", ")})`);
  }
  if (method !== "POST") throw errors.methodNotAllowed(`/data/${version}/action/${action}`, method, ["POST"]);
}

export function dataApiHandler(serving: Serving): (c: HonoContext) => Promise<Response> {
  return async (c) => {
    const appId = c.req.param("appId")!;
    const version = c.req.param("version")!;
    const action = c.req.param("action")!;
    const method = c.req.method;
    const notes = c.get("restitchRequest");
    notes.kind = "data-api";
    const entry = servedApp(serving, appId);
    notes.appId = appId;
    const { ctx } = entry;
    const cfg = ctx.app.dataApi;
    checkRoute(cfg, appId, version, action, method);
    const route = `/data/${version}/action/${action}`;
    notes.route = route;

    const inc = await readIncoming(c, serving.limits);
    validateRequest({
      method: cfg!.validationMethod,
      secretName: cfg!.secretName,
      secret: cfg!.secretName === undefined ? undefined : ctx.app.secrets.get(cfg!.secretName),
      querySecret: inc.parsed.secret,
      signatureHeader: inc.header("endpoint-signature"),
      body: inc.body,
      signatureHeaderName: "Endpoint-Signature",
    });
    restoreQuerySecret(inc.parsed, cfg!.validationMethod === "SECRET_AS_QUERY_PARAM");

    const request = contextRequest({ parsed: inc.parsed, headers: inc.headers, remoteIPAddress: inc.remoteIPAddress, httpMethod: method, route });
    const identity = await resolveIdentity({
      endpoint: dataApiRunAs(cfg!, route),
      ctx,
      runtime: entry.runtime,
      auth: entry.auth,
      headers: inc.lowerHeaders,
      remoteAddress: inc.remoteIPAddress,
      requestArg: requestArgument(inc.parsed, inc.headers, inc.body),
      contextRequest: request,
    });
    const userId = userIdOf(identity.user, identity.runningAsSystem);
    if (userId !== undefined) notes.userId = userId;
    const bridge = hostBridge(ctx, identity, request);
    await checkCanEvaluate(
      { canEvaluate: cfg!.canEvaluate, route, functionName: `Data API ${action}` },
      { user: identity.user, request, values: ctx.values, environment: ctx.environment },
      entry.runtime,
      bridge,
    );

    const call = dataApiCall(action, parseEjsonBody(inc.body));
    const binding: ServiceBinding | undefined = bridge.services?.[call.dataSource];
    if (!binding || binding.type !== "mongodb-atlas") {
      const known = Object.entries(bridge.services ?? {})
        .filter(([, b]) => b.type === "mongodb-atlas")
        .map(([n]) => n);
      throw new HttpError(400, "InvalidParameter", `'dataSource': no data source named '${call.dataSource}' (known: ${known.join(", ") || "none"})`);
    }
    let response: Response;
    try {
      const result = await binding.invoke(call.method, call.args);
      const format = responseFormat(inc.header("accept") ?? null, cfg!.returnType);
      response = new Response(serialize(dataApiResult(action, result), format), {
        status: 200,
        headers: { "content-type": format === "EJSON" ? "application/ejson" : "application/json" },
      });
    } catch (e) {
      const error = dataErrorToHttp(e);
      notes.errorCode = error.code;
      response = errorResponse(error);
    }
    return response;
  };
}
