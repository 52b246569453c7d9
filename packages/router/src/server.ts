/**
 * createServer: the Hono edge. Per request: route+method -> body (bounded) -> validation -> who runs ->
 * can_evaluate -> the function in its isolate -> the HTTP response. Everything per app is prepared once.
 * Under Node (listen), custom endpoint requests bypass Hono through node-endpoint.ts, on the same core.
 */
import { createServer as createHttpServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import net from "node:net";
import { getRequestListener, type HttpBindings } from "@hono/node-server";
import type { AppModel } from "@restitch/config";
import type { AppRuntime, CallError, Limits, Runtime } from "@restitch/runtime";
import { Hono, type Handler, type MiddlewareHandler } from "hono";
import { appContext, appDefinition, hostBridge, type AppContext, type ServiceProvider } from "./bridge.js";
import { checkCanEvaluate } from "./can-evaluate.js";
import { callErrorToHttp, errorBody, errorReply, errorResponse, errors, HttpError } from "./errors.js";
import { resolveIdentity, type RequestAuthenticator } from "./identity.js";
import { contextRequest, requestArgument } from "./request.js";
import { readIncoming, restoreQuerySecret, type Incoming } from "./webhook-incoming.js";
import { buildReply, responseFormat } from "./respond.js";
import { replyToResponse, type Reply } from "./reply.js";
import { plainRequestPath, serveNodeEndpoint, type NodeEndpointHost } from "./node-endpoint.js";
import { buildRouteTable, matchEndpoint, type RouteTable } from "./routes.js";
import { validateRequest } from "./validation.js";
import { dataApiHandler } from "./data-api.js";
import { webhookHandler } from "./webhooks.js";
import { recordedRuntime, requestEntry, requestIdFrom, userIdOf, type CallLogEntry, type RequestNotes } from "./call-log.js";

export type { CallKind, CallLogEntry } from "./call-log.js";

export interface ServerLimits {
  /** Request body bytes (default 18 MiB, the App Services request limit). */
  maxBodyBytes: number;
  /** Request header lines (default 100). */
  maxHeaderCount: number;
  /** Total request header bytes (default 64 KiB). */
  maxHeaderBytes: number;
  /** Time a client has to send the whole request, headers and body (default 30 s). */
  requestTimeoutMs: number;
}

export const DEFAULT_SERVER_LIMITS: ServerLimits = {
  maxBodyBytes: 18 * 1024 * 1024,
  maxHeaderCount: 100,
  maxHeaderBytes: 64 * 1024,
  requestTimeoutMs: 30_000,
};

export interface CreateServerOptions {
  apps: AppModel[];
  runtime: Runtime;
  /** Services (e.g. mongodb-atlas) for a call, bound to the identity it runs as. */
  dataServices?: ServiceProvider;
  /** Application authentication per appId (@restitch/auth's AuthService satisfies it). */
  auth?: Map<string, RequestAuthenticator & { routes?: Hono }>;
  limits?: Partial<ServerLimits>;
  /** Per-call runtime limits for endpoint calls (merged over the runtime's defaults). */
  callLimits?: Partial<Limits>;
  /**
   * Called once per finished request (whatever its outcome) and once per function run outside a
   * request's own function (kind "function"). Runs on the request path: keep it cheap.
   */
  onCall?: (entry: CallLogEntry) => void;
  /**
   * GET routes answered ahead of everything else, not recorded and not counted as in-flight work
   * (health and metrics endpoints: probes must not fill the request log).
   */
  probes?: Record<string, () => Response | Promise<Response>>;
}

export interface Listening {
  url: string;
  port: number;
  server: Server;
  /** Stops accepting, lets in-flight requests finish, then closes every connection. */
  close(): Promise<void>;
}

export interface RestitchServer {
  hono: Hono<{ Bindings: HttpBindings }>;
  fetch: (request: Request, env?: unknown) => Response | Promise<Response>;
  limits: ServerLimits;
  /** The runtime of an app served here (e.g. for auth's confirmation / custom-function providers). */
  appRuntime(appId: string): AppRuntime | undefined;
  /** True once a listener's close() has begun (readiness reports 503 from then on). */
  draining(): boolean;
  listen(port?: number, host?: string): Promise<Listening>;
}

/** The Hono route of custom endpoints (also the record's route when no endpoint matched). */
const ENDPOINT_ROUTE = "/app/:appId/endpoint/*";

/** What serveEndpoint needs from the host a request came through. */
export interface EndpointRequest {
  method: string;
  /** The request path, without the query string. */
  path: string;
  notes: RequestNotes;
  /** Reads headers, query and body within the server's limits. */
  read(): Promise<Incoming>;
}

/** One request's bookkeeping; createServer's one instance is used by every path a request can take. */
export interface RequestLifecycle {
  /** Counts the request in flight; its notes, with the request id (the caller's X-Request-Id when sane). */
  start(requestIdHeader: string | string[] | undefined): RequestNotes;
  /** Its reply is ready: no longer in flight (close() waits for none to be). */
  done(): void;
  /** An error thrown while serving it, as the reply to send (non-HttpErrors are logged and become 500). */
  failed(err: unknown, method: string, path: string, notes: RequestNotes | undefined): Reply;
  /** Reports its CallLogEntry; undefined when nobody listens. routePattern/appIdParam fill what the handler did not note. */
  record:
    | ((notes: RequestNotes, method: string, path: string, status: number, started: number, routePattern: string, appIdParam: string | undefined) => void)
    | undefined;
}

/** After the last handler returns, how long responses may take to finish writing on close(). */
const DRAIN_GRACE_MS = 10_000;
/** While draining, idle keep-alive connections get this long to deliver a request already sent. */
const IDLE_CLOSE_AFTER_MS = 1_000;

interface AppEntry {
  ctx: AppContext;
  routes: RouteTable;
  /** Every run on it is recorded (kind "function"): identity scripts, can_evaluate, outside users. */
  runtime: AppRuntime;
  /** The same runtime unrecorded, for a request's own function (its run is in the request's record). */
  requestRuntime: AppRuntime;
  auth: RequestAuthenticator | undefined;
}

export function createServer(options: CreateServerOptions): RestitchServer {
  const limits: ServerLimits = { ...DEFAULT_SERVER_LIMITS, ...options.limits };
  const apps = new Map<string, AppEntry>();
  const onCall = options.onCall;
  const report = onCall
    ? (entry: CallLogEntry) => {
        try {
          onCall(entry);
        } catch (e) {
          console.error("restitch: onCall failed:", e);
        }
      }
    : undefined;
  for (const app of options.apps) {
    if (apps.has(app.appId)) throw new Error(`two apps share the app id '${app.appId}'`);
    const runtime = options.runtime.app(appDefinition(app));
    apps.set(app.appId, {
      ctx: appContext(app, options.dataServices),
      routes: buildRouteTable(app.appId, app.endpoints),
      runtime: report ? recordedRuntime(runtime, app.appId, report) : runtime,
      requestRuntime: runtime,
      auth: options.auth?.get(app.appId),
    });
  }

  let inFlight = 0;
  let drained: (() => void) | undefined;
  let draining = false;
  const hono = new Hono<{ Bindings: HttpBindings }>();

  // The life of a request, the same on every path (the Hono middleware below, and under Node the direct
  // endpoint listener): counted in flight until its reply is ready (close() waits for that), given an
  // id (echoed in X-Request-Id), its errors mapped to replies, and recorded once done.
  const lifecycle: RequestLifecycle = {
    start(requestIdHeader) {
      inFlight++;
      return { kind: "http", requestId: requestIdFrom(requestIdHeader), appId: "", route: "" };
    },
    done() {
      if (--inFlight === 0) drained?.();
    },
    failed(err, method, path, notes) {
      const e = err instanceof HttpError ? err : errors.internal();
      if (!(err instanceof HttpError)) console.error(`restitch: unhandled error on ${method} ${path}:`, err);
      if (notes) notes.errorCode = e.code;
      return errorReply(e);
    },
    record: report
      ? (notes, method, path, status, started, routePattern, appIdParam) => {
          if (notes.route === "") notes.route = routePattern;
          if (notes.appId === "" && appIdParam !== undefined && apps.has(appIdParam)) notes.appId = appIdParam;
          report(requestEntry(notes, method, path, status, performance.now() - started));
        }
      : undefined,
  };

  for (const [path, probe] of Object.entries(options.probes ?? {})) hono.get(path, () => probe());

  const requestMiddleware: MiddlewareHandler<{ Bindings: HttpBindings }> = async (c, next) => {
    const outgoing = c.env?.outgoing;
    const notes = lifecycle.start(outgoing ? c.env.incoming.headers["x-request-id"] : c.req.header("x-request-id"));
    const started = performance.now();
    // Under Node the header goes straight onto the outgoing message (merged into writeHead): reading
    // Response.headers would turn @hono/node-server's cached response into a full one.
    if (outgoing) outgoing.setHeader("X-Request-Id", notes.requestId);
    c.set("restitchRequest", notes);
    try {
      await next();
    } finally {
      lifecycle.done();
    }
    if (!outgoing) c.res.headers.set("X-Request-Id", notes.requestId);
    lifecycle.record?.(notes, c.req.method, c.req.path, c.res.status, started, c.req.routePath, c.req.param("appId"));
  };
  hono.use(requestMiddleware);
  hono.onError((err, c) => replyToResponse(lifecycle.failed(err, c.req.method, c.req.path, c.get("restitchRequest"))));
  hono.notFound(() => errorResponse(new HttpError(404, "NotFound", "no such resource")));

  for (const a of options.auth?.values() ?? []) if (a.routes) hono.route("/api/client/v2.0", a.routes);

  // Legacy webhooks and the Data API, before the generic endpoint route that would otherwise take /data/….
  const serving = { app: (id: string) => apps.get(id), limits, callLimits: options.callLimits };
  hono.all("/api/client/v2.0/app/:appId/service/:service/incoming_webhook/:webhook", webhookHandler(serving));
  hono.all("/app/:appId/endpoint/data/:version/action/:action", dataApiHandler(serving));
  const endpointRoute: Handler<{ Bindings: HttpBindings }> = async (c) =>
    replyToResponse(
      await serveEndpoint({ method: c.req.method, path: c.req.path, notes: c.get("restitchRequest"), read: () => readIncoming(c, limits) }),
    );
  hono.all(ENDPOINT_ROUTE, endpointRoute);

  /**
   * A custom endpoint request, whichever host it came through: the app and route, the body (bounded),
   * validation, who runs, can_evaluate, the function, the reply. Throws HttpErrors (lifecycle.failed
   * turns them into replies).
   */
  async function serveEndpoint({ method, path, notes, read }: EndpointRequest): Promise<Reply> {
    // Slice the path by hand: /app/<appId>/endpoint<route>
    const slash = path.indexOf("/", 5);
    const appId = path.slice(5, slash);
    const route = path.slice(slash + 9) || "/";
    const entry = apps.get(appId);
    notes.kind = "endpoint";
    if (!entry) throw errors.appNotFound(appId);
    notes.appId = appId;
    const endpoint = matchEndpoint(entry.routes, route, method);
    notes.route = endpoint.route;
    notes.functionName = endpoint.functionName;

    const inc = await read();
    const { body, parsed, lowerHeaders, headers, remoteIPAddress } = inc;

    validateRequest({
      method: endpoint.validationMethod,
      secretName: endpoint.secretName,
      secret: endpoint.secretName === undefined ? undefined : entry.ctx.app.secrets.get(endpoint.secretName),
      querySecret: parsed.secret,
      signatureHeader: inc.header("endpoint-signature"),
      body,
      signatureHeaderName: "Endpoint-Signature",
    });
    restoreQuerySecret(parsed, endpoint.validationMethod === "SECRET_AS_QUERY_PARAM");

    const request = contextRequest({ parsed, headers, remoteIPAddress, httpMethod: method, route: endpoint.route });
    const requestArg = requestArgument(parsed, headers, body);

    const identity = await resolveIdentity({
      endpoint,
      ctx: entry.ctx,
      runtime: entry.runtime,
      auth: entry.auth,
      headers: lowerHeaders,
      remoteAddress: remoteIPAddress,
      requestArg,
      contextRequest: request,
    });
    const userId = userIdOf(identity.user, identity.runningAsSystem);
    if (userId !== undefined) notes.userId = userId;
    const bridge = hostBridge(entry.ctx, identity, request);
    await checkCanEvaluate(endpoint, { user: identity.user, request, values: entry.ctx.values, environment: entry.ctx.environment }, entry.runtime, bridge);

    const result = await entry.requestRuntime.call({
      functionName: endpoint.functionName,
      args: [requestArg],
      bridge,
      httpResponse: true,
      ...(options.callLimits ? { limits: options.callLimits } : {}),
    });
    notes.result = result;
    if (!result.ok) return errorReply(callErrorToHttp(result.error!));
    const format = responseFormat(inc.header("accept") ?? null, endpoint.returnType);
    return buildReply({ value: result.value, recorded: result.response, respondResult: endpoint.respondResult, format });
  }

  const fetch = (request: Request, env?: unknown) => hono.fetch(request, env as HttpBindings);

  /**
   * Whether Hono would hand this request to the custom endpoint route: asked of Hono's own router, so
   * probes, the Data API route and any route added later keep their requests.
   */
  function isEndpointRequest(method: string, path: string): boolean {
    let handlers;
    try {
      // Hono routes HEAD as GET.
      [handlers] = hono.router.match(method === "HEAD" ? "GET" : method, path);
    } catch {
      return false; // a throw here would crash the listener; in hono.fetch, node-server answers it
    }
    return handlers[0]?.[0][0] === requestMiddleware && handlers[1]?.[0][0] === endpointRoute;
  }
  const nodeEndpointHost: NodeEndpointHost = { lifecycle, serveEndpoint, limits, routePattern: ENDPOINT_ROUTE };

  async function listen(port = 8080, host = "127.0.0.1"): Promise<Listening> {
    // Warm isolates boot off the event loop: the first requests should not wait for them.
    await Promise.all([...apps.values()].map((a) => a.requestRuntime.ready()));
    const honoListener = getRequestListener(hono.fetch);
    const server = createHttpServer(
      {
        maxHeaderSize: limits.maxHeaderBytes,
        requestTimeout: limits.requestTimeoutMs,
        headersTimeout: limits.requestTimeoutMs,
        // Timeouts are only checked this often; keep it well below the timeout itself.
        connectionsCheckingInterval: Math.max(100, Math.min(1000, limits.requestTimeoutMs / 4)),
      },
      (req, res) => {
        // Custom endpoints skip Hono and WHATWG objects (node-endpoint.ts); everything else is Hono's.
        const path = req.url?.startsWith("/app/") ? plainRequestPath(req) : undefined;
        if (path !== undefined && isEndpointRequest(req.method ?? "GET", path)) serveNodeEndpoint(nodeEndpointHost, req, res, path);
        else void honoListener(req, res);
      },
    );
    const sockets = new Set<import("node:net").Socket>();
    server.on("connection", (socket: import("node:net").Socket) => {
      sockets.add(socket);
      socket.once("close", () => sockets.delete(socket));
    });
    // While draining, every response tells its client to reconnect (to a fresh worker) rather than
    // reuse a connection that is about to close under a request it has just sent.
    server.on("request", (_req, res) => {
      if (draining) res.shouldKeepAlive = false;
    });
    // One header over the limit must still be seen to be refused (Node drops the excess silently).
    server.maxHeadersCount = limits.maxHeaderCount + 1;
    server.on("clientError", (err: NodeJS.ErrnoException, socket) => {
      if (!socket.writable) return socket.destroy();
      const [status, code, msg] =
        err.code === "HPE_HEADER_OVERFLOW"
          ? [431, "RequestHeadersTooLarge", `request headers exceed ${limits.maxHeaderBytes} bytes`]
          : err.code === "ERR_HTTP_REQUEST_TIMEOUT"
            ? [408, "RequestTimeout", `request not received within ${limits.requestTimeoutMs} ms`]
            : [400, "BadRequest", "malformed HTTP request"];
      const body = errorBody(code, msg);
      socket.end(
        `HTTP/1.1 ${status} ${status === 431 ? "Request Header Fields Too Large" : status === 408 ? "Request Timeout" : "Bad Request"}\r\n` +
          `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    const addr = server.address() as AddressInfo;
    const urlHost = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
    let closing: Promise<void> | undefined;
    return {
      url: `http://${urlHost}:${addr.port}`,
      port: addr.port,
      server,
      close: () =>
        (closing ??= (async () => {
          draining = true;
          // Stop accepting with net.Server's close: http.Server's also closes idle keep-alive
          // connections at once, under requests their clients may already have sent.
          const closed = new Promise<void>((resolve) => net.Server.prototype.close.call(server, () => resolve()));
          if (inFlight > 0) await new Promise<void>((resolve) => (drained = resolve));
          // Busy connections close after their next response (Connection: close). Idle keep-alive ones
          // are closed once they have had a moment to send a request already on its way (closing a
          // connection under a request in flight is what a client sees as a reset); the rest are cut
          // after a grace period. Sockets are counted here, not by the server: a supervised worker is
          // handed connections it never accepted itself.
          const started = Date.now();
          const deadline = started + DRAIN_GRACE_MS;
          while (sockets.size > 0 && Date.now() < deadline) {
            if (Date.now() - started > IDLE_CLOSE_AFTER_MS) server.closeIdleConnections();
            await new Promise((r) => setTimeout(r, 25));
          }
          server.closeAllConnections();
          await closed;
        })()),
    };
  }

  return { hono, fetch, limits, appRuntime: (id) => apps.get(id)?.runtime, draining: () => draining, listen };
}
