/**
 * Custom endpoint requests under Node, without Hono: @hono/node-server would build a WHATWG Request,
 * Hono a Context, the handler a Response, and node-server take that apart again to call writeHead — for
 * a small request more work than everything else outside the function. Here the same core
 * (serveEndpoint) and the same lifecycle as the Hono path read the IncomingMessage and write the
 * ServerResponse directly. What node-server did on this path and the client can see is kept:
 * Content-Length, HEAD, how it wrote a Headers object, the 500 when writing fails, and the draining of
 * an unread request body.
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { Reply, ReplyHeaders } from "./reply.js";
import type { EndpointRequest, RequestLifecycle, ServerLimits } from "./server.js";
import { readNodeIncoming } from "./webhook-incoming.js";

/** What the Node endpoint path needs from createServer. */
export interface NodeEndpointHost {
  lifecycle: RequestLifecycle;
  serveEndpoint(request: EndpointRequest): Promise<Reply>;
  limits: ServerLimits;
  /** The record's route when no endpoint matched (the Hono route pattern, as that path records it). */
  routePattern: string;
}

// @hono/node-server's tests (src/url.ts) for a request whose URL it builds from the raw target as it is.
// Any other target it normalises through new URL() (dot segments, percent-escapes that Hono then
// decodes): those rare requests stay on the Hono path, so every path is the one Hono would have seen.
const PLAIN_TARGET = /^\/[!#$&-;=?-\[\]_a-z~]*$/;
const DOT_SEGMENT = /\/\.\.?(?:[/?#]|$)/;
const PLAIN_HOST = /^[a-z0-9._-]+(?::(?:[1-5]\d{3,4}|[6-9]\d{3}))?$/;

/**
 * The request path (no query, no fragment) when node-server would have taken the target as it is and
 * accepted the Host; undefined otherwise (the request then goes to Hono, which answers it as before).
 */
export function plainRequestPath(req: IncomingMessage): string | undefined {
  const url = req.url;
  if (url === undefined || !PLAIN_TARGET.test(url) || DOT_SEGMENT.test(url)) return undefined;
  const host = req.headers.host;
  if (!host || !(PLAIN_HOST.test(host) || hostAccepted(host, url))) return undefined;
  let end = url.indexOf("?");
  const hash = url.indexOf("#");
  if (hash !== -1 && (end === -1 || hash < end)) end = hash;
  return end === -1 ? url : url.slice(0, end);
}

/** node-server's check of a Host it cannot take as it is (upper case, :443, IPv6): a refusal there is its 400. */
function hostAccepted(host: string, url: string): boolean {
  try {
    const hostname = new URL(`http://${host}${url}`).hostname;
    return hostname.length === host.length || hostname === (host.includes(":") ? host.replace(/:\d+$/, "") : host).toLowerCase();
  } catch {
    return false;
  }
}

/** Serves one custom endpoint request; never rejects (a failure to write ends the response). */
export function serveNodeEndpoint(host: NodeEndpointHost, req: IncomingMessage, res: ServerResponse, path: string): void {
  const method = req.method ?? "GET";
  // node-server's autoCleanupIncoming: a body the handler left unread is drained after the response,
  // within limits, so a client still sending one cannot hold the connection.
  if (method !== "GET" && method !== "HEAD") res.once("close", () => afterClose(req));
  serve(host, req, res, method, path).catch((e: unknown) => writeFailed(res, e));
}

async function serve(host: NodeEndpointHost, req: IncomingMessage, res: ServerResponse, method: string, path: string): Promise<void> {
  const { lifecycle } = host;
  const notes = lifecycle.start(req.headers["x-request-id"]);
  const started = performance.now();
  // Set first and merged by writeHead, as the Hono middleware does under Node (a function's own
  // X-Request-Id header therefore replaces it, as there).
  res.setHeader("X-Request-Id", notes.requestId);
  let reply: Reply;
  try {
    reply = await host.serveEndpoint({ method, path, notes, read: () => readNodeIncoming(req, host.limits) });
  } catch (err) {
    reply = lifecycle.failed(err, method, path, notes);
  } finally {
    lifecycle.done();
  }
  lifecycle.record?.(notes, method, path, reply.status, started, host.routePattern, undefined);
  writeReply(res, reply, method === "HEAD");
}

const TEXT_PLAIN = "text/plain; charset=UTF-8";

/**
 * writeHead + end, as node-server wrote the Response the Hono path made of this Reply: Content-Length
 * for a body; no body and no length for HEAD. On a closed socket both calls are no-ops.
 */
export function writeReply(res: ServerResponse, reply: Reply, head: boolean): void {
  const body = head ? null : reply.body;
  // HEAD: Hono answers with a body-less copy of the GET response, whose headers node-server wrote as a
  // Headers object; a repeated name needs those rules too.
  const headers: OutgoingHttpHeaders =
    head || Array.isArray(reply.headers) ? headersAsWritten(reply.headers, body !== null) : reply.headers;
  if (body === null) {
    res.writeHead(reply.status, headers);
    res.end();
    return;
  }
  res.setHeader("Content-Length", typeof body === "string" ? Buffer.byteLength(body) : body.byteLength);
  res.writeHead(reply.status, headers);
  res.end(body);
}

const EDGE_WHITESPACE = /^[\t\n\r ]+|[\t\n\r ]+$/g;

/**
 * Headers as node-server wrote a WHATWG Headers object: lower-case names in sorted order, a repeated
 * name's values joined with ", " (fetch's rule) except Set-Cookie (one line each, after the others),
 * values trimmed of spaces and tabs, and text/plain for a body with no Content-Type.
 */
function headersAsWritten(headers: ReplyHeaders, hasBody: boolean): OutgoingHttpHeaders {
  const byName = new Map<string, string[]>();
  for (const [name, value] of Array.isArray(headers) ? headers : Object.entries(headers)) {
    const lower = name.toLowerCase();
    const v = value.replace(EDGE_WHITESPACE, "");
    const values = byName.get(lower);
    if (values) values.push(v);
    else byName.set(lower, [v]);
  }
  // No prototype: a header named __proto__ stays a header.
  const out = Object.create(null) as OutgoingHttpHeaders;
  for (const name of [...byName.keys()].sort()) if (name !== "set-cookie") out[name] = byName.get(name)!.join(", ");
  const cookies = byName.get("set-cookie");
  if (cookies) out["set-cookie"] = cookies;
  if (hasBody && !("content-type" in out)) out["content-type"] = TEXT_PLAIN;
  return out;
}

/** node-server's answer when writing a response throws (headers Node refuses): 500 if still possible, then close. */
function writeFailed(res: ServerResponse, e: unknown): void {
  const err = e instanceof Error ? e : new Error("unknown error", { cause: e });
  console.error(e);
  try {
    if (!res.headersSent) res.writeHead(500, { "Content-Type": "text/plain" });
    res.end(`Error: ${err.message}`);
  } catch {
    // Nothing more can be sent; the connection is closed below.
  }
  res.destroy(err);
}

const DRAIN_TIMEOUT_MS = 500;
const MAX_DRAIN_BYTES = 64 * 1024 * 1024;

/** As node-server: two timer turns after the response closed, a body still unread gets drained. */
function afterClose(req: IncomingMessage): void {
  if (req.readableEnded) return;
  setTimeout(() => {
    if (!req.readableEnded) setTimeout(() => drainIncoming(req));
  });
}

const draining = new WeakSet<IncomingMessage>();

/** Reads and drops the rest of a body for at most 500 ms and 64 MiB, then closes the connection. */
function drainIncoming(req: IncomingMessage): void {
  if (req.destroyed || draining.has(req)) return;
  draining.add(req);
  let bytesRead = 0;
  const cleanup = () => {
    clearTimeout(timer);
    req.off("data", onData);
    req.off("end", cleanup);
    req.off("error", cleanup);
  };
  const forceClose = () => {
    cleanup();
    const socket: Socket | null = req.socket;
    if (socket && !socket.destroyed) socket.destroySoon();
  };
  const timer = setTimeout(forceClose, DRAIN_TIMEOUT_MS);
  timer.unref();
  const onData = (chunk: Buffer) => {
    bytesRead += chunk.length;
    if (bytesRead > MAX_DRAIN_BYTES) forceClose();
  };
  req.on("data", onData);
  req.on("end", cleanup);
  req.on("error", cleanup);
  req.resume();
}
