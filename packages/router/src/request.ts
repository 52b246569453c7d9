/**
 * What the function sees of the HTTP request: the `request` argument ({query, headers, body}) and
 * `context.request` (spec §2.2, §5.2).
 */
import { Binary } from "bson";

export interface ParsedQuery {
  /** name -> first value (C9). */
  query: Record<string, string>;
  /** The raw query string without any `secret=…` pair and without "?" (C10). */
  rawQueryString: string;
  /** First `secret` value, for SECRET_AS_QUERY_PARAM. */
  secret: string | undefined;
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, " "));
  } catch {
    return s; // malformed %-escapes: keep the text as sent rather than fail the request
  }
}

/** `search` is the URL's query part with or without the leading "?". */
export function parseQuery(search: string): ParsedQuery {
  const query: Record<string, string> = Object.create(null);
  let secret: string | undefined;
  const s = search.startsWith("?") ? search.slice(1) : search;
  if (s === "") return { query, rawQueryString: "", secret };
  const kept: string[] = [];
  for (const pair of s.split("&")) {
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    const key = decode(eq < 0 ? pair : pair.slice(0, eq));
    const value = eq < 0 ? "" : decode(pair.slice(eq + 1));
    if (key === "secret") {
      secret ??= value;
      continue;
    }
    kept.push(pair);
    if (!(key in query)) query[key] = value;
  }
  return { query: { ...query }, rawQueryString: kept.join("&"), secret };
}

const canonicalCache = new Map<string, string>();

/** Go's canonical MIME header form (`content-type` -> `Content-Type`), as the Atlas backend passed names. */
export function canonicalHeaderName(name: string): string {
  let c = canonicalCache.get(name);
  if (c === undefined) {
    c = name
      .toLowerCase()
      .split("-")
      .map((p) => (p ? p[0]!.toUpperCase() + p.slice(1) : p))
      .join("-");
    if (canonicalCache.size < 4096) canonicalCache.set(name, c);
  }
  return c;
}

/** Header name -> every value sent for it (C8), names in canonical form. `distinct`: lower-case name -> values. */
export function headersToArrays(distinct: Record<string, string[] | undefined>): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const name in distinct) {
    const values = distinct[name];
    if (values) out[canonicalHeaderName(name)] = values;
  }
  return out;
}

/** The function's first argument. `body` is undefined when the request carried no bytes (C6). */
export function requestArgument(parsed: ParsedQuery, headers: Record<string, string[]>, body: Uint8Array | undefined) {
  return { query: parsed.query, headers, body: body && body.byteLength > 0 ? new Binary(body) : undefined };
}

export interface ContextRequestInput {
  parsed: ParsedQuery;
  headers: Record<string, string[]>;
  remoteIPAddress: string;
  httpMethod: string;
  route: string;
}

/** context.request: request metadata without the body. Absent User-Agent/Referer stay undefined (C12). */
export function contextRequest(input: ContextRequestInput): Record<string, unknown> {
  const h = input.headers;
  return {
    remoteIPAddress: input.remoteIPAddress,
    requestHeaders: h,
    webhookUrl: input.route,
    httpMethod: input.httpMethod,
    rawQueryString: input.parsed.rawQueryString,
    httpUserAgent: h["User-Agent"]?.[0],
    httpReferrer: h["Referer"]?.[0],
    service: undefined,
    action: undefined,
  };
}

/** IPv4 peers on a dual-stack socket arrive as ::ffff:1.2.3.4; callers expect the plain address. */
export function plainAddress(addr: string | undefined): string {
  if (!addr) return "";
  return addr.startsWith("::ffff:") ? addr.slice(7) : addr;
}
