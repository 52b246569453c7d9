/**
 * Turns what the function did (return value + recorded response object) into the HTTP response,
 * following the endpoint response rules (spec §5.4, C13–C21).
 */
import type { ReturnType } from "@restitch/config";
import type { RecordedResponse } from "@restitch/runtime";
import { validateHeaderName, validateHeaderValue } from "node:http";
import { HttpError } from "./errors.js";
import { replyToResponse, type Reply, type ReplyHeaders } from "./reply.js";
import { serialize, type ResponseFormat } from "./serialize.js";

/** Accept: application/json | application/ejson wins (whichever is listed first); else the endpoint's return_type. */
export function responseFormat(accept: string | null | undefined, fallback: ReturnType): ResponseFormat {
  if (!accept) return fallback;
  const a = accept.toLowerCase();
  const e = a.indexOf("application/ejson");
  const j = a.indexOf("application/json");
  if (e >= 0 && (j < 0 || e < j)) return "EJSON";
  if (j >= 0) return "JSON";
  return fallback;
}

const CONTENT_TYPE: Record<ResponseFormat, string> = { JSON: "application/json", EJSON: "application/ejson" };

/**
 * Headers that frame the message or the connection belong to the server: a function's Content-Length
 * or Transfer-Encoding would desynchronise a keep-alive connection (the client would read the rest of
 * the body as the next response). They are dropped.
 */
const SERVER_HEADERS = new Set(["content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "proxy-connection", "te", "trailer"]);
/** Response header lines and bytes; beyond Node's own client defaults (16 KiB) a response cannot be read. */
export const MAX_RESPONSE_HEADERS = 100;
export const MAX_RESPONSE_HEADER_BYTES = 16 * 1024;

/** Statuses that cannot carry a body (fetch's Response refuses one; Node would not send it). */
const NULL_BODY = new Set([101, 204, 205, 304]);

export interface RespondInput {
  value: unknown;
  recorded: RecordedResponse | undefined;
  respondResult: boolean;
  format: ResponseFormat;
  /**
   * Legacy incoming webhooks (§5.4 legacy column): a status set without a body sends no body (C65), and
   * the canonical EJSON result goes out as application/json.
   */
  legacyWebhook?: boolean;
}

/** The response the function's outcome makes, as plain data (see reply.ts for how it is sent). */
export function buildReply({ value, recorded, respondResult, format, legacyWebhook }: RespondInput): Reply {
  const status = recorded?.statusCode;
  if (status !== undefined && (!Number.isInteger(status) || status < 200 || status > 599)) {
    throw new HttpError(400, "FunctionExecutionError", `response.setStatusCode: ${status} is not a valid HTTP status (200–599)`);
  }
  const headers = recorded ? responseHeaders(recorded.headers) : (Object.create(null) as Record<string, string>);
  let body: Uint8Array | string | null = null;
  let finalStatus: number;
  if (recorded?.body !== undefined) {
    body = recorded.body; // C14/C21: an explicit body wins over the return value
    finalStatus = status ?? 200;
  } else if (respondResult && !(legacyWebhook && status !== undefined)) {
    body = serialize(value, format); // C13, and C15 (status set, value still sent)
    if (!hasHeader(headers, "content-type")) setHeader(headers, "content-type", legacyWebhook ? "application/json" : CONTENT_TYPE[format]);
    finalStatus = status ?? 200;
  } else {
    finalStatus = status ?? 204; // C16/C17: no return-value body
  }
  if (NULL_BODY.has(finalStatus)) body = null;
  return { status: finalStatus, headers, body };
}

/** buildReply as a WHATWG Response (Hono routes, fetch hosts). */
export function buildResponse(input: RespondInput): Response {
  return replyToResponse(buildReply(input));
}

/**
 * Response headers as a prototype-less record (lower-case name -> value) when every name has one value,
 * the common case: Node's writeHead takes a record as it is (a header named __proto__ included). Several
 * values for one name (Set-Cookie) need [name, value] pairs to stay separate lines.
 */
function responseHeaders(recorded: RecordedResponse["headers"]): ReplyHeaders {
  let count = 0;
  let bytes = 0;
  // No prototype: a header named __proto__ is a header like any other.
  let record: Record<string, string> | undefined = Object.create(null) as Record<string, string>;
  for (const name in recorded) {
    const values = recorded[name]!;
    const lower = name.toLowerCase();
    for (const v of values) {
      count++;
      bytes += name.length + v.length + 4; // "name: value\r\n"
      try {
        // Node's own rules (what writeHead would refuse later, mid-response): a token name, no CR/LF/NUL.
        validateHeaderName(name);
        validateHeaderValue(name, v);
      } catch {
        throw new HttpError(400, "FunctionExecutionError", `response header '${name}' has an invalid name or value`);
      }
    }
    if (SERVER_HEADERS.has(lower) || values.length === 0) continue;
    if (record && values.length === 1 && !(lower in record)) record[lower] = values[0]!;
    else record = undefined;
  }
  if (count > MAX_RESPONSE_HEADERS) throw new HttpError(400, "FunctionExecutionError", `the response has ${count} headers, over the limit of ${MAX_RESPONSE_HEADERS}`);
  if (bytes > MAX_RESPONSE_HEADER_BYTES) throw new HttpError(400, "FunctionExecutionError", `the response headers are ${bytes} bytes, over the limit of ${MAX_RESPONSE_HEADER_BYTES}`);
  if (record) return record;
  const pairs: [string, string][] = [];
  for (const name in recorded) {
    if (SERVER_HEADERS.has(name.toLowerCase())) continue;
    for (const v of recorded[name]!) pairs.push([name, v]);
  }
  return pairs;
}

function hasHeader(headers: ReplyHeaders, lowerName: string): boolean {
  return Array.isArray(headers) ? headers.some(([name]) => name.toLowerCase() === lowerName) : lowerName in headers;
}

/** Only called when the header is absent, so appending is setting. */
function setHeader(headers: ReplyHeaders, lowerName: string, value: string): void {
  if (Array.isArray(headers)) headers.push([lowerName, value]);
  else headers[lowerName] = value;
}
