/**
 * Turns what the function did (return value + recorded response object) into the HTTP response,
 * following the endpoint response rules (spec §5.4, C13–C21).
 */
import type { ReturnType } from "@restitch/config";
import type { RecordedResponse } from "@restitch/runtime";
import { HttpError } from "./errors.js";
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

/** Statuses that cannot carry a body (fetch's Response refuses one). */
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

export function buildResponse({ value, recorded, respondResult, format, legacyWebhook }: RespondInput): Response {
  const status = recorded?.statusCode;
  if (status !== undefined && (!Number.isInteger(status) || status < 200 || status > 599)) {
    throw new HttpError(400, "FunctionExecutionError", `response.setStatusCode: ${status} is not a valid HTTP status (200–599)`);
  }
  const headers = new Headers();
  if (recorded) {
    for (const name in recorded.headers) {
      for (const v of recorded.headers[name]!) {
        try {
          headers.append(name, v);
        } catch {
          throw new HttpError(400, "FunctionExecutionError", `response header '${name}' has an invalid name or value`);
        }
      }
    }
  }
  let body: Uint8Array | string | null = null;
  let finalStatus: number;
  if (recorded?.body !== undefined) {
    body = recorded.body; // C14/C21: an explicit body wins over the return value
    finalStatus = status ?? 200;
  } else if (respondResult && !(legacyWebhook && status !== undefined)) {
    body = serialize(value, format); // C13, and C15 (status set, value still sent)
    if (!headers.has("content-type")) headers.set("content-type", legacyWebhook ? "application/json" : CONTENT_TYPE[format]);
    finalStatus = status ?? 200;
  } else {
    finalStatus = status ?? 204; // C16/C17: no return-value body
  }
  if (NULL_BODY.has(finalStatus)) body = null;
  return new Response(body as ConstructorParameters<typeof Response>[0], { status: finalStatus, headers });
}
