/**
 * What legacy webhooks and the Data API share before their own logic: the app lookup, the header-count
 * and body limits, the parsed query and the header arrays — the same steps, in the same order, as the
 * custom endpoint handler in server.ts.
 */
import type { IncomingMessage } from "node:http";
import type { HttpBindings } from "@hono/node-server";
import type { AppRuntime, Limits } from "@restitch/runtime";
import type { Context } from "hono";
import type { AppContext } from "./bridge.js";
import { readBody, readIncomingBody } from "./body.js";
import { errors } from "./errors.js";
import type { RequestAuthenticator } from "./identity.js";
import { headersToArrays, parseQuery, plainAddress, type ParsedQuery } from "./request.js";
import type { ServerLimits } from "./server.js";

export type HonoContext = Context<{ Bindings: HttpBindings }>;

/** One served app, as server.ts prepares it. */
export interface ServedApp {
  ctx: AppContext;
  /** Every run on it is recorded on its own (identity scripts, can_evaluate). */
  runtime: AppRuntime;
  /** For the request's own function, whose run is part of the request's record. */
  requestRuntime: AppRuntime;
  auth: RequestAuthenticator | undefined;
}

/** What the webhook and Data API handlers need from the server that mounts them. */
export interface Serving {
  app(appId: string): ServedApp | undefined;
  limits: ServerLimits;
  callLimits?: Partial<Limits> | undefined;
}

export interface Incoming {
  /** A request header's value (several values joined with ", "), or undefined. Case-insensitive. */
  header(name: string): string | undefined;
  body: Uint8Array | undefined;
  parsed: ParsedQuery;
  /** Lower-case name -> values (what auth reads). */
  lowerHeaders: Record<string, string[]>;
  /** Canonical name (`Content-Type`) -> values (what functions see). */
  headers: Record<string, string[]>;
  remoteIPAddress: string;
}

export function servedApp(serving: Serving, appId: string): ServedApp {
  const entry = serving.app(appId);
  if (!entry) throw errors.appNotFound(appId);
  return entry;
}

/**
 * Reads the request within the server's limits; throws the same HttpErrors for every surface. Under
 * Node it reads the IncomingMessage itself: building a WHATWG Request (c.req.raw) costs more than the
 * rest of a small request, so that is only done for other hosts.
 */
export async function readIncoming(c: HonoContext, limits: ServerLimits): Promise<Incoming> {
  const incoming = c.env?.incoming;
  if (incoming) return readNodeIncoming(incoming, limits);
  const raw = c.req.raw;
  const body = await readBody(raw, limits.maxBodyBytes);
  const q = raw.url.indexOf("?");
  const lowerHeaders: Record<string, string[]> = {};
  raw.headers.forEach((v, k) => (lowerHeaders[k] ??= []).push(v));
  return {
    header: (name) => raw.headers.get(name) ?? undefined,
    body,
    parsed: parseQuery(q < 0 ? "" : raw.url.slice(q + 1)),
    lowerHeaders,
    headers: headersToArrays(lowerHeaders),
    remoteIPAddress: plainAddress(undefined),
  };
}

/** readIncoming for Node's IncomingMessage (also what the endpoint path reads under Node, without Hono). */
export async function readNodeIncoming(incoming: IncomingMessage, limits: ServerLimits): Promise<Incoming> {
  if (incoming.rawHeaders.length / 2 > limits.maxHeaderCount) throw errors.tooManyHeaders(limits.maxHeaderCount);
  const body = await readIncomingBody(incoming, limits.maxBodyBytes);
  const url = incoming.url ?? "";
  const q = url.indexOf("?");
  const lowerHeaders = { ...(incoming.headersDistinct as Record<string, string[]>) };
  return {
    header: (name) => {
      const v = incoming.headers[name.toLowerCase()];
      return Array.isArray(v) ? v.join(", ") : v;
    },
    body,
    parsed: parseQuery(q < 0 ? "" : url.slice(q + 1)),
    lowerHeaders,
    headers: headersToArrays(lowerHeaders),
    remoteIPAddress: plainAddress(incoming.socket.remoteAddress),
  };
}

/** Puts `secret` back into the query when it was not the validation secret (as custom endpoints do). */
export function restoreQuerySecret(parsed: ParsedQuery, validatedByQuery: boolean): void {
  if (parsed.secret !== undefined && !validatedByQuery) parsed.query.secret = parsed.secret;
}
