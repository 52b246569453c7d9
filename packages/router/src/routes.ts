/**
 * The route table, built once at start-up: appId -> route -> method -> endpoint. A request costs two Map
 * lookups; 404 (unknown route), 405 (wrong method) and disabled endpoints are told apart here.
 */
import type { EndpointDef } from "@restitch/config";
import { errors } from "./errors.js";

/** The methods an `http_method: "*"` endpoint answers (S002). */
export const ANY_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"] as const;

export interface RouteEntry {
  route: string;
  byMethod: Map<string, EndpointDef>;
  /** Sorted methods for the Allow header of a 405. */
  allow: string[];
}

export type RouteTable = Map<string, RouteEntry>;

/** Routes compare without a trailing slash, so `/hello` and `/hello/` are one route. */
export function normalizeRoute(route: string): string {
  let r = route.startsWith("/") ? route : "/" + route;
  while (r.length > 1 && r.endsWith("/")) r = r.slice(0, -1);
  return r;
}

/** Throws when two endpoints claim the same route and method: which one runs would be a guess. */
export function buildRouteTable(appId: string, endpoints: readonly EndpointDef[]): RouteTable {
  const table: RouteTable = new Map();
  // Specific methods first, so a "*" endpoint only fills the methods nobody else claimed.
  const ordered = [...endpoints].sort((a, b) => Number(a.httpMethod === "*") - Number(b.httpMethod === "*"));
  for (const ep of ordered) {
    const route = normalizeRoute(ep.route);
    let entry = table.get(route);
    if (!entry) table.set(route, (entry = { route, byMethod: new Map(), allow: [] }));
    const methods = ep.httpMethod === "*" ? ANY_METHODS : [ep.httpMethod];
    for (const m of methods) {
      const taken = entry.byMethod.get(m);
      if (taken && ep.httpMethod !== "*") {
        throw new Error(`app '${appId}': endpoints '${taken.functionName}' and '${ep.functionName}' both serve ${m} ${route}`);
      }
      if (!taken) entry.byMethod.set(m, ep);
    }
    entry.allow = [...entry.byMethod.keys()].sort();
  }
  return table;
}

/** The endpoint for this route and method, or the HttpError that explains why there is none. */
export function matchEndpoint(table: RouteTable, rawRoute: string, method: string): EndpointDef {
  const route = normalizeRoute(rawRoute);
  const entry = table.get(route);
  if (!entry) throw errors.endpointNotFound(route);
  const ep = entry.byMethod.get(method);
  if (!ep) throw errors.methodNotAllowed(route, method, entry.allow);
  if (ep.disabled) throw errors.endpointDisabled(route);
  return ep;
}

const APP_PATH = /^(?:\/api\/client\/v2\.0)?\/app\/([^/]+)(?:\/|$)/;

/**
 * The app a request target is for (`/app/<appId>/…` or `/api/client/v2.0/app/<appId>/…`, as the routes
 * see it: dot segments resolved, percent-escapes decoded), or undefined. Used to place a connection's
 * traffic (a supervisor's quarantine) from a request line or `req.url`.
 */
export function appIdOfTarget(target: string): string | undefined {
  let path: string;
  try {
    path = new URL(target.startsWith("/") ? `http://h${target}` : target).pathname;
  } catch {
    return undefined;
  }
  const segment = APP_PATH.exec(path)?.[1];
  if (segment === undefined) return undefined;
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
