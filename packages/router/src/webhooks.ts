/**
 * Legacy incoming webhooks (spec §5, §8): /api/client/v2.0/app/<appId>/service/<svc>/incoming_webhook/<name>.
 * Per request: webhook + options.httpMethod -> body (bounded) -> options.validationMethod (X-Hook-Signature
 * over the raw body, or ?secret= against options.secret) -> who runs (system unless run_as_* says
 * otherwise; run_as_authed_user reads credentials from headers or the JSON body) -> can_evaluate ->
 * source.js in the app's isolates as fn(payload, response) -> the legacy response rules (canonical EJSON).
 */
import type { AppModel, WebhookDef } from "@restitch/config";
import { hostBridge } from "./bridge.js";
import { checkCanEvaluate } from "./can-evaluate.js";
import { callErrorToHttp, errorResponse, errors, HttpError } from "./errors.js";
import { resolveIdentity, type RunAsSettings } from "./identity.js";
import { contextRequest, requestArgument } from "./request.js";
import { buildResponse } from "./respond.js";
import { validateRequest } from "./validation.js";
import { userIdOf } from "./call-log.js";
import { readIncoming, restoreQuerySecret, servedApp, type HonoContext, type Serving } from "./webhook-incoming.js";

/** The methods `httpMethod: "ANY"` answers. */
export const WEBHOOK_ANY_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] as const;

const tables = new WeakMap<AppModel, Map<string, WebhookDef>>();

/** service/name -> webhook, built once per app. */
export function webhookTable(app: AppModel): Map<string, WebhookDef> {
  let table = tables.get(app);
  if (!table) {
    table = new Map();
    for (const svc of app.httpServices) for (const hook of svc.webhooks) table.set(`${svc.name}/${hook.name}`, hook);
    tables.set(app, table);
  }
  return table;
}

/** The webhook's run-as options in the shape resolveIdentity reads. No run-as setting at all = system (C66). */
export function webhookRunAs(hook: WebhookDef, label: string): RunAsSettings {
  const base = { route: label, createUserOnAuth: hook.createUserOnAuth, fetchCustomUserData: hook.fetchCustomUserData };
  if (hook.runAsAuthedUser) return { ...base, runAsSystem: false };
  if (hook.runAsUserId) return { ...base, runAsSystem: false, runAsUserId: hook.runAsUserId };
  if (hook.runAsUserIdScriptSource) return { ...base, runAsSystem: false, runAsUserIdScriptSource: hook.runAsUserIdScriptSource };
  return { ...base, runAsSystem: true };
}

/** A JSON object body, where run_as_authed_user webhooks may carry credentials (C67); anything else: none. */
export function bodyCredentials(body: Uint8Array | undefined): Record<string, unknown> | undefined {
  if (!body || body[0] !== 0x7b /* "{" */) return undefined;
  try {
    const v: unknown = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString("utf8"));
    return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined; // not JSON: the body is the webhook's payload, not credentials
  }
}

export function webhookHandler(serving: Serving): (c: HonoContext) => Promise<Response> {
  return async (c) => {
    const appId = c.req.param("appId")!;
    const service = c.req.param("service")!;
    const name = c.req.param("webhook")!;
    const label = `${service}/${name}`;
    const notes = c.get("restitchRequest");
    notes.kind = "webhook";
    const entry = servedApp(serving, appId);
    notes.appId = appId;
    const hook = webhookTable(entry.ctx.app).get(label);
    if (!hook) throw new HttpError(404, "WebhookNotFound", `no incoming webhook '${name}' in service '${service}'`);
    notes.route = `/api/client/v2.0/app/${appId}/service/${service}/incoming_webhook/${name}`;
    notes.functionName = `incoming_webhook ${label}`;
    const method = c.req.method;
    // C69: the configured method only; ANY takes every method a webhook can be called with.
    const allowed: readonly string[] = hook.httpMethod === "ANY" ? WEBHOOK_ANY_METHODS : [hook.httpMethod];
    if (!allowed.includes(method)) throw errors.methodNotAllowed(`incoming_webhook ${label}`, method, [...allowed]);

    const inc = await readIncoming(c, serving.limits);
    // C38/C39: the legacy header and the literal options.secret; the HMAC is over the raw body bytes.
    validateRequest({
      method: hook.validationMethod,
      secretName: `options.secret of webhook ${label}`,
      secret: hook.secret,
      querySecret: inc.parsed.secret,
      signatureHeader: inc.header("x-hook-signature"),
      body: inc.body,
      signatureHeaderName: "X-Hook-Signature",
    });
    restoreQuerySecret(inc.parsed, hook.validationMethod === "SECRET_AS_QUERY_PARAM");

    const request = contextRequest({ parsed: inc.parsed, headers: inc.headers, remoteIPAddress: inc.remoteIPAddress, httpMethod: method, route: notes.route });
    request.service = service;
    request.action = name;
    // C70: the payload is {query, headers, body: BSON.Binary}; script auth receives it too.
    const payload = requestArgument(inc.parsed, inc.headers, inc.body);
    const credentials = hook.runAsAuthedUser ? bodyCredentials(inc.body) : undefined;
    const identity = await resolveIdentity({
      endpoint: webhookRunAs(hook, label),
      ctx: entry.ctx,
      runtime: entry.runtime,
      auth: entry.auth,
      headers: inc.lowerHeaders,
      remoteAddress: inc.remoteIPAddress,
      requestArg: payload,
      contextRequest: request,
      ...(credentials ? { bodyCredentials: credentials } : {}),
    });
    const userId = userIdOf(identity.user, identity.runningAsSystem);
    if (userId !== undefined) notes.userId = userId;
    const bridge = hostBridge(entry.ctx, identity, request);
    const { ctx } = entry;
    await checkCanEvaluate(
      { canEvaluate: hook.canEvaluate, route: label, functionName: `incoming_webhook ${label}` },
      { user: identity.user, request, values: ctx.values, environment: ctx.environment },
      entry.runtime,
      bridge,
    );

    const result = await entry.requestRuntime.call({
      source: { source: hook.source, file: hook.file },
      args: [payload],
      bridge,
      httpResponse: true,
      ...(serving.callLimits ? { limits: serving.callLimits } : {}),
    });
    notes.result = result;
    // C64/C65: canonical EJSON whatever the Accept header; a status set without a body sends no body.
    const response = result.ok
      ? buildResponse({ value: result.value, recorded: result.response, respondResult: hook.respondResult, format: "EJSON", legacyWebhook: true })
      : errorResponse(callErrorToHttp(result.error!));
    return response;
  };
}
