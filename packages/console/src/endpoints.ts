/** What the console shows about an app: its endpoint table (never values, secrets' values or sources). */
import type { AppModel, EndpointDef, RunAs } from "@restitch/config";

export interface EndpointRow {
  method: string;
  route: string;
  /** Path to call it at on this server: /app/<appId>/endpoint<route>. */
  path: string;
  function: string;
  /** "system", "user <id>", "script" or "application auth". */
  runsAs: string;
  validation: string;
  /** The name of the secret a validated endpoint checks against (its value is never shown). */
  secretName?: string;
  returnType: string;
  respondResult: boolean;
  canEvaluate: boolean;
  fetchCustomUserData: boolean;
  createUserOnAuth: boolean;
  disabled: boolean;
}

export interface AppSummary {
  appId: string;
  name: string;
  environment: string;
  endpoints: EndpointRow[];
  /** The Data API, when configured. */
  dataApi?: { disabled: boolean; versions: string[]; runsAs: string; validation: string; returnType: string };
}

/** Who an endpoint (or the Data API) runs as, in a word or two. */
export function runsAs(def: RunAs): string {
  if (def.runAsSystem) return "system";
  if (def.runAsUserId) return `user ${def.runAsUserId}`;
  if (def.runAsUserIdScriptSource) return "script";
  return "application auth";
}

export function endpointRow(appId: string, ep: EndpointDef): EndpointRow {
  return {
    method: ep.httpMethod,
    route: ep.route,
    path: `/app/${appId}/endpoint${ep.route}`,
    function: ep.functionName,
    runsAs: runsAs(ep),
    validation: ep.validationMethod,
    ...(ep.secretName !== undefined ? { secretName: ep.secretName } : {}),
    returnType: ep.returnType,
    respondResult: ep.respondResult,
    canEvaluate: ep.canEvaluate !== undefined,
    fetchCustomUserData: ep.fetchCustomUserData,
    createUserOnAuth: ep.createUserOnAuth,
    disabled: ep.disabled,
  };
}

export function appSummary(app: AppModel): AppSummary {
  const summary: AppSummary = {
    appId: app.appId,
    name: app.name,
    environment: app.environment,
    endpoints: app.endpoints.map((ep) => endpointRow(app.appId, ep)),
  };
  if (app.dataApi) {
    const d = app.dataApi;
    summary.dataApi = { disabled: d.disabled, versions: d.versions, runsAs: runsAs(d), validation: d.validationMethod, returnType: d.returnType };
  }
  return summary;
}
